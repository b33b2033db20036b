"""Launcher of moto's server for the local AWS emulator (loopback only).

Run as ``python -m turnout.sandbox.emulator.server --host 127.0.0.1 --port N``. It serves moto's
normal HTTP API with three changes, all made before the first request:

1. **moto's own Lambda execution is neutralised.** moto delivers stream and queue records to
   Lambda functions by itself: Kinesis ``Stream.put_record`` calls
   ``LambdaBackend.send_kinesis_message`` for *every* record put to a stream that has *any*
   event source mapping, even a disabled or deleted one (moto never removes a mapping from the
   stream); DynamoDB streams call ``send_dynamodb_items`` (and drop the stream records when it
   "succeeds"); an SQS queue with a mapping *receives* its own messages (bumping their receive
   count) and hands them to ``send_sqs_batch``; SNS and CloudWatch Logs subscriptions call
   ``send_sns_message`` / ``send_log_event``. Each of these ends in ``LambdaFunction.invoke``,
   which tries Docker: there is none here, so every record would cost a failed Docker call, time
   and log noise, and SQS messages would be consumed by nobody. Functions are run by
   :mod:`turnout.sandbox.lambda_runtime` instead, with AWS's semantics. The patches turn these delivery
   paths into counted no-ops; ``GET /_turnout/status`` exposes the counters, together with the
   number of times moto still tried to run function code (``function_code_runs``: only an
   explicit ``lambda:Invoke`` API call should ever raise it).
2. **Function code is reachable over HTTP.** moto keeps a function's zip in memory and answers
   ``GetFunction`` with a ``Code.Location`` on a fictitious S3 host. The patch points
   ``Code.Location`` at ``/_turnout/lambda-code/<account>/<region>/<function>`` on this server,
   which serves the deployed zip (like AWS's pre-signed URL: a plain HTTP GET).
3. ``StartingPositionTimestamp`` is returned with a mapping's configuration (moto stores it but
   leaves it out; AWS returns it).
4. ``ListEventSourceMappings(FunctionName=...)`` matches a function given by name or ARN (moto
   matches only the exact string used at creation).
5. ``CreateStream`` keeps its ``Tags`` (moto drops them; AWS applies them), so a tagged stream
   created by Terraform plans clean afterwards.
6. **Kinesis shards and request routing cost O(1), not O(records) (no behaviour change).** moto's
   ``Shard.put_record`` finds the last sequence number with ``list(self.records.keys())[-1]``,
   so each append copies every key of the shard, and ``Shard.get_records`` scans the shard from
   its first record at every call: a stream slows down as it grows (appending 50,000 records to
   4 shards spent 35-55 % of the server's time in that copy). The patch reads the ends of the
   ordered dict directly and starts ``get_records`` at the iterator's position when the shard's
   sequence numbers are the contiguous range moto creates (it falls back to moto's scan
   otherwise); results are identical (:mod:`.kinesis_reads`, in every profile, which also
   makes taking a sequence number and storing the record one step: concurrent writers of one
   shard got the same number in moto and one record silently replaced the other). moto's
   server also lists its package directory (an ``os.listdir`` and an ``isdir`` per service) on
   every request to route it; the listing is computed once.
7. ``GET /_turnout/health`` answers once the server is ready; ``GET /_turnout/status`` returns
   the counters above and the requests served per API operation (``requests``).
8. **``PutRecords``' and ``GetRecords``' answers are written with ``json.dumps`` (no behaviour
   change).** moto's generic response serializer walks the output shape for every value: a
   2,000-record read held the server (and every writer) for a few hundred milliseconds.
   :mod:`turnout.sandbox.emulator.kinesis_answers` writes the same bytes (tests compare them);
   errors and anything unexpected go through moto's serializer.
9. **HTTP/1.1 keep-alive.** werkzeug's dev server closes the connection after every response
   (a TCP connection and a thread per request); :func:`keep_alive_handler` keeps it open, so
   botocore's and Go's connection pools reuse it. See its docstring for the details.
11. **Fault mode** (off by default; the chaos suite's): ``PUT /_turnout/faults`` sets seeded rules
   that fail PutRecords entries, throttle or fail whole calls, or lose a call's answer after the
   write; ``GET`` returns them with their counters (:mod:`turnout.sandbox.chaos.api_faults`).
   ``Code.Location`` names the host the client called, so clients behind a proxy fetch code
   through it.
12. **Fidelity profile** (``--profile-file``, :mod:`turnout.sandbox.emulator.profile`): the ``aws``
   profile meters Kinesis per shard and second (:mod:`.kinesis_limits`), puts records on the
   sandbox clock and trims them past retention (:mod:`.kinesis_time`), reshards like AWS
   (:mod:`.kinesis_resharding`), gives mappings timed states (:mod:`.mapping_states`) and adds
   per-API latency (``PUT /_turnout/latency`` raises it for a scenario). ``GET
   /_turnout/profile`` returns the profile and what it throttled.
13. **Lambda ``GetAccountSettings``** (moto lacks it) is answered from moto's Lambda backend
   (:mod:`turnout.sandbox.emulator.lambda_account`); **S3 conditional writes are atomic** and a
   bucket-policy statement applies only when its condition holds
   (:mod:`turnout.sandbox.emulator.s3_fidelity`; Terraform's state backend relies on both).
14. **Sessions that end** (off by default): ``--session-seconds N`` caps AssumeRole sessions at N
   seconds and refuses requests signed with an expired one, as AWS does
   (:mod:`turnout.sandbox.emulator.session_expiry`).
15. **Route 53 health checks probe their endpoint** on loopback when GetHealthCheckStatus is
   called (moto answers a fixed success): :mod:`turnout.sandbox.emulator.route53_health`.
16. **Schedules run and alarms follow their metric** (the ``aws`` profile's ``scheduled_work``;
   moto runs neither): :mod:`turnout.sandbox.emulator.scheduled_work`, on a daemon thread.
10. **``AWS/Kinesis`` ``IncomingRecords``/``IncomingBytes`` per minute, like AWS.** moto puts
   one CloudWatch datum per PutRecord(s) call, synchronously, into a list that every
   GetMetricData scans. :class:`KinesisMetricsAggregator` counts the calls in memory per
   stream and minute and writes them every few seconds as statistic sets (SampleCount = calls,
   Sum, Minimum, Maximum per call) stamped with the minute, as AWS's basic stream metrics are;
   the minute of the sandbox clock, the one record arrivals are stamped with.
13. **DynamoDB reads during writes** (:mod:`.dynamodb_reads`): moto's table iterates its live item
   dict to count and list items, so a write of another request thread made ``DescribeTable`` or
   ``Scan`` fail with HTTP 500; they iterate a snapshot. ``Scan`` and ``Query`` answers of plain
   JSON values are written with ``json.dumps`` (moto's serializer cost ~0.3 ms per item).
17. **Less work per request, same answers**: header blocks are split directly
   (:mod:`turnout.sandbox.http_headers`, not the ``email`` parser), a response class's methods
   are listed once (moto inspects the class on every request), and the access log's line is
   not formatted when nothing would print it.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from turnout.sandbox import http_headers
from turnout.sandbox.emulator.dynamodb_reads import (
    answer_reads_with_json,
    parse_requests_with_json,
    read_tables_from_snapshots,
    scan_pages_from_their_start,
    size_items_once,
)
from turnout.sandbox.emulator.kinesis_answers import fast_kinesis_answers
from turnout.sandbox.emulator.lambda_account import AnswerAccountSettings
from turnout.sandbox.emulator.profile import FAST, FidelityProfile, Latency, naive_utc
from turnout.sandbox.emulator.route53_health import probe_health_check_endpoints
from turnout.sandbox.emulator.s3_fidelity import (
    atomic_conditional_puts,
    conditioned_statements_need_their_condition,
)

CONTROL_PREFIX = "/_turnout/"

_lock = threading.Lock()
_counters: dict[str, int] = {
    "suppressed_kinesis_deliveries": 0,
    "suppressed_dynamodb_deliveries": 0,
    "suppressed_sqs_deliveries": 0,
    "suppressed_sns_deliveries": 0,
    "suppressed_log_deliveries": 0,
    "function_code_runs": 0,
}
_applied = False
# Serialises SQS Queue.add_message with the creation of event source mappings (see below).
_sqs_esm_lock = threading.RLock()


def _count(name: str) -> None:
    with _lock:
        _counters[name] = _counters.get(name, 0) + 1


def counters() -> dict[str, int]:
    with _lock:
        return dict(_counters)


# The Host header of the API request being served (this thread's), for Code.Location.
_request_host = threading.local()

# Requests served, per API operation ("kinesis PutRecords", "lambda GET /2015-03-31/functions").
_requests: dict[str, int] = {}
_cpu_seconds: dict[str, float] = {}


def _operation(environ: dict[str, Any]) -> str:
    """The operation of a request, from what is cheap to read: the credential scope's service
    and the JSON protocols' ``X-Amz-Target``, the rpc-v2 path, or the REST method and path."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    scope = (
        auth.split("Credential=", 1)[1].split(",", 1)[0].split("/") if "Credential=" in auth else []
    )
    service = scope[3] if len(scope) > 3 else "?"
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return f"{service} {target.rsplit('.', 1)[-1]}"
    path = environ.get("PATH_INFO", "")
    if "/operation/" in path:  # smithy rpc-v2 (CloudWatch)
        return f"{service} {path.rsplit('/', 1)[-1]}"
    segments = [p for p in path.split("/") if p][:2]
    return f"{service} {environ.get('REQUEST_METHOD', '?')} /{'/'.join(segments)}"


