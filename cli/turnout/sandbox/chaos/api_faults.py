"""Fault mode of the emulator: AWS API errors injected in front of moto (a WSGI middleware).

``turnout.sandbox.emulator.server`` routes every API request through :class:`FaultInjector`; with no
rules it passes everything through untouched. Rules are set and read at runtime through the
server's control endpoint (``PUT``/``GET /_turnout/faults``, see :func:`set_faults`). A rule
applies to one operation (``"kinesis PutRecords"``, ``"dynamodb UpdateItem"`` as in the server's
request counters), optionally only to requests whose ``User-Agent`` contains a string (botocore
in a Lambda function sends ``exec-env/AWS_Lambda_...``), and does, each with its own seeded
probability:

- ``entry_failure_rate`` (PutRecords only): each entry fails, like AWS's partial failures, with
  ``ProvisionedThroughputExceededException`` or ``InternalFailure`` in its result entry and
  ``FailedRecordCount`` counting it; the other entries are stored by moto and answered as usual.
- ``call_failure_rate``: the whole call is answered with a throttling error (HTTP 400,
  ``ProvisionedThroughputExceededException`` for Kinesis, ``ThrottlingException`` otherwise) or,
  one time in four, an internal error (HTTP 500); nothing is stored.
- ``lost_answer_rate``: the call is executed (records stored), but its answer is replaced by an
  empty ``200`` (an answer lost after the write, as through a broken proxy). botocore parses it as
  ``{}``: a caller reading ``Records`` raises ``KeyError`` - a real exception in the middle of its
  work, after the write.
- ``deny_resource``: every call of the operation whose request names this resource (a table
  name in a JSON body, a bucket in an S3 path) is answered as AWS answers a caller no policy
  allows: ``AccessDeniedException`` (HTTP 400, JSON protocols) or ``AccessDenied`` (HTTP 403,
  S3). moto does not evaluate IAM policies, so this is how a test meets "a table the role
  cannot read" over HTTP, with AWS's answer.

Every decision and outcome is counted per rule (``GET /_turnout/faults``).
"""

from __future__ import annotations

import io
import json
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

ENTRY_ERRORS = (
    (
        "ProvisionedThroughputExceededException",
        "Rate exceeded for shard shardId-000000000000 in stream under account (turnout chaos).",
    ),
    ("InternalFailure", "Internal service failure."),
)


