"""Drain predicates: has a consumer processed everything in its streams, shard by shard?

A predicate answers for one consumer, at one moment, with a verdict per shard:

- `drained`: evidence proves that every record of the shard was processed;
- `not_drained`: evidence shows records the consumer has not processed (yet);
- `unknown`: the evidence that would decide is missing (no metrics, no lease table, a paused
  consumer that cannot acknowledge a marker). An unknown is never treated as drained.

A consumer is drained only when every shard of every stream it reads, open and closed-in-
retention alike, is drained. One class per kind of evidence (`LambdaMarkers`,
`LambdaMetrics`, `KclLeases`, `ReplicatorLedger`), registered in `PREDICATES`; a later kind is
one more subclass of `DrainPredicate` and one `@register(...)` line.

`wait_until_drained` polls predicates until all are drained or a bounded time ran out, reporting
progress ("waiting for X: 3/8 shards drained, 41 s of 600 s").

Predicates that read shards do it shard by shard on a bounded thread pool (`DrainScope.workers`,
32 by default; the read limits are per shard, so shards can be read side by side). A shard whose
read fails is `unknown`, never drained. See docs/drain.md for the rules of each predicate.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from turnout.phases import peer_of
from turnout.streams import (
    ShardReader,
    arrival_seconds,
    error_code,
    is_open,
    list_shards,
)


class Verdict(StrEnum):
    DRAINED = "drained"
    NOT_DRAINED = "not_drained"
    UNKNOWN = "unknown"


def combine(verdicts: list[Verdict]) -> Verdict:
    """not_drained wins over unknown, unknown over drained; nothing to check is unknown."""
    if not verdicts:
        return Verdict.UNKNOWN
    if Verdict.NOT_DRAINED in verdicts:
        return Verdict.NOT_DRAINED
    if Verdict.UNKNOWN in verdicts:
        return Verdict.UNKNOWN
    return Verdict.DRAINED


@dataclass
class ShardVerdict:
    stream: str  # logical stream name
    shard: str  # shard id, or "*" for stream-level evidence (metrics)
    verdict: Verdict
    reason: str
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data


@dataclass
class ConsumerVerdict:
    consumer: str
    kind: str
    evidence: str
    shards: list[ShardVerdict] = field(default_factory=list)
    note: str = ""

    @property
    def verdict(self) -> Verdict:
        return combine([shard.verdict for shard in self.shards])

    @property
    def drained_count(self) -> int:
        return sum(1 for shard in self.shards if shard.verdict is Verdict.DRAINED)

    def to_dict(self) -> dict:
        return {
            "consumer": self.consumer,
            "kind": self.kind,
            "evidence": self.evidence,
            "verdict": self.verdict.value,
            "drained_shards": self.drained_count,
            "shards": [shard.to_dict() for shard in self.shards],
            **({"note": self.note} if self.note else {}),
        }

    def problems(self) -> list[str]:
        return [
            f"{self.consumer} {shard.stream}/{shard.shard}: {shard.verdict.value} ({shard.reason})"
            for shard in self.shards
            if shard.verdict is not Verdict.DRAINED
        ] or ([f"{self.consumer}: {self.verdict.value} ({self.note})"] if not self.shards else [])


DEFAULT_WORKERS = 32
PROGRESS_EVERY_SECONDS = 5.0

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class DrainScope:
    """What a predicate may use: the spec, one environment's clients, a paced reader, time."""

    spec: Any
    environment: str
    client: Callable[[str], Any]  # service -> boto3 client of this environment
    reader: ShardReader
    clock: Callable[[], float]
    dry_run: bool = False
    workers: int = DEFAULT_WORKERS  # per-shard reads side by side (1: one after another)
    progress: Callable[[str], None] | None = None  # "checked 300/1000 shards of ..." on long checks

    def stream(self, logical: str) -> Any:
        return next(stream for stream in self.spec.streams if stream.name == logical)

    def physical(self, logical: str) -> str:
        return self.stream(logical).name_in(self.environment)

    @property
    def prefix(self) -> str:
        return getattr(self.spec.environments, self.environment).name_prefix