def _count_request(name: str, cpu_seconds: float) -> None:
    with _lock:
        _requests[name] = _requests.get(name, 0) + 1
        _cpu_seconds[name] = _cpu_seconds.get(name, 0.0) + cpu_seconds


def requests() -> dict[str, int]:
    with _lock:
        return dict(_requests)


def cpu_seconds() -> dict[str, float]:
    """CPU time spent serving each operation (its request thread's, so exact under the GIL):
    where the emulator's share of a sandbox's CPU goes."""
    with _lock:
        return {name: round(seconds, 3) for name, seconds in _cpu_seconds.items()}


def neutralise_lambda_delivery(base_url: str) -> None:
    """Patch moto (in this process) so that it never runs Lambda function code by itself.

    Idempotent. ``base_url`` is this server's own URL, used for ``Code.Location``.
    """
    global _applied
    if _applied:
        return
    _suppress_deliveries()
    _hide_queue_mappings_from_add_message()
    _serve_function_code(base_url)
    _complete_mapping_configuration()
    _applied = True


def _suppress_deliveries() -> None:
    """moto's own deliveries to functions become counted no-ops."""
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    # Kinesis: Stream.put_record -> send_kinesis_message for every mapping ever created on the
    # stream (enabled or not, deleted or not). A no-op: the record stays in the shard, where the
    # local Lambda runtime reads it like AWS's pollers do.
    def send_kinesis_message(self: Any, *args: Any, **kwargs: Any) -> None:
        _count("suppressed_kinesis_deliveries")

    # DynamoDB streams: StreamShard.add -> send_dynamodb_items; a truthy result makes moto
    # *clear* the stream shard, so returning None also keeps the stream records readable.
    def send_dynamodb_items(self: Any, *args: Any, **kwargs: Any) -> None:
        _count("suppressed_dynamodb_deliveries")
        return None

    # SQS: second line of defence (see the add_message patch): a falsy result would make moto
    # re-show the messages, never delete them.
    def send_sqs_batch(self: Any, *args: Any, **kwargs: Any) -> bool:
        _count("suppressed_sqs_deliveries")
        return False

    def send_sns_message(self: Any, *args: Any, **kwargs: Any) -> None:
        _count("suppressed_sns_deliveries")

    def send_log_event(self: Any, *args: Any, **kwargs: Any) -> None:
        _count("suppressed_log_deliveries")

    LambdaBackend.send_kinesis_message = send_kinesis_message  # type: ignore[method-assign]
    LambdaBackend.send_dynamodb_items = send_dynamodb_items  # type: ignore[method-assign]
    LambdaBackend.send_sqs_batch = send_sqs_batch  # type: ignore[method-assign]
    LambdaBackend.send_sns_message = send_sns_message  # type: ignore[method-assign]
    LambdaBackend.send_log_event = send_log_event  # type: ignore[method-assign]

    # The observable signal: every attempt of moto to run function code passes here.
    original_invoke = LambdaFunction.invoke

    @functools.wraps(original_invoke)
    def invoke(self: Any, *args: Any, **kwargs: Any) -> Any:
        _count("function_code_runs")
        return original_invoke(self, *args, **kwargs)

    LambdaFunction.invoke = invoke  # type: ignore[method-assign]