@dataclass
class FaultRule:
    operation: str
    entry_failure_rate: float = 0.0
    call_failure_rate: float = 0.0
    lost_answer_rate: float = 0.0
    user_agent: str | None = None
    deny_resource: str | None = None

    def __post_init__(self) -> None:
        for name in ("entry_failure_rate", "call_failure_rate", "lost_answer_rate"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
            setattr(self, name, float(value))
        if self.entry_failure_rate and self.operation != "kinesis PutRecords":
            raise ValueError("entry_failure_rate applies to 'kinesis PutRecords' only")

    def applies(self, operation: str, environ: dict[str, Any]) -> bool:
        if operation != self.operation:
            return False
        return self.user_agent is None or self.user_agent in environ.get("HTTP_USER_AGENT", "")


@dataclass
class RuleCounters:
    calls: int = 0
    entries: int = 0
    entries_failed: dict[str, int] = field(default_factory=dict)
    calls_failed: dict[str, int] = field(default_factory=dict)
    answers_lost: int = 0


class FaultInjector:
    """WSGI middleware in front of moto; ``operation_of(environ)`` names a request."""

    def __init__(
        self, inner: Callable[..., Iterable[bytes]], operation_of: Callable[[dict], str]
    ) -> None:
        self.inner = inner
        self.operation_of = operation_of
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []
        self._counters: list[RuleCounters] = []
        self._random = random.Random(0)
        self._seed = 0

    # ------------------------------------------------------------------ control
    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"seed": N, "rules": [FaultRule fields, ...]}``; an empty list switches faults off.
        Counters start again from zero."""
        rules = [FaultRule(**rule) for rule in body.get("rules", [])]
        seed = int(body.get("seed", 0))
        with self._lock:
            self._rules = rules
            self._counters = [RuleCounters() for _ in rules]
            self._random = random.Random(seed)
            self._seed = seed
        return self.status()

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "seed": self._seed,
                "rules": [
                    {"rule": asdict(rule), "counters": asdict(counters)}
                    for rule, counters in zip(self._rules, self._counters, strict=True)
                ],
            }

    # ------------------------------------------------------------------ WSGI
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not self._rules:
            return self.inner(environ, start_response)
        operation = self.operation_of(environ)
        with self._lock:
            found = next(
                (i for i, rule in enumerate(self._rules) if rule.applies(operation, environ)), None
            )
            if found is not None:
                rule, counters = self._rules[found], self._counters[found]
        if found is None:  # never call moto while holding the lock
            return self.inner(environ, start_response)
        if rule.deny_resource:
            return self._deny(environ, start_response, rule, operation, counters)
        with self._lock:
            counters.calls += 1
            draw = self._random.random()
            call_error = draw < rule.call_failure_rate
            lose_answer = not call_error and self._random.random() < rule.lost_answer_rate
        if call_error:
            return self._fail_call(environ, start_response, operation, counters)
        if rule.entry_failure_rate and "json" in environ.get("CONTENT_TYPE", ""):
            return self._put_records(environ, start_response, rule, counters, lose_answer)
        if lose_answer:
            return self._lose_answer(environ, start_response, counters)
        return self.inner(environ, start_response)

    def _fail_call(self, environ, start_response, operation: str, counters: RuleCounters):
        with self._lock:
            internal = self._random.random() < 0.25
        if internal:
            code, status = "InternalFailure", "500 Internal Server Error"
            if operation.startswith("dynamodb"):
                code = "InternalServerError"
        else:
            code, status = "ThrottlingException", "400 Bad Request"
            if operation.startswith("kinesis"):
                code = "ProvisionedThroughputExceededException"
        with self._lock:
            counters.calls_failed[code] = counters.calls_failed.get(code, 0) + 1
        _read_body(environ)
        body = json.dumps({"__type": code, "message": "injected by turnout chaos"}).encode()
        start_response(
            status,
            [
                ("Content-Type", environ.get("CONTENT_TYPE") or "application/x-amz-json-1.1"),
                ("Content-Length", str(len(body))),
                ("x-amzn-ErrorType", code),
            ],
        )
        return [body]

    def _deny(self, environ, start_response, rule: FaultRule, operation: str, counters):
        raw = _read_body(environ)
        resource = rule.deny_resource or ""
        if resource.encode() not in raw and resource not in environ.get("PATH_INFO", ""):
            environ["wsgi.input"] = io.BytesIO(raw)
            return self.inner(environ, start_response)
        service, _, action = operation.partition(" ")
        message = (
            f"User is not authorized to perform: {service}:{action} on resource: {resource} "
            f"because no identity-based policy allows the {service}:{action} action"
        )
        with self._lock:
            counters.calls += 1
            counters.calls_failed["AccessDenied"] = counters.calls_failed.get("AccessDenied", 0) + 1
        if service == "s3":
            body = (
                "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
                f"<Message>{message}</Message></Error>"
            ).encode()
            headers = [("Content-Type", "application/xml")]
            status = "403 Forbidden"
        else:
            code = "com.amazon.coral.service#AccessDeniedException"
            body = json.dumps({"__type": code, "Message": message}).encode()
            headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", code)]
            status = "400 Bad Request"
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def _lose_answer(self, environ, start_response, counters: RuleCounters):
        status, headers, body = _call(self.inner, environ)
        if not status.startswith("200"):  # an error answer is passed on as it was
            start_response(status, headers)
            return [body]
        with self._lock:
            counters.answers_lost += 1
        return _empty_answer(start_response)

    def _put_records(self, environ, start_response, rule, counters, lose_answer: bool):
        raw = _read_body(environ)
        try:
            request = json.loads(raw)
            records = request["Records"]
            assert isinstance(records, list)
        except (ValueError, KeyError, AssertionError):
            environ["wsgi.input"] = io.BytesIO(raw)
            return self.inner(environ, start_response)
        with self._lock:
            failures = {
                index: ENTRY_ERRORS[self._random.random() < 0.25]
                for index in range(len(records))
                if self._random.random() < rule.entry_failure_rate
            }
            counters.entries += len(records)
            for code, _ in failures.values():
                counters.entries_failed[code] = counters.entries_failed.get(code, 0) + 1
        kept = [record for index, record in enumerate(records) if index not in failures]
        stored: list[dict[str, Any]] = []
        if kept:
            body = json.dumps({**request, "Records": kept}).encode()
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            status, headers, answer = _call(self.inner, environ)
            if not status.startswith("200"):
                start_response(status, headers)
                return [answer]
            parsed = json.loads(answer)
            stored = parsed["Records"]
            failed_count = int(parsed.get("FailedRecordCount", 0))
        else:
            failed_count = 0
        if lose_answer:
            with self._lock:
                counters.answers_lost += 1
            return _empty_answer(start_response)
        results = iter(stored)
        merged = []
        for index in range(len(records)):
            if index in failures:
                code, message = failures[index]
                merged.append({"ErrorCode": code, "ErrorMessage": message})
            else:
                merged.append(next(results))
        body = json.dumps(
            {"FailedRecordCount": failed_count + len(failures), "Records": merged}
        ).encode()
        start_response(
            "200 OK",
            [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))],
        )
        return [body]


def _empty_answer(start_response) -> list[bytes]:
    start_response(
        "200 OK", [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", "0")]
    )
    return [b""]


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    return environ["wsgi.input"].read(length) if length > 0 else b""


def _call(app, environ) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run a WSGI app to the end; returns its status, headers and body."""
    captured: dict[str, Any] = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
    headers.append(("Content-Length", str(len(body))))
    return captured["status"], headers, body


# ---------------------------------------------------------------------------------- client side
def set_faults(endpoint_url: str, rules: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    """Set the emulator's fault rules (``[]``: off); returns their status."""
    return _control(endpoint_url, "PUT", {"seed": seed, "rules": rules})


def fault_status(endpoint_url: str) -> dict[str, Any]:
    return _control(endpoint_url, "GET", None)


def _control(endpoint_url: str, method: str, body: dict[str, Any] | None) -> dict[str, Any]:
    import urllib.request

    request = urllib.request.Request(
        f"{endpoint_url.rstrip('/')}/_turnout/faults",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def totals(status: dict[str, Any]) -> dict[str, int]:
    """Counters of every rule added up: calls seen, entries failed, calls failed, answers lost."""
    sums = {"calls": 0, "entries": 0, "entries_failed": 0, "calls_failed": 0, "answers_lost": 0}
    for rule in status.get("rules", []):
        counters = rule["counters"]
        sums["calls"] += counters["calls"]
        sums["entries"] += counters["entries"]
        sums["entries_failed"] += sum(counters["entries_failed"].values())
        sums["calls_failed"] += sum(counters["calls_failed"].values())
        sums["answers_lost"] += counters["answers_lost"]
    return sums
