"""The sandbox's header splitter builds the message the standard library's email parser builds,
and leaves to that parser every block it does not cover."""

from __future__ import annotations

import http.client
import io
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from turnout.sandbox import http_headers

BLOCKS = {
    "a botocore request": (
        b"Host: 127.0.0.1:5000\r\nAccept-Encoding: identity\r\n"
        b"X-Amz-Target: Kinesis_20131202.GetRecords\r\n"
        b"Authorization: AWS4-HMAC-SHA256 Credential=x/20261203/eu-west-1/kinesis/aws4_request, "
        b"SignedHeaders=host;x-amz-date, Signature=deadbeef\r\nContent-Length: 120\r\n\r\n"
    ),
    "repeated names": b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nset-cookie: c=3\r\n\r\n",
    "a continuation line": b"X-Long: first part\r\n  second part\r\n\tthird\r\nB: 2\r\n\r\n",
    "bare line feeds": b"A: 1\nB:2\n\n",
    "empty value and odd spacing": b"A:\r\nB:   spaced   \r\nC:\t tab\r\n\r\n",
    "latin-1 bytes": b"X-Name: caf\xe9\r\n\r\n",
    "no terminator (end of stream)": b"A: 1\r\nB: 2\r\n",
    "nothing": b"\r\n",
}
# Blocks the email parser reads as headers followed by a body (a defect): left to it.
LEFT_TO_THE_EMAIL_PARSER = {
    "a line with no colon": b"A: 1\r\nnot a header\r\nB: 2\r\n\r\n",
    "a space in a name": b"Bad Name: 1\r\nB: 2\r\n\r\n",
    "a continuation first": b" leading: 1\r\nB: 2\r\n\r\n",
    "an empty name": b": 1\r\n\r\n",
}


def parsed(parse, block: bytes) -> tuple:
    message = parse(io.BytesIO(block))
    defects = [type(defect).__name__ for defect in message.defects]
    return type(message), message.items(), defects, message.get_payload()


@pytest.mark.parametrize("block", BLOCKS.values(), ids=BLOCKS.keys())
def test_a_well_formed_block_gives_the_message_the_email_parser_gives(block):
    assert http_headers.split_headers(io.BytesIO(block).readlines()) is not None
    standard = parsed(http_headers._standard_parse_headers, block)
    assert parsed(http_headers.parse_headers, block) == standard


@pytest.mark.parametrize(
    "block", LEFT_TO_THE_EMAIL_PARSER.values(), ids=LEFT_TO_THE_EMAIL_PARSER.keys()
)
def test_a_block_it_does_not_cover_goes_to_the_email_parser(block):
    assert http_headers.split_headers(io.BytesIO(block).readlines()) is None
    standard = parsed(http_headers._standard_parse_headers, block)
    assert parsed(http_headers.parse_headers, block) == standard


def test_the_standard_limits_still_hold():
    with pytest.raises(http.client.HTTPException):
        http_headers.parse_headers(io.BytesIO(b"A: 1\r\n" * 200 + b"\r\n"))


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self):
        body = "|".join(self.headers.get_all("X-Many")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Answer", "yes")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_installed_splitter_serves_and_reads_http_on_loopback():
    server = HTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    http_headers.install()
    try:
        assert http.client.parse_headers is http_headers.parse_headers
        request = urllib.request.Request(f"http://127.0.0.1:{server.server_port}/")
        request.add_header("X-Many", "1")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.headers["X-Answer"] == "yes"
            assert answer.read() == b"1"
    finally:
        http_headers.uninstall()
        server.shutdown()
        server.server_close()
    assert http.client.parse_headers is http_headers._standard_parse_headers