def _hide_queue_mappings_from_add_message() -> None:
    from moto.awslambda.models import LambdaBackend
    from moto.sqs.models import Queue

    # SQS: Queue.add_message, for a queue with an enabled mapping, *receives* the new messages
    # itself (visibility timeout, receive count, possibly a redrive to the DLQ) before calling
    # send_sqs_batch. Hide the queue's mappings from add_message; mapping creation takes the
    # same lock so that no mapping is lost while hidden.
    original_add_message = Queue.add_message

    @functools.wraps(original_add_message)
    def add_message(self: Any, message: Any) -> None:
        with _sqs_esm_lock:
            mappings = self.lambda_event_source_mappings
            if not mappings:
                return original_add_message(self, message)
            self.lambda_event_source_mappings = {}
            try:
                return original_add_message(self, message)
            finally:
                self.lambda_event_source_mappings = mappings

    Queue.add_message = add_message  # type: ignore[method-assign]

    original_create_esm = LambdaBackend.create_event_source_mapping

    @functools.wraps(original_create_esm)
    def create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
        with _sqs_esm_lock:
            return original_create_esm(self, spec)

    LambdaBackend.create_event_source_mapping = create_event_source_mapping  # type: ignore[method-assign]


def _serve_function_code(base_url: str) -> None:
    from moto.awslambda.models import LambdaFunction

    # GetFunction: make Code.Location a URL on this server that serves the deployed zip.
    original_get_code = LambdaFunction.get_code

    @functools.wraps(original_get_code)
    def get_code(self: Any) -> dict[str, Any]:
        resp = original_get_code(self)
        if getattr(self, "code_bytes", b"") and self.package_type == "Zip":
            # On the host the client called (the emulator, or a proxy in front of it).
            host = getattr(_request_host, "value", None)
            served_by = f"http://{host}" if host else base_url
            location = (
                f"{served_by}{CONTROL_PREFIX}lambda-code/{self.account_id}/{self.region}/"
                f"{quote(self.function_name, safe='')}?version={quote(str(self.version))}"
            )
            resp["Code"] = {"Location": location, "RepositoryType": "S3"}
        return resp

    LambdaFunction.get_code = get_code  # type: ignore[method-assign]


