"""STS sessions that end, as AWS's do.

- **On the sandbox clock** (a profile whose clock runs faster than real time): an AssumeRole or
  GetSessionToken session's Expiration is `duration` after it was granted on the sandbox clock,
  the clock the sandbox's functions read (moto dates it on this machine's clock). On AWS a
  client's clock and STS's agree; in an accelerated rehearsal a function compared this
  machine's date with its own sandbox time and took every session for expired.
- **Ended** (the emulator server's `--session-seconds N`; off by default): moto grants
  AssumeRole sessions with an Expiration but never enforces it. With a limit, AssumeRole grants
  at most N seconds (the answer's Expiration says so, so clients know when to renew), and any
  later request signed with that session's key is refused the way AWS refuses a request with an
  expired session token: HTTP 400 with the code `ExpiredTokenException` (JSON protocols) or
  `ExpiredToken` (query and XML protocols)
  (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html). Tests use it to
  prove that turnout's long-lived clients renew their credentials. Real time only: turnout's
  own clients renew on this machine's clock, so the launcher refuses it with a faster clock.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

MESSAGE = "The security token included in the request is expired"

_lock = threading.Lock()
_expiry: dict[str, datetime] = {}  # access key id -> when its session ends (naive UTC)


def sessions_on_the_clock(clock: Callable[[], float]) -> None:
    """Date every new session's Expiration on `clock` instead of this machine's clock."""
    from moto.sts.models import AssumedRole, Token

    _date_expiration_on(AssumedRole, clock)
    _date_expiration_on(Token, clock)


def _date_expiration_on(model: Any, clock: Callable[[], float]) -> None:
    original_init = model.__init__

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.expiration += timedelta(seconds=clock() - time.time())

    model.__init__ = __init__


def limit_sessions(seconds: int) -> None:
    """Cap every AssumeRole session at `seconds` and remember when each one ends."""
    from moto.sts.models import STSBackend

    original = STSBackend.assume_role

    @functools.wraps(original)
    def assume_role(self: Any, **kwargs: Any) -> Any:
        kwargs["duration"] = min(int(kwargs.get("duration") or 3600), seconds)
        role = original(self, **kwargs)
        with _lock:
            _expiry[role.access_key_id] = role.expiration
        return role

    STSBackend.assume_role = assume_role  # type: ignore[method-assign]


def expired(access_key_id: str) -> bool:
    from moto.core.utils import utcnow

    with _lock:
        ends = _expiry.get(access_key_id)
    return ends is not None and utcnow() >= ends


class RefuseExpiredSessions:
    """WSGI wrapper: a request signed with an expired session's key gets AWS's error."""

    def __init__(self, inner: Callable[..., Iterable[bytes]]) -> None:
        self.inner = inner

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        key, service = _signature(environ)
        if key is None or not expired(key):
            return self.inner(environ, start_response)
        body, content_type = _error_body(environ, service)
        start_response(
            "400 Bad Request",
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(body))),
                ("x-amzn-ErrorType", "ExpiredTokenException"),
            ],
        )
        return [body]


def _signature(environ: dict[str, Any]) -> tuple[str | None, str]:
    """The access key id and service of a SigV4 request (header or pre-signed query)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
    else:
        query = environ.get("QUERY_STRING", "")
        found = [p.split("=", 1)[1] for p in query.split("&") if p.startswith("X-Amz-Credential=")]
        scope = found[0].replace("%2F", "/").split("/") if found else []
    if len(scope) < 4:
        return None, ""
    return scope[0], scope[3]


def _error_body(environ: dict[str, Any], service: str) -> tuple[bytes, str]:
    content_type = environ.get("CONTENT_TYPE", "")
    if "cbor" in content_type or environ.get("HTTP_SMITHY_PROTOCOL") == "rpc-v2-cbor":
        return _cbor_map(
            {"__type": "ExpiredTokenException", "message": MESSAGE}
        ), "application/cbor"
    if environ.get("HTTP_X_AMZ_TARGET") or "json" in content_type or service == "lambda":
        body = json.dumps({"__type": "ExpiredTokenException", "message": MESSAGE}).encode()
        return body, "application/x-amz-json-1.1"
    error = (
        f"<Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>{MESSAGE}</Message></Error>"
    )
    if service == "s3":
        return f"<?xml version='1.0' encoding='UTF-8'?>{error}".encode(), "application/xml"
    return (
        f"<ErrorResponse>{error}<RequestId>expired</RequestId></ErrorResponse>".encode(),
        "text/xml",
    )


def _cbor_map(values: dict[str, str]) -> bytes:
    """A CBOR map of short text strings (RFC 8949: major types 5 and 3)."""

    def text(value: str) -> bytes:
        data = value.encode()
        if len(data) < 24:
            return bytes([0x60 + len(data)]) + data
        return bytes([0x78, len(data)]) + data  # < 256 bytes: one length byte

    encoded = bytes([0xA0 + len(values)])
    for key, value in values.items():
        encoded += text(key) + text(value)
    return encoded