def per_shard(
    scope: DrainScope, items: Sequence[Item], work: Callable[[Item], Result], what: str
) -> list[Result]:
    """`work(item)` for every item, on at most `scope.workers` threads, results in item order.
    Reports progress every few seconds when a progress callback is set and the work is long."""
    if not items:
        return []
    done = 0
    lock = threading.Lock()
    started = last_report = time.monotonic()

    def tracked(item: Item) -> Result:
        nonlocal done, last_report
        result = work(item)
        with lock:
            done += 1
            now = time.monotonic()
            if scope.progress and now - last_report >= PROGRESS_EVERY_SECONDS:
                last_report = now
                scope.progress(f"{what}: checked {done}/{len(items)} shards, {now - started:.0f} s")
        return result

    workers = max(1, min(scope.workers, len(items)))
    if workers == 1:
        return [tracked(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drain") as pool:
        return list(pool.map(tracked, items))


def read_failure(logical: str, shard_id: str, problem: Exception, detail: dict) -> ShardVerdict:
    """A shard that could not be read proves nothing: unknown."""
    if isinstance(problem, ClientError):
        what = f"{error_code(problem)}: {problem.response.get('Error', {}).get('Message', '')}"
    else:
        what = repr(problem)
    return ShardVerdict(
        logical, shard_id, Verdict.UNKNOWN, f"could not read the shard ({what})", detail
    )


READ_ERRORS = (ClientError, BotoCoreError)


def markers_table_name(spec: Any, environment: str) -> str:
    return f"{getattr(spec.environments, environment).name_prefix}turnout-markers"


def ledger_table_name(spec: Any, environment: str) -> str:
    prefix = getattr(spec.environments, environment).name_prefix
    return f"{prefix}turnout-ledger-{environment}-to-{peer_of(environment)}"


# --------------------------------------------------------------------------- the interface


class DrainPredicate(ABC):
    """One consumer's drain evidence. `prepare()` once (side effects, idempotent), then `check()`
    as often as needed; each check is a fresh point-in-time verdict."""

    kind: ClassVar[str] = ""
    evidence: ClassVar[str] = ""

    def __init__(self, consumer: Any, scope: DrainScope, **settings: Any) -> None:
        self.consumer = consumer
        self.scope = scope
        self.settings = settings

    @property
    def consumer_name(self) -> str:
        return consumer_label(self.consumer)

    def prepare(self) -> dict:
        return {}

    @abstractmethod
    def check(self) -> ConsumerVerdict: ...

    def _verdict(self, shards: list[ShardVerdict], note: str = "") -> ConsumerVerdict:
        return ConsumerVerdict(self.consumer_name, self.kind, self.evidence, shards, note)


PREDICATES: dict[tuple[str, str], type[DrainPredicate]] = {}


def register(kind: str, evidence: str) -> Callable[[type[DrainPredicate]], type[DrainPredicate]]:
    def decorate(cls: type[DrainPredicate]) -> type[DrainPredicate]:
        cls.kind, cls.evidence = kind, evidence
        PREDICATES[(kind, evidence)] = cls
        return cls

    return decorate


def consumer_label(consumer: Any) -> str:
    kind = getattr(consumer, "kind", "")
    if kind == "lambda":
        return f"lambda:{consumer.function_name}"
    if kind == "kcl":
        return f"kcl:{consumer.application}"
    if kind == "custom":
        return f"custom:{consumer.name}"
    return str(getattr(consumer, "name", consumer))


def evidence_of(consumer: Any) -> str:
    if consumer.kind == "lambda":
        return consumer.drain_evidence
    if consumer.kind == "kcl":
        return "leases"
    return "none"


def predicate_for(consumer: Any, scope: DrainScope, **settings: Any) -> DrainPredicate:
    cls = PREDICATES.get((consumer.kind, evidence_of(consumer)), NoEvidence)
    return cls(consumer, scope, **settings)


def _shards_by_stream(scope: DrainScope, logicals: list[str]) -> dict[str, list[dict]]:
    kinesis = scope.client("kinesis")
    return {logical: list_shards(kinesis, scope.physical(logical)) for logical in logicals}


class NoEvidence(DrainPredicate):
    """Consumers without a drain predicate (custom consumers, for now): always unknown."""

    kind = "custom"
    evidence = "none"

    def check(self) -> ConsumerVerdict:
        return self._verdict(
            [],
            note="no drain evidence for this kind of consumer: turnout cannot prove it drained "
            "(check it with a user hook and declare it in the spec's hooks)",
        )


# --------------------------------------------------------------------------- shard reads


def _shard_has_records_after(
    scope: DrainScope, physical: str, shard_id: str, after: str | None
) -> dict | None:
    return scope.reader.first_record_after(physical, shard_id, after)


# --------------------------------------------------------------------------- replicator: ledger

LEDGER_BATCH = 100  # BatchGetItem takes up to 100 keys


def _ledger_items(scope: DrainScope, table: str, keys: list[str]) -> dict[str, dict]:
    """Ledger items by `shard_key`, consistent reads, 100 keys per BatchGetItem."""
    dynamodb = scope.client("dynamodb")
    found: dict[str, dict] = {}
    for start in range(0, len(keys), LEDGER_BATCH):
        request = {
            table: {
                "Keys": [{"shard_key": {"S": key}} for key in keys[start : start + LEDGER_BATCH]],
                "ConsistentRead": True,
            }
        }
        while request:
            page = dynamodb.batch_get_item(RequestItems=request)
            for item in page.get("Responses", {}).get(table, []):
                decoded = {name: next(iter(value.values())) for name, value in item.items()}
                found[decoded["shard_key"]] = decoded
            request = page.get("UnprocessedKeys") or {}
    return found


class ReplicatorConsumer:
    """The replicator of an environment, seen as a consumer of every stream there."""

    kind = "replicator"

    def __init__(self, spec: Any, environment: str) -> None:
        from turnout.inventory import replicator_name

        self.function_name = replicator_name(spec, environment)
        self.streams = [stream.name for stream in spec.streams]
        self.name = self.function_name


@register("replicator", "ledger")
class ReplicatorLedger(DrainPredicate):
    """The replicator's ledger: `last_sequence_number` per `<stream>/<shard>` against the shard's
    content after it (exact). No ledger item and records in the shard: not drained. Ledger items
    are read 100 at a time; shards are read side by side on the scope's thread pool."""

    @property
    def consumer_name(self) -> str:
        return f"replicator:{self.consumer.function_name}"

    def check(self) -> ConsumerVerdict:
        table = ledger_table_name(self.scope.spec, self.scope.environment)
        shards_by_stream = _shards_by_stream(self.scope, self.consumer.streams)
        keys = [
            f"{self.scope.physical(logical)}/{shard['ShardId']}"
            for logical, shards in shards_by_stream.items()
            for shard in shards
        ]
        try:
            ledger = _ledger_items(self.scope, table, keys)
        except ClientError as problem:
            if error_code(problem) == "ResourceNotFoundException":
                return self._verdict(
                    [], note=f"ledger table {table} not found in {self.scope.environment}"
                )
            raise
        work = [
            (logical, shard) for logical, shards in shards_by_stream.items() for shard in shards
        ]

        def judge(entry: tuple[str, dict]) -> ShardVerdict:
            logical, shard = entry
            physical = self.scope.physical(logical)
            return self._shard_verdict(
                logical, physical, shard, ledger.get(f"{physical}/{shard['ShardId']}")
            )

        return self._verdict(per_shard(self.scope, work, judge, f"{self.consumer_name} ledger"))

    def _shard_verdict(
        self, logical: str, physical: str, shard: dict, item: dict | None
    ) -> ShardVerdict:
        shard_id = shard["ShardId"]
        after = item.get("last_sequence_number") if item else None
        detail: dict[str, Any] = {
            "ledger_sequence_number": after,
            "ledger_record_count": int(item["record_count"])
            if item and "record_count" in item
            else None,
            "open": is_open(shard),
        }
        try:
            record = _shard_has_records_after(self.scope, physical, shard_id, after)
        except READ_ERRORS as problem:
            return read_failure(logical, shard_id, problem, detail)
        if record is None:
            reason = (
                "no record after the ledger's sequence number"
                if item
                else "no ledger item and the shard holds no record"
            )
            return ShardVerdict(logical, shard_id, Verdict.DRAINED, reason, detail)
        detail["first_unreplicated"] = record["SequenceNumber"]
        reason = (
            "records after the ledger's sequence number"
            if item
            else "no ledger item and the shard holds records"
        )
        return ShardVerdict(logical, shard_id, Verdict.NOT_DRAINED, reason, detail)


# --------------------------------------------------------------------------- waiting


@dataclass
class WaitOutcome:
    verdicts: list[ConsumerVerdict]
    drained: bool
    elapsed: float
    rounds: int

    def to_dict(self) -> dict:
        return {
            "drained": self.drained,
            "elapsed_seconds": round(self.elapsed, 1),
            "rounds": self.rounds,
            "consumers": [verdict.to_dict() for verdict in self.verdicts],
        }

    def problems(self, limit: int = 12) -> str:
        lines = [line for verdict in self.verdicts for line in verdict.problems()]
        more = f"; and {len(lines) - limit} more" if len(lines) > limit else ""
        return "; ".join(lines[:limit]) + more


def wait_until_drained(
    predicates: list[DrainPredicate],
    *,
    what: str,
    timeout_seconds: float,
    poll_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    progress: Callable[[str], None],
) -> WaitOutcome:
    """Check every predicate until all say drained, or `timeout_seconds` passed (then the last
    verdicts are returned with drained=False). At least one round always runs."""
    started = clock()
    rounds = 0
    while True:
        rounds += 1
        verdicts = [predicate.check() for predicate in predicates]
        elapsed = clock() - started
        if all(verdict.verdict is Verdict.DRAINED for verdict in verdicts):
            return WaitOutcome(verdicts, True, elapsed, rounds)
        if elapsed >= timeout_seconds:
            return WaitOutcome(verdicts, False, elapsed, rounds)
        total = sum(len(verdict.shards) for verdict in verdicts)
        done = sum(verdict.drained_count for verdict in verdicts)
        progress(
            f"waiting for {what}: {done}/{total} shards drained, "
            f"{elapsed:.0f} s of {timeout_seconds:.0f} s"
        )
        sleep(min(poll_seconds, max(0.0, timeout_seconds - elapsed)))


# --------------------------------------------------------------------------- replication lag


def replication_lag(scope: DrainScope, max_lag_seconds: float, *, max_calls: int = 10) -> dict:
    """Per source shard of the replicator in `scope.environment`: is it caught up?

    The lag of a shard is the age of its oldest record not yet replicated (now minus the
    arrival of the first record after the ledger's `last_sequence_number`; 0 when there is
    none), the same notion as an iterator age. It is measured shard by shard with the ledger
    item read right before the shard, so the time spent reading other shards never counts as
    lag. A shard with records and no ledger item is not caught up.
    Returns {"caught_up": bool, "streams": {logical: {"lag_seconds", "shards": [...]}}}.
    """
    table = ledger_table_name(scope.spec, scope.environment)
    shards_by_stream = _shards_by_stream(scope, [stream.name for stream in scope.spec.streams])
    streams: dict[str, dict] = {}
    caught_up = True
    for logical, shards in shards_by_stream.items():
        physical = scope.physical(logical)
        rows = []
        for shard in shards:
            shard_id = shard["ShardId"]
            key = f"{physical}/{shard_id}"
            item = _ledger_items(scope, table, [key]).get(key)
            after = item.get("last_sequence_number") if item else None
            scan = scope.reader.scan(
                physical, shard_id, after, max_calls=max_calls, stop_at_first=True
            )
            row: dict[str, Any] = {"shard": shard_id, "ledger_sequence_number": after}
            if scan.first is None:
                row.update(lag_seconds=0.0, ok=True, reason="no record after the ledger")
            else:
                lag = max(0.0, scope.clock() - arrival_of(scan.first))
                if item is None:
                    row.update(lag_seconds=round(lag, 3), ok=False, reason="no ledger item yet")
                else:
                    row.update(
                        lag_seconds=round(lag, 3),
                        ok=lag <= max_lag_seconds,
                        reason=f"oldest record not yet replicated arrived {lag:.1f} s ago",
                    )
            caught_up = caught_up and row["ok"]
            rows.append(row)
        streams[logical] = {
            "name": physical,
            "lag_seconds": max((row["lag_seconds"] for row in rows), default=0.0),
            "shards": rows,
        }
    return {"caught_up": caught_up, "ledger_table": table, "streams": streams}


def arrival_of(record: dict | None) -> float:
    return arrival_seconds(record) if record else 0.0


# --------------------------------------------------------------------------- building scopes


def scope_from_context(
    context: Any,
    environment: str,
    *,
    reads_per_second: float = 2.0,
    workers: int = DEFAULT_WORKERS,
    progress: Callable[[str], None] | None = None,
) -> DrainScope:
    """A DrainScope over a HookContext's AWS access, clock and sleep (any object with `spec`,
    `aws`, `client(environment, service)`, `clock`, `sleep`, `dry_run` will do)."""
    client = pooled_clients(context, environment, workers)
    reader = ShardReader(
        client("kinesis"),
        clock=context.clock,
        sleep=context.sleep,
        reads_per_second=reads_per_second,
    )
    return DrainScope(
        spec=context.spec,
        environment=environment,
        client=client,
        reader=reader,
        clock=context.clock,
        dry_run=context.dry_run,
        workers=workers,
        progress=progress,
    )


def pooled_clients(context: Any, environment: str, workers: int) -> Callable[[str], Any]:
    """service -> client whose HTTP connection pool fits `workers` threads (botocore keeps 10
    connections by default and drops the rest with a warning). Falls back to the context's own
    clients when its AWS access cannot make sessions (unit-test fakes)."""
    aws = getattr(context, "aws", None)
    if workers <= 10 or aws is None or not hasattr(aws, "session"):
        return lambda service: context.client(environment, service)
    from botocore.config import Config

    from turnout.aws import _CONFIG

    config = _CONFIG.merge(Config(max_pool_connections=workers + 4))
    clients: dict[str, Any] = {}
    lock = threading.Lock()

    def client(service: str) -> Any:
        with lock:
            if service not in clients:
                clients[service] = aws.session(environment).client(
                    service,
                    region_name=aws.region(environment),
                    endpoint_url=aws.endpoint_url,
                    config=config,
                )
            return clients[service]

    return client


def bounded_timeout(context: Any, timeout_seconds: float) -> float:
    """The hook's own timeout, shortened to the engine's deadline when that comes first."""
    remaining = context.remaining() if hasattr(context, "remaining") else None
    return timeout_seconds if remaining is None else max(0.0, min(timeout_seconds, remaining))


# The Lambda and KCL predicates live in their own modules; importing them registers them.
from turnout.drain_kcl import KclLeases  # noqa: E402, F401
from turnout.drain_lambda import LambdaMarkers, LambdaMetrics  # noqa: E402, F401