def _complete_mapping_configuration() -> None:
    from moto.awslambda.models import EventSourceMapping, LambdaBackend

    # moto stores StartingPositionTimestamp but leaves it out of the mapping's configuration;
    # AWS returns it, and the local Lambda runtime needs it for AT_TIMESTAMP.
    original_esm_config = EventSourceMapping.get_configuration

    @functools.wraps(original_esm_config)
    def get_configuration(self: Any) -> dict[str, Any]:
        config = original_esm_config(self)
        if getattr(self, "starting_position_timestamp", None) is not None:
            config["StartingPositionTimestamp"] = self.starting_position_timestamp
        return config

    EventSourceMapping.get_configuration = get_configuration  # type: ignore[method-assign]

    # ListEventSourceMappings(FunctionName=...): moto compares the filter with the exact string
    # given at creation (a name does not match a mapping created with the function's ARN, as
    # Terraform does). AWS accepts a name, a partial or a full ARN for either.
    original_list_esm = LambdaBackend.list_event_source_mappings

    @functools.wraps(original_list_esm)
    def list_event_source_mappings(self: Any, event_source_arn: str, function_name: str) -> Any:
        esms = original_list_esm(self, event_source_arn, None)  # type: ignore[arg-type]
        if not function_name:
            return esms
        wanted = _function_name_of(function_name)
        return [e for e in esms if _function_name_of(e.function_arn) == wanted]

    LambdaBackend.list_event_source_mappings = list_event_source_mappings  # type: ignore[method-assign]


def _function_name_of(name_or_arn: str) -> str:
    """``f``, ``f:qual``, ``123:function:f``, ``arn:aws:lambda:r:123:function:f[:qual]`` -> ``f``
    (plus the qualifier, if any)."""
    parts = name_or_arn.split(":")
    if "function" in parts:
        rest = parts[parts.index("function") + 1 :]
        return ":".join(rest)
    return name_or_arn


def _function_code(account_id: str, region: str, name: str, version: str | None) -> bytes | None:
    from moto.awslambda.utils import get_backend

    try:
        qualifier = None if version in (None, "", "$LATEST") else version
        fn = get_backend(account_id, region).get_function(name, qualifier)
    except Exception:
        return None
    return getattr(fn, "code_bytes", b"") or None


