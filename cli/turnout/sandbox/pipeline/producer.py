"""The sandbox's synthetic producer: live traffic that follows the route, like a real producer.

    python -m turnout.sandbox.pipeline.producer --endpoint http://127.0.0.1:N \
        --route-account 111111111111 --region eu-west-1 \
        --route-parameter /clickstream/kinesis-target --log events.ndjson [--rate 200] ...

Every ``--route-interval`` seconds (1 s) it reads the route parameter (JSON: environment,
account_id, region, streams {logical: ARN}; see turnout.spec.names.route_value) and writes to the
environment it names, with credentials of that environment's account. Caching and following the
route, and composing and making each PutRecords call, are the producer helper's
(:mod:`turnout.producer`, the one real producers use; the end-to-end run drives this class with
the helper's route-table reader); this module adds the traffic, the log and the counters.

Events: unique id, key, per-key sequence number (per logical stream and key), logical stream,
produced time; partition key = the event's key. Keys are spread uniformly over ``--keys`` keys
and the route's logical streams.

Delivery: PutRecords per logical stream, at most 500 records per call and at most ONE
not-yet-acknowledged record per key per call. PutRecords gives no order across the entries of a
call, so a failed entry stays the head of its key and is sent again before any later record of
that key: a key is never reordered and no record is ever dropped (a failed call or entry is
retried with backoff until it is accepted; new events are not generated while more than
``--max-pending`` wait).

Every ACCEPTED event is appended to the NDJSON log (the ground truth of the sandbox report):
``{"id", "key", "seq", "stream", "env", "stream_name", "shard", "sn", "produced_at",
"accepted_at"}``. A status file (JSON, replaced every second) has the counters. SIGTERM or
SIGINT (or ``--max-seconds``) stops generating, sends what is pending for up to ``--stop-grace``
seconds, and exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from turnout.aws.errors import error_code
from turnout.producer import (
    Route,
    RouteCache,
    RoutedWriter,
    RouteError,
    key_heads,
    record_size,
)
from turnout.sandbox import http_headers

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
THROTTLED = "ProvisionedThroughputExceededException"
_CLIENT_CONFIG = Config(
    retries={"total_max_attempts": 1}, connect_timeout=3, read_timeout=10, max_pool_connections=8
)


@dataclass
class Event:
    id: str
    key: str
    seq: int
    stream: str
    produced_at: float
    data: bytes = b""


@dataclass
class Counters:
    generated: int = 0
    accepted: Counter = field(default_factory=Counter)  # per environment
    accepted_by_stream: Counter = field(default_factory=Counter)
    put_calls: int = 0
    failed_calls: int = 0
    failed_entries: int = 0
    # Of the failures above: the shard's write limit (ProvisionedThroughputExceededException).
    throttled_calls: int = 0
    throttled_entries: int = 0
    route_reads: int = 0
    route_errors: int = 0
    backpressure_ticks: int = 0


class Producer:
    """The producer's logic, without processes or signals (tests drive ``step``)."""

    def __init__(
        self,
        *,
        route_reader: Callable[[], dict],
        kinesis_client: Callable[[str, str], Any],
        log: Any,
        rate: float = 200.0,
        keys: int = 1000,
        streams: list[str] | None = None,
        route_interval: float = 1.0,
        max_pending: int | None = None,
        payload_bytes: int = 0,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sequences: dict[tuple[str, str], int] | None = None,
        accepted_before: dict[str, int] | None = None,
        route_changes: list[dict] | None = None,
        backoff_base: float = 0.05,
        backoff_cap: float = 2.0,
    ) -> None:
        self.route_reader = route_reader
        self.kinesis_client = kinesis_client
        # The producer helper: the route, cached for route_interval seconds, and PutRecords.
        self.routes = RouteCache(route_reader, max_age=route_interval, clock=clock)
        self.writer = RoutedWriter(self.routes, kinesis_client)
        self.log = log
        self.rate = rate
        self.keys = [f"user-{index:05d}" for index in range(keys)]
        self.only_streams = streams
        self.route_interval = route_interval
        self.max_pending = max_pending if max_pending is not None else max(1000, int(rate * 10))
        self.payload = "x" * payload_bytes
        self.random = random.Random(seed)
        self.clock = clock
        self.wall_clock = wall_clock
        self.sequences: dict[tuple[str, str], int] = dict(sequences or {})
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.run_id = uuid.uuid4().hex[:10]
        self.counters = Counters()
        self.counters.accepted.update(accepted_before or {})
        self.route: Route | None = None
        self.route_changes: list[dict] = list(route_changes or [])
        self.last_error: str | None = None
        self.pending: dict[str, deque[Event]] = {}
        self._credit = 0.0
        self._last_tick: float | None = None
        self._backoff_until: dict[str, float] = {}
        self._attempts: dict[str, int] = {}
        self._recent: deque[tuple[float, int]] = deque()  # (time, accepted total) for the rate
        self.generating = True

    # ------------------------------------------------------------------ route
    def refresh_route(self, now: float | None = None, force: bool = False) -> None:
        now = self.clock() if now is None else now
        reads, errors = self.routes.reads, self.routes.errors
        try:
            route = self.routes.refresh(now) if force else self.routes.current(now)
        except RouteError:
            route = None
        self.counters.route_reads += self.routes.reads - reads
        if self.routes.errors > errors:  # keep writing where we wrote; say so
            self.counters.route_errors += self.routes.errors - errors
            self.last_error = f"route: {self.routes.last_error}"
        if route is None:
            return
        if self.route:
            previous = self.route.environment
        else:  # a restarted producer continues the history of the one before it
            previous = self.route_changes[-1]["to"] if self.route_changes else None
        if previous != route.environment:
            self.route_changes.append(
                {"at": self.wall_clock(), "from": previous, "to": route.environment}
            )
        self.route = route

    @property
    def target(self) -> str | None:
        return self.route.environment if self.route else None

    def logical_streams(self) -> list[str]:
        if not self.route:
            return []
        names = sorted(self.route.streams)
        if self.only_streams:
            names = [name for name in names if name in self.only_streams]
        return names

    # ------------------------------------------------------------------ generation
    def pending_count(self) -> int:
        return sum(len(queue) for queue in self.pending.values())

    def generate(self, now: float) -> int:
        """Create the events due at ``now`` (rate * elapsed, at most 1 s of backlog)."""
        if self._last_tick is None:
            self._last_tick = now
        elapsed, self._last_tick = max(0.0, now - self._last_tick), now
        streams = self.logical_streams()
        if not self.generating or not streams:
            return 0
        self._credit = min(self._credit + elapsed * self.rate, max(self.rate, 1.0))
        if self.pending_count() >= self.max_pending:
            self.counters.backpressure_ticks += 1
            return 0
        count = int(self._credit)
        self._credit -= count
        produced_at = self.wall_clock()
        for _ in range(count):
            stream = self.random.choice(streams)
            key = self.random.choice(self.keys)
            seq = self.sequences.get((stream, key), 0) + 1
            self.sequences[(stream, key)] = seq
            self.counters.generated += 1
            event_id = f"{self.run_id}-{self.counters.generated:09d}"
            body = {
                "id": event_id,
                "key": key,
                "seq": seq,
                "stream": stream,
                "produced_at": round(produced_at, 6),
            }
            if self.payload:
                body["pad"] = self.payload
            data = json.dumps(body, separators=(",", ":")).encode()
            self.pending.setdefault(stream, deque()).append(
                Event(event_id, key, seq, stream, produced_at, data)
            )
        return count

    # ------------------------------------------------------------------ sending
    def send(self, now: float) -> None:
        """Send what is pending, stream by stream, until empty or a failure backs a stream off."""
        for stream in list(self.pending):
            while self.pending[stream] and now >= self._backoff_until.get(stream, 0.0):
                if not self._send_one_call(stream):
                    break
                now = self.clock()

    def _next_call(self, stream: str) -> list[Event]:
        """The heads of the keys, in generation order: one unacknowledged record per key."""
        return key_heads(
            self.pending[stream],
            key=lambda event: event.key,
            size=lambda event: record_size({"Data": event.data, "PartitionKey": event.key}),
            max_count=MAX_RECORDS_PER_CALL,
            max_bytes=MAX_BYTES_PER_CALL,
        )

    def _send_one_call(self, stream: str) -> bool:
        """One PutRecords call; True when every entry was accepted."""
        route = self.route
        if not route or stream not in route.streams:
            return False
        arn = route.streams[stream]
        call = self._next_call(stream)
        self.counters.put_calls += 1
        try:
            attempt = self.writer.attempt(
                stream,
                [{"Data": event.data, "PartitionKey": event.key} for event in call],
                route=route,
            )
        except (ClientError, BotoCoreError, OSError) as problem:
            self.counters.failed_calls += 1
            # botocore's connection errors carry `response = None`: only a ClientError has a code.
            if isinstance(problem, ClientError) and error_code(problem) == THROTTLED:
                self.counters.throttled_calls += 1
            self.last_error = f"PutRecords {arn}: {type(problem).__name__}: {problem}"[:500]
            self._back_off(stream)
            return False
        accepted_at = self.wall_clock()
        accepted: set[int] = set()
        lines = []
        stream_name = arn.split("/", 1)[-1]
        for event, result in zip(call, attempt.entries, strict=True):
            if result.get("ErrorCode") or not result.get("SequenceNumber"):
                self.counters.failed_entries += 1
                if result.get("ErrorCode") == THROTTLED:
                    self.counters.throttled_entries += 1
                self.last_error = f"entry: {result.get('ErrorCode')}: {result.get('ErrorMessage')}"
                continue
            accepted.add(id(event))
            lines.append(
                json.dumps(
                    {
                        "id": event.id,
                        "key": event.key,
                        "seq": event.seq,
                        "stream": event.stream,
                        "env": attempt.environment,
                        "stream_name": stream_name,
                        "shard": result["ShardId"],
                        "sn": result["SequenceNumber"],
                        "produced_at": round(event.produced_at, 6),
                        "accepted_at": round(accepted_at, 6),
                    },
                    separators=(",", ":"),
                )
            )
        if lines:
            self.log.write("\n".join(lines) + "\n")
            self.log.flush()
            self.counters.accepted[attempt.environment] += len(lines)
            self.counters.accepted_by_stream[stream] += len(lines)
            self.pending[stream] = deque(e for e in self.pending[stream] if id(e) not in accepted)
        if len(accepted) < len(call):
            self._back_off(stream)
            return False
        self._attempts[stream] = 0
        return True

    def _back_off(self, stream: str) -> None:
        attempt = self._attempts.get(stream, 0)
        self._attempts[stream] = attempt + 1
        delay = self.random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))
        self._backoff_until[stream] = self.clock() + delay

    # ------------------------------------------------------------------ loop
    def step(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        self.refresh_route(now)
        self.generate(now)
        self.send(now)

    def accepted_total(self) -> int:
        return sum(self.counters.accepted.values())

    def recent_rate(self, now: float) -> float:
        total = self.accepted_total()
        self._recent.append((now, total))
        while self._recent and now - self._recent[0][0] > 10.0:
            self._recent.popleft()
        first_time, first_total = self._recent[0]
        return (total - first_total) / (now - first_time) if now > first_time else 0.0

    def status(self, state: str, now: float) -> dict:
        return {
            "state": state,
            "pid": os.getpid(),
            "run_id": self.run_id,
            "rate_target": self.rate,
            "rate_recent": round(self.recent_rate(now), 1),
            "keys": len(self.keys),
            "route_environment": self.target,
            "route_changes": self.route_changes,
            "generated": self.counters.generated,
            "accepted": dict(self.counters.accepted),
            "accepted_total": self.accepted_total(),
            "accepted_by_stream": dict(self.counters.accepted_by_stream),
            "pending": self.pending_count(),
            "put_calls": self.counters.put_calls,
            "failed_calls": self.counters.failed_calls,
            "failed_entries": self.counters.failed_entries,
            "throttled_calls": self.counters.throttled_calls,
            "throttled_entries": self.counters.throttled_entries,
            "route_reads": self.counters.route_reads,
            "route_errors": self.counters.route_errors,
            "backpressure_ticks": self.counters.backpressure_ticks,
            "last_error": self.last_error,
            "updated_at": self.wall_clock(),
        }


def recover_sequences(log_path: Path) -> dict[tuple[str, str], int]:
    """Per (stream, key), the highest sequence number already in the log (restart continues)."""
    return recover(log_path)[0]


def recover(log_path: Path) -> tuple[dict[tuple[str, str], int], Counter]:
    """From an earlier run's log: the highest sequence number per (stream, key), and the
    accepted events per environment, so that a restarted producer continues both."""
    sequences: dict[tuple[str, str], int] = {}
    accepted: Counter = Counter()
    if not log_path.is_file():
        return sequences, accepted
    with log_path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                entry = json.loads(line)
                slot = (entry["stream"], entry["key"])
                sequences[slot] = max(sequences.get(slot, 0), int(entry["seq"]))
                accepted[entry.get("env", "?")] += 1
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line of a killed producer
    return sequences, accepted


def _write_json(path: Path, document: dict) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m turnout.sandbox.pipeline.producer")
    parser.add_argument("--endpoint", required=True, help="the local emulator's URL (loopback)")
    parser.add_argument("--route-account", required=True, help="account holding the route")
    parser.add_argument("--region", required=True, help="region of the route parameter")
    parser.add_argument("--route-parameter", required=True, help="SSM parameter name")
    parser.add_argument("--log", required=True, type=Path, help="NDJSON log of accepted events")
    parser.add_argument("--status-file", type=Path, help="default: LOG with .status.json")
    parser.add_argument("--pid-file", type=Path)
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--streams", help="comma-separated logical streams (default: all)")
    # 0.5 s of events per PutRecords call and stream: a producer that buffers (the KPL buffers
    # up to RecordMaxBufferedTime, 100 ms by default); at 0.1 s the sandbox's producer made half
    # of all emulator requests of a running sandbox, each costing the emulator ~5 ms of CPU.
    parser.add_argument("--tick", type=float, default=0.5, help="seconds between send rounds")
    parser.add_argument("--route-interval", type=float, default=1.0)
    parser.add_argument("--max-pending", type=int)
    parser.add_argument("--payload-bytes", type=int, default=0)
    parser.add_argument("--max-seconds", type=float, default=0.0, help="0 = until stopped")
    parser.add_argument("--stop-grace", type=float, default=10.0)
    parser.add_argument("--seed", type=int)
    return parser


class _EmulatorClients:
    """Kinesis clients per (account, region) and the route reader, on the local emulator."""

    def __init__(self, args: argparse.Namespace, status_file: Path, host: str, port: int) -> None:
        from turnout.sandbox.emulator.launcher import Emulator

        self.emulator = Emulator(status_file.parent, host=host, port=port, region=args.region)
        self.clients: dict[tuple[str, str], Any] = {}
        self.route_parameter = args.route_parameter
        self.ssm = self.emulator.session(args.route_account, args.region).client(
            "ssm", endpoint_url=self.emulator.endpoint_url, config=_CLIENT_CONFIG
        )

    def kinesis(self, account: str, region: str) -> Any:
        if (account, region) not in self.clients:
            self.clients[(account, region)] = self.emulator.session(account, region).client(
                "kinesis", endpoint_url=self.emulator.endpoint_url, config=_CLIENT_CONFIG
            )
        return self.clients[(account, region)]

    def read_route(self) -> dict:
        value = self.ssm.get_parameter(Name=self.route_parameter)["Parameter"]["Value"]
        return json.loads(value)


def _run(producer: Producer, args: argparse.Namespace, status_file: Path, stop: threading.Event):
    """Produce until stopped (or --max-seconds); then send what is pending for up to
    --stop-grace seconds, generating nothing new."""
    started = time.monotonic()
    next_status = 0.0
    while not stop.is_set():
        now = time.monotonic()
        if args.max_seconds and now - started >= args.max_seconds:
            break
        producer.step(now)
        if now >= next_status:
            _write_json(status_file, producer.status("running", now))
            next_status = now + 1.0
        stop.wait(max(0.0, args.tick - (time.monotonic() - now)))
    producer.generating = False
    deadline = time.monotonic() + args.stop_grace
    while producer.pending_count() and time.monotonic() < deadline:
        producer.step()
        time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    http_headers.install()
    parts = urlsplit(args.endpoint)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1") or not parts.port:
        parser.error("--endpoint must be the local emulator on loopback, with a port")
    status_file = args.status_file or args.log.with_suffix(".status.json")
    print(f"producer (pid {os.getpid()}) starting: {args.rate:g} events/s", flush=True)
    clients = _EmulatorClients(args, status_file, parts.hostname, parts.port)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.pid_file:
        args.pid_file.write_text(f"{os.getpid()}\n")
    args.log.parent.mkdir(parents=True, exist_ok=True)
    sequences, accepted_before = recover(args.log)
    try:
        route_changes = json.loads(status_file.read_text()).get("route_changes") or []
    except (OSError, ValueError):
        route_changes = []
    with args.log.open("a", encoding="utf-8") as log:
        producer = Producer(
            route_reader=clients.read_route,
            kinesis_client=clients.kinesis,
            log=log,
            rate=args.rate,
            keys=args.keys,
            streams=[s for s in (args.streams or "").split(",") if s] or None,
            route_interval=args.route_interval,
            max_pending=args.max_pending,
            payload_bytes=args.payload_bytes,
            seed=args.seed,
            sequences=sequences,
            accepted_before=accepted_before,
            route_changes=route_changes,
        )
        try:
            _run(producer, args, status_file, stop)
        finally:
            final = producer.status("stopped", time.monotonic())
            final["unsent_never_accepted"] = producer.pending_count()
            _write_json(status_file, final)
            if args.pid_file:
                with contextlib.suppress(OSError):
                    if args.pid_file.read_text().strip() == str(os.getpid()):
                        args.pid_file.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
