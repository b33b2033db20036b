"""A faster `http.client.parse_headers` for the sandbox's own processes.

The standard library parses every HTTP header block (each request the emulator serves, each
answer a botocore client reads) with the `email` package's feed parser: measured on an idle
sandbox, that was about a quarter of the emulator's CPU and a tenth of the Lambda runtime's.
`install()` replaces it with a direct split of the same lines into the same message class, so
`headers["Content-Length"]`, `get_all`, `items()` and continuation lines answer as before. A
block the direct split does not cover (a line with no colon) goes to the standard parser,
which decides exactly as it always did.

Only the sandbox's processes call `install()` (the emulator, the Lambda runtime, the
producer): the operator tool never changes the standard library it runs on.
"""

from __future__ import annotations

import email.parser
import http.client
import re

_standard_parse_headers = http.client.parse_headers
# A header name as the email parser recognises one: printable, no space, no colon.
_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")


def parse_headers(fp, _class=http.client.HTTPMessage):
    """`http.client.parse_headers`, without the email parser for well-formed header blocks."""
    lines = http.client._read_headers(fp)
    message = split_headers(lines, _class)
    if message is None:
        text = b"".join(lines).decode("iso-8859-1")
        return email.parser.Parser(_class=_class).parsestr(text)
    return message


def split_headers(lines: list[bytes], message_class=http.client.HTTPMessage):
    """The message the email parser would build from `lines` (each ending in its line break,
    the last one empty), or None when a line is not `name: value` or a continuation of one."""
    fields: list[tuple[str, list[str]]] = []
    for raw in lines:
        line = raw.decode("iso-8859-1")
        if line in ("\r\n", "\n", ""):
            break
        if line[0] in " \t":
            if not fields:
                return None
            fields[-1][1].append(line)
            continue
        name, colon, value = line.partition(":")
        if not colon or not _NAME.fullmatch(name):
            return None
        fields.append((name, [value.lstrip(" \t")]))
    message = message_class()
    for name, parts in fields:
        message.set_raw(name, "".join(parts).rstrip("\r\n"))
    message.set_payload("")  # what the email parser leaves: an empty body
    return message


def install() -> None:
    """Make this process's HTTP servers and clients parse header blocks with `parse_headers`."""
    http.client.parse_headers = parse_headers


def uninstall() -> None:
    http.client.parse_headers = _standard_parse_headers