class ControlApp:
    """WSGI wrapper: ``/_turnout/...`` is ours, everything else goes to moto."""

    def __init__(
        self,
        inner: Callable[..., Iterable[bytes]],
        profile: FidelityProfile = FAST,
        fidelity_counts: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        from turnout.sandbox.chaos.api_faults import FaultInjector

        # Fault mode (off unless rules are set through /_turnout/faults): turnout.sandbox.chaos.api_faults
        self.faults = FaultInjector(inner, _operation)
        self.inner = self.faults
        self.profile = profile
        self.fidelity_counts = fidelity_counts
        # Per-API latency: the profile's, raised by a scenario through /_turnout/latency.
        self.latency: dict[str, Latency] = dict(profile.latency)
        self._random = random.Random(profile.seed)

    def _delay(self, operation: str) -> None:
        if not self.latency:
            return
        latency = self.latency.get(operation)
        if latency is None:
            latency = self.latency.get(operation.split(" ", 1)[0] + " *")
        if latency is not None:
            time.sleep(latency.sample(self._random))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(CONTROL_PREFIX):
            operation = _operation(environ)
            _request_host.value = environ.get("HTTP_HOST")
            self._delay(operation)
            started = time.thread_time()
            try:
                return self.inner(environ, start_response)
            finally:
                _count_request(operation, time.thread_time() - started)
        parts = [unquote(p) for p in path[len(CONTROL_PREFIX) :].split("/") if p]
        if parts == ["faults"]:
            return self._faults(environ, start_response)
        if parts == ["latency"]:
            return self._latency(environ, start_response)
        if parts == ["profile"]:
            return self._json(
                start_response,
                200,
                {
                    "profile": self.profile.to_json(),
                    "now": self.profile.now(),
                    "counts": self.fidelity_counts(),
                },
            )
        if parts == ["health"]:
            return self._json(start_response, 200, {"status": "ok", "pid": os.getpid()})
        if parts == ["status"]:
            return self._json(
                start_response,
                200,
                {
                    "pid": os.getpid(),
                    "counters": counters(),
                    "requests": requests(),
                    "cpu_seconds": cpu_seconds(),
                },
            )
        if len(parts) == 4 and parts[0] == "lambda-code":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            version = (query.get("version") or [None])[0]
            body = _function_code(parts[1], parts[2], parts[3], version)
            if body is None:
                return self._json(start_response, 404, {"error": "no such function code"})
            start_response(
                "200 OK",
                [("Content-Type", "application/zip"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return self._json(start_response, 404, {"error": "unknown control path"})

    def _faults(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """``GET``: the fault rules and their counters; ``PUT``/``POST`` a JSON body
        ``{"seed": N, "rules": [...]}`` to set them (``{"rules": []}``: off)."""
        if environ.get("REQUEST_METHOD") in ("PUT", "POST"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                body = json.loads(environ["wsgi.input"].read(length) or b"{}")
                return self._json(start_response, 200, self.faults.configure(body))
            except (ValueError, TypeError) as problem:
                return self._json(start_response, 400, {"error": str(problem)})
        return self._json(start_response, 200, self.faults.status())

    def _latency(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """``GET``: the latency per operation; ``PUT`` ``{"<service> <Operation>": {"median_ms":
        M, "p99_ms": P}, ...}`` replaces those operations' latency (a scenario raising it)."""
        if environ.get("REQUEST_METHOD") in ("PUT", "POST"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                body = json.loads(environ["wsgi.input"].read(length) or b"{}")
                changes = {op: Latency(**values) for op, values in body.items()}
            except (ValueError, TypeError, AttributeError) as problem:
                return self._json(start_response, 400, {"error": str(problem)})
            self.latency.update(changes)
        return self._json(
            start_response,
            200,
            {op: {"median_ms": v.median_ms, "p99_ms": v.p99_ms} for op, v in self.latency.items()},
        )

    @staticmethod
    def _json(start_response: Callable[..., Any], status: int, body: dict[str, Any]) -> list[bytes]:
        data = json.dumps(body).encode()
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "Error")
        start_response(
            f"{status} {reason}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
        )
        return [data]


def list_moto_modules_once() -> None:
    """moto's server routes each request with ``list_of_moto_modules()``, which lists the moto
    package directory (and stats every entry) each time. The installed package does not change
    while the server runs: list it once."""
    from moto import backends

    if getattr(backends.list_of_moto_modules, "_turnout_cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    list_of_moto_modules._turnout_cached = True  # type: ignore[attr-defined]
    backends.list_of_moto_modules = list_of_moto_modules  # type: ignore[assignment]


def keep_stream_tags_on_create() -> None:
    """moto's CreateStream ignores ``Tags``; AWS applies them with the stream."""
    from moto.kinesis.responses import KinesisResponse

    create_stream = KinesisResponse.create_stream
    if getattr(create_stream, "_turnout_keeps_tags", False):
        return

    @functools.wraps(create_stream)
    def create_stream_with_tags(self: Any) -> Any:
        result = create_stream(self)
        tags = self._get_param("Tags")
        if tags:
            self.kinesis_backend.add_tags_to_stream(None, self._get_param("StreamName"), tags)
        return result

    create_stream_with_tags._turnout_keeps_tags = True  # type: ignore[attr-defined]
    KinesisResponse.create_stream = create_stream_with_tags  # type: ignore[method-assign]


class KinesisMetricsAggregator:
    """``AWS/Kinesis`` ``IncomingRecords``/``IncomingBytes`` per stream and minute (item 10).

    ``record`` is called by PutRecord(s) and only adds to counters under a lock; ``flush``
    (every ``interval`` seconds on a daemon thread) writes what was counted into moto's
    CloudWatch backend of the stream's account and region. A minute may be written in several
    parts (one per flush): CloudWatch's statistics over a period combine them exactly.
    """

    METRICS = (("IncomingRecords", "Count"), ("IncomingBytes", "Bytes"))

    def __init__(self, interval: float = 5.0, clock: Callable[[], float] = time.time) -> None:
        self.interval = interval
        self.clock = clock  # the sandbox clock: minutes as the records' arrival times run
        self._lock = threading.Lock()
        # (account, region, stream, minute) -> [calls, records sum/min/max, bytes sum/min/max]
        self._pending: dict[tuple[str, str, str, int], list[float]] = {}
        self._stop = threading.Event()

    def record(self, account: str, region: str, stream: str, records: int, size: int) -> None:
        key = (account, region, stream, int(self.clock()) // 60)
        with self._lock:
            counts = self._pending.get(key)
            if counts is None:
                self._pending[key] = [1, records, records, records, size, size, size]
                return
            counts[0] += 1
            counts[1] += records
            counts[2] = min(counts[2], records)
            counts[3] = max(counts[3], records)
            counts[4] += size
            counts[5] = min(counts[5], size)
            counts[6] = max(counts[6], size)

    def flush(self) -> int:
        """Write the pending counts; returns how many (stream, minute) groups were written."""
        from moto.cloudwatch.models import cloudwatch_backends

        with self._lock:
            pending, self._pending = self._pending, {}
        for (account, region, stream, minute), counts in pending.items():
            stamp = naive_utc(minute * 60)
            dimensions = [{"Name": "StreamName", "Value": stream}]
            data = [
                {
                    "MetricName": name,
                    "Dimensions": dimensions,
                    "Timestamp": stamp,
                    "Unit": unit,
                    "StatisticValues": {
                        "SampleCount": counts[0],
                        "Sum": counts[1 + 3 * index],
                        "Minimum": counts[2 + 3 * index],
                        "Maximum": counts[3 + 3 * index],
                    },
                }
                for index, (name, unit) in enumerate(self.METRICS)
            ]
            cloudwatch_backends[account][region].put_metric_data("AWS/Kinesis", data)
        return len(pending)

    def start(self) -> None:
        def run() -> None:
            while not self._stop.wait(self.interval):
                self.flush()

        threading.Thread(target=run, name="kinesis-metrics", daemon=True).start()


def aggregate_kinesis_metrics(aggregator: KinesisMetricsAggregator) -> None:
    """Route moto's per-call ``AWS/Kinesis`` metrics through ``aggregator`` (item 10)."""
    from moto.kinesis.models import KinesisBackend

    def send_stream_metrics(
        self: Any, stream_name: str, incoming_bytes: int, incoming_records: int
    ) -> None:
        aggregator.record(
            self.account_id, self.region_name, stream_name, incoming_records, incoming_bytes
        )

    KinesisBackend._send_stream_metrics = send_stream_metrics  # type: ignore[method-assign]


def apply_profile(profile: FidelityProfile) -> Callable[[], dict[str, Any]]:
    """Patch moto for ``profile`` (after the other patches: these wrap them). Returns a function
    giving what the profile throttled, trimmed and scaled."""
    from turnout.sandbox.emulator import (
        kinesis_limits,
        kinesis_reads,
        kinesis_resharding,
        kinesis_time,
        mapping_states,
        session_expiry,
    )

    kinesis_reads.read_shards_by_position()  # every profile: moto's reads walk the whole shard
    trimmed = {"trimmed_records": 0}
    if profile.retention or profile.resharding:
        kinesis_time.keep_sequence_numbers_increasing()
    if profile.resharding:
        kinesis_resharding.route_to_open_shards()
        kinesis_resharding.parents_keep_their_records()
        kinesis_resharding.end_closed_shards()
    if profile.clock_rate != 1.0 or profile.retention:
        kinesis_time.stamp_records(profile)
        kinesis_time.millis_behind_latest_on_the_clock(profile)
    if profile.clock_rate != 1.0:
        session_expiry.sessions_on_the_clock(profile.now)
    if profile.retention:
        kinesis_time.enforce_retention(profile, trimmed)
    if profile.iterator_ttl_seconds:
        kinesis_time.expire_iterators(profile)
    if profile.mapping_transitions:
        mapping_states.timed_mapping_states(profile)
    meter = kinesis_limits.ShardMeter(profile)
    if profile.shard_limits:
        kinesis_limits.meter_writes(meter)
        kinesis_limits.meter_reads(meter)
    if profile.control_plane_limits:
        kinesis_limits.limit_control_plane(meter)
    kinesis_reads.number_records_one_at_a_time()  # every profile, around any put_record above

    def counts() -> dict[str, Any]:
        return {**meter.counts(), **trimmed}

    return counts


# Keep-alive: an idle persistent connection is closed after this long. Longer than the idle
# timeouts of the clients (Go's AWS SDKs, used by Terraform's provider: 90 s; urllib3/botocore:
# none, it checks a pooled connection before reusing it), so the client, not the server, closes
# an idle connection, and no request is ever sent on a connection the server is closing.
IDLE_TIMEOUT_S = 120.0
# A request body the application left unread is read and dropped before the next request on the
# connection, up to this many bytes; past that the connection is closed instead.
MAX_DRAIN_BYTES = 64 * 1024 * 1024


def keep_alive_handler(base: type[Any]) -> type[Any]:
    """A subclass of werkzeug's request handler ``base`` (moto's ``MotoRequestHandler``) that
    keeps HTTP/1.1 connections open between requests.

    werkzeug's dev server sends ``Connection: close`` on every response and, after each one,
    reads whatever the client sent next (a naive drain that would swallow the next request of a
    persistent connection), so every request costs a TCP connection and a thread. Here
    ``run_wsgi`` is werkzeug's, with these changes: no ``Connection: close`` (unless the client
    asked for it, spoke HTTP/1.0 without keep-alive, or the response cannot be delimited); the
    request body is a ``LimitedStream`` of ``Content-Length`` bytes (or werkzeug's de-chunker)
    and whatever the application left unread is drained exactly, so the next request line is
    intact; a response without ``Content-Length`` is chunked (HTTP/1.1) or ends with the
    connection (HTTP/1.0); a body longer than its ``Content-Length`` is cut and the connection
    closed, a shorter one closes it; HEAD, 1xx, 204 and 304 responses never carry a body; any
    error closes the connection. The status line, headers and first body bytes go out in one
    ``send`` with ``TCP_NODELAY`` (no Nagle/delayed-ACK stall on a persistent connection).
    Handler threads are daemon threads (werkzeug's ``ThreadedWSGIServer``) and an idle
    connection times out after ``IDLE_TIMEOUT_S``, so open connections never keep the server
    from stopping.

    Longer than a screen on purpose, as is ``run_wsgi``: ``run_wsgi`` is werkzeug's method with
    the changes above, kept in werkzeug's own shape (its closures share the request's state)
    so that it can be compared line by line with the werkzeug version it replaces.
    """
    import socket
    import traceback

    from werkzeug.exceptions import InternalServerError
    from werkzeug.wsgi import LimitedStream

    class KeepAliveRequestHandler(base):  # type: ignore[misc, valid-type]
        protocol_version = "HTTP/1.1"
        timeout = IDLE_TIMEOUT_S

        def setup(self) -> None:
            super().setup()
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            # werkzeug formats every request's line (its path, colours, a timestamp) before its
            # logger drops it: 6 % of the emulator's CPU when the access log is off.
            if logging.getLogger("werkzeug").isEnabledFor(logging.INFO):
                super().log_request(code, size)

        def log_error(self, format: str, *args: Any) -> None:
            if format.startswith("Request timed out"):  # an idle keep-alive connection
                return
            super().log_error(format, *args)

        def run_wsgi(self) -> None:
            # ``Expect: 100-continue`` was answered by http.server's parse_request already
            # (werkzeug answers it a second time).
            self.environ = environ = self.make_environ()
            body: Any
            if environ.get("wsgi.input_terminated"):  # chunked request: werkzeug's de-chunker
                body = environ["wsgi.input"]
            else:
                try:
                    length = int(environ.get("CONTENT_LENGTH") or 0)
                except ValueError:
                    length = -1
                if length < 0:  # cannot tell where the body ends
                    self.close_connection = True
                    length = 0
                body = LimitedStream(self.rfile, length)
                environ["wsgi.input"] = body
            head_request = environ["REQUEST_METHOD"] == "HEAD"

            status_set: str | None = None
            headers_set: list[tuple[str, str]] | None = None
            headers_sent = False
            chunked = False
            bodyless = False
            remaining: int | None = None  # of the declared Content-Length

            def write(data: bytes) -> None:
                nonlocal headers_sent, chunked, bodyless, remaining
                assert status_set is not None and headers_set is not None, (
                    "write() before start_response"
                )
                assert isinstance(data, bytes), "applications must write bytes"
                head = b""
                if not headers_sent:
                    headers_sent = True
                    code_str, _, msg = status_set.partition(" ")
                    code = int(code_str)
                    bodyless = head_request or 100 <= code < 200 or code in (204, 304)
                    self.send_response(code, msg)
                    for key, value in headers_set:
                        name = key.lower()
                        if name in ("connection", "keep-alive", "transfer-encoding"):
                            if name == "connection" and "close" in value.lower():
                                self.close_connection = True
                            continue  # hop-by-hop: the server's business
                        if name == "content-length":
                            try:
                                remaining = int(value)
                            except ValueError:
                                self.close_connection = True
                        self.send_header(key, value)
                    if bodyless:
                        remaining = None
                    elif remaining is None:
                        if self.request_version >= "HTTP/1.1":
                            chunked = True
                            self.send_header("Transfer-Encoding", "chunked")
                        else:  # HTTP/1.0: the end of the connection ends the body
                            self.close_connection = True
                    if self.close_connection:
                        self.send_header("Connection", "close")
                    self._headers_buffer.append(b"\r\n")
                    head = b"".join(self._headers_buffer)
                    self._headers_buffer = []
                if data and not bodyless:
                    if remaining is not None:
                        if len(data) > remaining:
                            data = data[:remaining]
                            self.close_connection = True
                        remaining -= len(data)
                    if chunked:
                        data = b"%x\r\n%s\r\n" % (len(data), data)
                else:
                    data = b""
                if head or data:
                    self.wfile.write(head + data)

            def start_response(status, headers, exc_info=None):  # type: ignore[no-untyped-def]
                nonlocal status_set, headers_set
                if exc_info:
                    try:
                        if headers_sent:
                            raise exc_info[1].with_traceback(exc_info[2])
                    finally:
                        exc_info = None
                elif headers_set:
                    raise AssertionError("Headers already set")
                status_set = status
                headers_set = headers
                return write

            def execute(app: Callable[..., Iterable[bytes]]) -> None:
                application_iter = app(environ, start_response)
                try:
                    for data in application_iter:
                        write(data)
                    if not headers_sent:
                        write(b"")
                    if chunked:
                        self.wfile.write(b"0\r\n\r\n")
                    elif remaining:  # shorter than its Content-Length: the client must see EOF
                        self.close_connection = True
                finally:
                    if hasattr(application_iter, "close"):
                        application_iter.close()

            try:
                execute(self.server.app)
            except (TimeoutError, ConnectionError) as e:
                self.close_connection = True
                self.connection_dropped(e, environ)
                return
            except Exception as e:
                if self.server.passthrough_errors:
                    raise
                self.close_connection = True
                if not headers_sent:
                    status_set = headers_set = None
                    with contextlib.suppress(Exception):
                        execute(InternalServerError())
                self.server.log(
                    "error",
                    "Error on request:\n"
                    + "".join(traceback.format_exception(type(e), e, e.__traceback__)),
                )
                return
            if self.close_connection:
                return
            # Drop what the application left of the request body: the next request follows it.
            try:
                if isinstance(body, LimitedStream):
                    if body.limit - body.tell() > MAX_DRAIN_BYTES:
                        self.close_connection = True
                    else:
                        body.exhaust()
                else:
                    drained = 0
                    while chunk := body.read(65536):
                        drained += len(chunk)
                        if drained > MAX_DRAIN_BYTES:
                            self.close_connection = True
                            break
            except Exception:
                self.close_connection = True

    KeepAliveRequestHandler.__name__ = KeepAliveRequestHandler.__qualname__ = (
        "KeepAliveRequestHandler"
    )
    return KeepAliveRequestHandler


def list_response_methods_once() -> None:
    """moto looks up a response class's methods with `inspect.getmembers` on every request (5 %
    of the emulator's CPU); the classes do not change while it serves, so each is listed once."""
    import moto.core.responses as responses

    responses.method_names_from_class = functools.lru_cache(maxsize=None)(
        responses.method_names_from_class
    )


def patch_moto(base_url: str) -> None:
    """Every change to moto's behaviour listed in this module's docstring, before it serves."""
    from turnout.sandbox.emulator.cross_account import serve_across_accounts
    from turnout.sandbox.emulator.read_across import map_streams_across_accounts

    neutralise_lambda_delivery(base_url)
    keep_stream_tags_on_create()
    # Calls naming another account's stream or table by ARN, under its resource policy (moto
    # served every call from the caller's own account): turnout.sandbox.emulator.cross_account.
    serve_across_accounts()
    # Lambda mappings on another account's stream, under its policy: .read_across
    map_streams_across_accounts()
    list_moto_modules_once()
    list_response_methods_once()
    fast_kinesis_answers()
    read_tables_from_snapshots()
    scan_pages_from_their_start()
    size_items_once()
    answer_reads_with_json()
    parse_requests_with_json()
    atomic_conditional_puts()
    probe_health_check_endpoints()
    conditioned_statements_need_their_condition()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="turnout's local AWS emulator (moto server)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--access-log", action="store_true", help="log every request (noisy; off by default)"
    )
    parser.add_argument(
        "--profile-file",
        help="the fidelity profile (JSON, turnout.sandbox.emulator.profile); default: fast",
    )
    parser.add_argument(
        "--session-seconds",
        type=int,
        default=None,
        help="end AssumeRole sessions after this many seconds, as AWS does (off by default)",
    )
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the emulator binds loopback only")

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    log = logging.getLogger("turnout.sandbox.emulator.server")
    if not args.access_log:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if os.environ.pop("MOTO_ACCOUNT_ID", None) is not None:
        log.warning("MOTO_ACCOUNT_ID was set; removed (it would collapse every account into one)")
    os.environ.setdefault("MOTO_PORT", str(args.port))

    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    base_url = f"http://{args.host}:{args.port}"
    http_headers.install()
    patch_moto(base_url)
    profile = FidelityProfile.read(args.profile_file) if args.profile_file else FAST
    kinesis_metrics = KinesisMetricsAggregator(clock=profile.now)
    aggregate_kinesis_metrics(kinesis_metrics)
    kinesis_metrics.start()
    count_sources = [apply_profile(profile)]
    if profile.scheduled_work:
        from turnout.sandbox.emulator.scheduled_work import ScheduledWork

        scheduled = ScheduledWork(clock=profile.now)
        scheduled.start()
        count_sources.append(scheduled.counts)

    def fidelity_counts() -> dict[str, Any]:
        return {name: value for source in count_sources for name, value in source().items()}

    log.info("fidelity profile %s", profile.name)
    app: Any = ControlApp(
        AnswerAccountSettings(DomainDispatcherApplication(create_backend_app)),
        profile,
        fidelity_counts=fidelity_counts,
    )
    if args.session_seconds:
        from turnout.sandbox.emulator.session_expiry import RefuseExpiredSessions, limit_sessions

        limit_sessions(args.session_seconds)
        app = RefuseExpiredSessions(app)
    server = make_server(
        args.host,
        args.port,
        app,
        threaded=True,
        request_handler=keep_alive_handler(MotoRequestHandler),
    )

    def _stop(signum: int, frame: Any) -> None:
        log.info("signal %s: shutting down", signum)
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("turnout emulator (moto) listening on %s, pid %s", base_url, os.getpid())
    server.serve_forever()
    server.server_close()  # idle keep-alive connections live in daemon threads: they end with us
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
