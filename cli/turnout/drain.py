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
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from turnout.phases import peer_of
from turnout.streams import (
    ShardReader,
    arrival_seconds,
    children_of,
    error_code,
    is_open,
    list_shards,
    mappings_reading,
    open_descendants,
    stream_arn,
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


@dataclass
class DrainScope:
    """What a predicate may use: the spec, one environment's clients, a paced reader, time."""

    spec: Any
    environment: str
    client: Callable[[str], Any]  # service -> boto3 client of this environment
    reader: ShardReader
    clock: Callable[[], float]
    dry_run: bool = False

    def stream(self, logical: str) -> Any:
        return next(stream for stream in self.spec.streams if stream.name == logical)

    def physical(self, logical: str) -> str:
        return self.stream(logical).name_in(self.environment)

    @property
    def prefix(self) -> str:
        return getattr(self.spec.environments, self.environment).name_prefix


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


# --------------------------------------------------------------------------- Lambda: markers


@register("lambda", "markers")
class LambdaMarkers(DrainPredicate):
    """Marker records the consumer acknowledges in the markers table of its environment.

    One marker per open shard of each consumer stream, put with ExplicitHashKey = the shard's
    StartingHashKey so it lands in that shard. A consumer that reached the marker has processed
    every record before it in that shard (Lambda delivers a shard in order). A closed shard cannot
    take a marker: it counts as drained when the markers in its open descendants are acknowledged,
    because Lambda finishes a parent shard before it starts its children.
    """

    def __init__(self, consumer: Any, scope: DrainScope, **settings: Any) -> None:
        super().__init__(consumer, scope, **settings)
        self.markers: dict[tuple[str, str], dict] = {}  # (logical, shard id) -> marker
        self.acknowledged: dict[str, dict] = {}  # marker id -> ack item
        self.table = markers_table_name(scope.spec, scope.environment)

    def prepare(self) -> dict:
        return {"markers_table": self.table, "markers": self._ensure_markers()}

    def _ensure_markers(self) -> list[dict]:
        """Put a marker into every open shard that has none yet (new children included)."""
        kinesis = self.scope.client("kinesis")
        put = []
        for logical, shards in _shards_by_stream(self.scope, self.consumer.streams).items():
            for shard in shards:
                key = (logical, shard["ShardId"])
                if not is_open(shard) or key in self.markers:
                    continue
                marker = {
                    "id": uuid.uuid4().hex,
                    "migration": self.scope.spec.migration,
                    "environment": self.scope.environment,
                    "stream": logical,
                    "shard": shard["ShardId"],
                    "consumer": self.consumer.function_name,
                }
                if self.scope.dry_run:
                    put.append({**marker, "id": None, "dry_run": True})
                    continue
                response = kinesis.put_record(
                    StreamName=self.scope.physical(logical),
                    Data=json.dumps({"turnout_marker": marker}, sort_keys=True).encode(),
                    PartitionKey=f"turnout-marker-{marker['id']}",
                    ExplicitHashKey=shard["HashKeyRange"]["StartingHashKey"],
                )
                marker["sequence_number"] = response["SequenceNumber"]
                marker["landed_in"] = response["ShardId"]
                marker["put_at"] = self.scope.clock()
                self.markers[key] = marker
                put.append(marker)
        return put

    def _acknowledgement(self, marker: dict) -> dict | None:
        if marker["id"] in self.acknowledged:
            return self.acknowledged[marker["id"]]
        item = (
            self.scope.client("dynamodb")
            .get_item(
                TableName=self.table, Key={"marker_id": {"S": marker["id"]}}, ConsistentRead=True
            )
            .get("Item")
        )
        if item is None:
            return None
        ack = {key: next(iter(value.values())) for key, value in item.items()}
        if ack.get("consumer") != self.consumer.function_name:
            return {**ack, "wrong_consumer": True}
        self.acknowledged[marker["id"]] = ack
        return ack

    def _mappings_disabled(self, logical: str) -> bool:
        arn = stream_arn(self.scope.client("kinesis"), self.scope.physical(logical))
        mappings = mappings_reading(self.scope.client("lambda"), self.consumer.function_name, [arn])
        return all(mapping["State"] == "Disabled" for mapping in mappings)

    def check(self) -> ConsumerVerdict:
        if self.scope.dry_run:
            return self._verdict([], note="dry run: no marker was put, so there is no evidence")
        try:
            self._ensure_markers()
            shards_by_stream = _shards_by_stream(self.scope, self.consumer.streams)
            verdicts = []
            for logical, shards in shards_by_stream.items():
                disabled: bool | None = None
                for shard in shards:
                    shard_id = shard["ShardId"]
                    if is_open(shard):
                        watched = [shard]
                        how = "marker"
                    else:
                        watched = open_descendants(shards, shard_id)
                        how = "children's markers"
                        if not watched:
                            verdicts.append(
                                ShardVerdict(
                                    logical,
                                    shard_id,
                                    Verdict.UNKNOWN,
                                    "closed shard without an open descendant to hold a marker",
                                )
                            )
                            continue
                    missing = []
                    wrong = []
                    for child in watched:
                        marker = self.markers.get((logical, child["ShardId"]))
                        ack = self._acknowledgement(marker) if marker else None
                        if ack is None or ack.get("wrong_consumer"):
                            missing.append(child["ShardId"])
                        if ack and ack.get("wrong_consumer"):
                            wrong.append(ack.get("consumer"))
                    detail = {
                        "markers": {
                            child["ShardId"]: self.markers.get((logical, child["ShardId"]), {}).get(
                                "id"
                            )
                            for child in watched
                        }
                    }
                    if not missing:
                        verdicts.append(
                            ShardVerdict(
                                logical, shard_id, Verdict.DRAINED, f"{how} acknowledged", detail
                            )
                        )
                        continue
                    if disabled is None:
                        disabled = self._mappings_disabled(logical)
                    detail["unacknowledged"] = missing
                    if wrong:
                        detail["acknowledged_by_other_consumer"] = wrong
                    if disabled:
                        verdicts.append(
                            ShardVerdict(
                                logical,
                                shard_id,
                                Verdict.UNKNOWN,
                                f"{how} not acknowledged and the function's mapping is "
                                "Disabled (or absent): a paused consumer cannot drain",
                                detail,
                            )
                        )
                    else:
                        verdicts.append(
                            ShardVerdict(
                                logical,
                                shard_id,
                                Verdict.NOT_DRAINED,
                                f"{how} not acknowledged yet",
                                detail,
                            )
                        )
            return self._verdict(verdicts)
        except ClientError as problem:
            if error_code(problem) == "ResourceNotFoundException":
                hint = (
                    f" (is the markers table {self.table} deployed in {self.scope.environment}?)"
                    if problem.operation_name == "GetItem"
                    else ""
                )
                message = problem.response["Error"].get("Message", "")
                return self._verdict([], note=f"{problem.operation_name}: {message}{hint}")
            raise


# --------------------------------------------------------------------------- Lambda: metrics


@register("lambda", "metrics")
class LambdaMetrics(DrainPredicate):
    """CloudWatch evidence: AWS/Kinesis IncomingRecords per stream, AWS/Lambda IteratorAge and
    Invocations of the function.

    Drained only when IncomingRecords is 0 in each of the last `quiet_periods` complete periods
    of every stream AND the function's IteratorAge datapoints after the last period with incoming
    records settled at or below `max_iterator_age_ms`. A missing datapoint is unknown, never
    drained. The evidence is per stream (metrics have no shard dimension here): shard "*".
    """

    def _settings(self) -> tuple[int, int, int, float]:
        period = int(self.settings.get("period_seconds", 60))
        quiet = int(self.settings.get("quiet_periods", 5))
        lookback = max(int(self.settings.get("lookback_periods", 60)), quiet + 1)
        max_age = float(self.settings.get("max_iterator_age_ms", 5000))
        return period, quiet, lookback, max_age

    def _series(self, queries: list[dict], start: datetime, end: datetime) -> dict[str, dict]:
        cloudwatch = self.scope.client("cloudwatch")
        series: dict[str, dict[float, float]] = {query["Id"]: {} for query in queries}
        token: str | None = None
        while True:
            arguments: dict[str, Any] = {
                "MetricDataQueries": queries,
                "StartTime": start,
                "EndTime": end,
                "ScanBy": "TimestampAscending",
            }
            if token:
                arguments["NextToken"] = token
            page = cloudwatch.get_metric_data(**arguments)
            for result in page.get("MetricDataResults", []):
                for stamp, value in zip(
                    result.get("Timestamps", []), result.get("Values", []), strict=False
                ):
                    series[result["Id"]][stamp.timestamp()] = value
            token = page.get("NextToken")
            if not token:
                return series

    def check(self) -> ConsumerVerdict:
        period, quiet, lookback, max_age = self._settings()
        now = self.scope.clock()
        end_ts = (int(now) // period) * period  # the current period is incomplete: exclude it
        start_ts = end_ts - lookback * period

        def stat(query_id: str, namespace: str, metric: str, dimension: tuple, statistic: str):
            return {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": metric,
                        "Dimensions": [{"Name": dimension[0], "Value": dimension[1]}],
                    },
                    "Period": period,
                    "Stat": statistic,
                },
                "ReturnData": True,
            }

        function = self.consumer.function_name
        queries = [
            stat("age", "AWS/Lambda", "IteratorAge", ("FunctionName", function), "Maximum"),
            stat("inv", "AWS/Lambda", "Invocations", ("FunctionName", function), "Sum"),
        ]
        for index, logical in enumerate(self.consumer.streams):
            queries.append(
                stat(
                    f"in{index}",
                    "AWS/Kinesis",
                    "IncomingRecords",
                    ("StreamName", self.scope.physical(logical)),
                    "Sum",
                )
            )
        series = self._series(
            queries, datetime.fromtimestamp(start_ts, UTC), datetime.fromtimestamp(end_ts, UTC)
        )
        quiet_periods = [end_ts - k * period for k in range(quiet, 0, -1)]
        incoming_all: dict[float, float] = {}
        stream_problems: dict[str, tuple[Verdict, str, dict]] = {}
        for index, logical in enumerate(self.consumer.streams):
            points = series[f"in{index}"]
            for stamp, value in points.items():
                incoming_all[stamp] = incoming_all.get(stamp, 0.0) + value
            missing = [stamp for stamp in quiet_periods if stamp not in points]
            busy = {stamp: points[stamp] for stamp in quiet_periods if points.get(stamp, 0) > 0}
            detail = {
                "quiet_periods": quiet,
                "period_seconds": period,
                "incoming_records": {_iso(stamp): value for stamp, value in sorted(points.items())},
            }
            if busy:
                stream_problems[logical] = (
                    Verdict.NOT_DRAINED,
                    f"IncomingRecords > 0 in {len(busy)} of the last {quiet} periods",
                    detail,
                )
            elif missing:
                stream_problems[logical] = (
                    Verdict.UNKNOWN,
                    f"no IncomingRecords datapoint for {len(missing)} of the last {quiet} periods "
                    "(missing datapoints are never read as zero)",
                    detail,
                )
            else:
                stream_problems[logical] = (Verdict.DRAINED, "", detail)
        busy_stamps = [stamp for stamp, value in incoming_all.items() if value > 0]
        last_incoming = max(busy_stamps) if busy_stamps else None
        ages = {
            stamp: value
            for stamp, value in series["age"].items()
            if last_incoming is None or stamp >= last_incoming
        }
        invocations = sum(
            value
            for stamp, value in series["inv"].items()
            if last_incoming is None or stamp >= last_incoming
        )
        function_detail = {
            "last_incoming_period": _iso(last_incoming) if last_incoming is not None else None,
            "iterator_age_ms": {_iso(stamp): value for stamp, value in sorted(ages.items())},
            "invocations_since": invocations,
            "max_iterator_age_ms": max_age,
        }
        if not ages:
            function_verdict = (
                Verdict.UNKNOWN,
                "no IteratorAge datapoint for the function after the last incoming record "
                "(not invoked since: paused, failing, or metrics not published)",
            )
        else:
            newest = ages[max(ages)]
            if newest <= max_age:
                function_verdict = (
                    Verdict.DRAINED,
                    f"IteratorAge settled at {newest:.0f} ms",
                )
            else:
                function_verdict = (
                    Verdict.NOT_DRAINED,
                    f"IteratorAge {newest:.0f} ms > {max_age:.0f} ms at {_iso(max(ages))}",
                )
        shards = []
        for logical in self.consumer.streams:
            verdict, reason, detail = stream_problems[logical]
            detail = {**detail, **function_detail}
            if verdict is Verdict.DRAINED:
                verdict, reason = (
                    function_verdict[0],
                    (f"no incoming records for {quiet} periods; {function_verdict[1]}"),
                )
            shards.append(ShardVerdict(logical, "*", verdict, reason, detail))
        return self._verdict(shards)


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- KCL: lease table


def _shard_has_records_after(
    scope: DrainScope, physical: str, shard_id: str, after: str | None
) -> dict | None:
    return scope.reader.first_record_after(physical, shard_id, after)


@register("kcl", "leases")
class KclLeases(DrainPredicate):
    """KCL's lease table: per shard (leaseKey) the `checkpoint` against the shard's content.

    - checkpoint SHARD_END: drained (KCL finished the shard);
    - a sequence number: drained when no record follows it (AFTER_SEQUENCE_NUMBER reads nothing);
    - TRIM_HORIZON / LATEST / AT_TIMESTAMP (nothing processed yet): drained only if the shard
      holds no record;
    - no lease: drained only for a closed parent whose children have leases (KCL deletes a
      finished parent's lease), else not drained.
    Lease keys are the shard id (single-stream application) or
    `<account>:<stream>:<creation epoch>:<shard id>` (multi-stream application).
    """

    def _leases(self) -> list[dict]:
        dynamodb = self.scope.client("dynamodb")
        items: list[dict] = []
        arguments: dict[str, Any] = {"TableName": self.consumer.lease_table, "ConsistentRead": True}
        while True:
            page = dynamodb.scan(**arguments)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return [
                    {key: next(iter(value.values())) for key, value in item.items()}
                    for item in items
                ]
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _lease_for(self, leases: list[dict], physical: str, shard_id: str) -> dict | None:
        for lease in leases:
            key = str(lease.get("leaseKey", ""))
            if key == shard_id and len(self.consumer.streams) == 1:
                return lease
            parts = key.split(":")
            if len(parts) >= 4 and parts[-1] == shard_id and parts[-3] == physical:
                return lease
        return None

    def check(self) -> ConsumerVerdict:
        try:
            leases = self._leases()
        except ClientError as problem:
            if error_code(problem) == "ResourceNotFoundException":
                return self._verdict(
                    [],
                    note=f"lease table {self.consumer.lease_table} not found in "
                    f"{self.scope.environment}",
                )
            raise
        verdicts = []
        for logical, shards in _shards_by_stream(self.scope, self.consumer.streams).items():
            physical = self.scope.physical(logical)
            for shard in shards:
                shard_id = shard["ShardId"]
                lease = self._lease_for(leases, physical, shard_id)
                verdicts.append(
                    self._shard_verdict(logical, physical, shard, shards, lease, leases)
                )
        return self._verdict(verdicts)

    def _shard_verdict(
        self,
        logical: str,
        physical: str,
        shard: dict,
        shards: list[dict],
        lease: dict | None,
        leases: list[dict],
    ) -> ShardVerdict:
        shard_id = shard["ShardId"]
        if lease is None:
            children = children_of(shards, shard_id)
            leased = [
                child["ShardId"]
                for child in children
                if self._lease_for(leases, physical, child["ShardId"]) is not None
            ]
            if not is_open(shard) and children and len(leased) == len(children):
                return ShardVerdict(
                    logical,
                    shard_id,
                    Verdict.DRAINED,
                    "closed parent without a lease whose children have leases "
                    "(KCL deletes a finished parent's lease)",
                    {"children": leased},
                )
            return ShardVerdict(logical, shard_id, Verdict.NOT_DRAINED, "no lease for this shard")
        checkpoint = lease.get("checkpoint")
        detail = {"checkpoint": checkpoint, "lease_owner": lease.get("leaseOwner")}
        if checkpoint == "SHARD_END":
            return ShardVerdict(logical, shard_id, Verdict.DRAINED, "checkpoint SHARD_END", detail)
        after = (
            None if checkpoint in (None, "TRIM_HORIZON", "LATEST", "AT_TIMESTAMP") else checkpoint
        )
        record = _shard_has_records_after(self.scope, physical, shard_id, after)
        if record is None:
            reason = (
                "no record after the checkpoint"
                if after
                else f"checkpoint {checkpoint} and the shard holds no record"
            )
            return ShardVerdict(logical, shard_id, Verdict.DRAINED, reason, detail)
        detail["first_unprocessed"] = record["SequenceNumber"]
        reason = (
            "records after the checkpoint"
            if after
            else f"checkpoint {checkpoint} (nothing processed) and the shard holds records"
        )
        return ShardVerdict(logical, shard_id, Verdict.NOT_DRAINED, reason, detail)


# --------------------------------------------------------------------------- replicator: ledger


def _ledger_items(scope: DrainScope, table: str, keys: list[str]) -> dict[str, dict]:
    dynamodb = scope.client("dynamodb")
    found: dict[str, dict] = {}
    for key in keys:
        item = dynamodb.get_item(
            TableName=table, Key={"shard_key": {"S": key}}, ConsistentRead=True
        ).get("Item")
        if item:
            found[key] = {name: next(iter(value.values())) for name, value in item.items()}
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
    content after it (exact). No ledger item and records in the shard: not drained."""

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
        verdicts = []
        for logical, shards in shards_by_stream.items():
            physical = self.scope.physical(logical)
            for shard in shards:
                shard_id = shard["ShardId"]
                item = ledger.get(f"{physical}/{shard_id}")
                after = item.get("last_sequence_number") if item else None
                detail = {
                    "ledger_sequence_number": after,
                    "ledger_record_count": int(item["record_count"])
                    if item and "record_count" in item
                    else None,
                    "open": is_open(shard),
                }
                record = _shard_has_records_after(self.scope, physical, shard_id, after)
                if record is None:
                    reason = (
                        "no record after the ledger's sequence number"
                        if item
                        else "no ledger item and the shard holds no record"
                    )
                    verdicts.append(
                        ShardVerdict(logical, shard_id, Verdict.DRAINED, reason, detail)
                    )
                else:
                    detail["first_unreplicated"] = record["SequenceNumber"]
                    reason = (
                        "records after the ledger's sequence number"
                        if item
                        else "no ledger item and the shard holds records"
                    )
                    verdicts.append(
                        ShardVerdict(logical, shard_id, Verdict.NOT_DRAINED, reason, detail)
                    )
        return self._verdict(verdicts)


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
    context: Any, environment: str, *, reads_per_second: float = 2.0
) -> DrainScope:
    """A DrainScope over a HookContext's clients, clock and sleep."""
    reader = ShardReader(
        context.client(environment, "kinesis"),
        clock=context.clock,
        sleep=context.sleep,
        reads_per_second=reads_per_second,
    )
    return DrainScope(
        spec=context.spec,
        environment=environment,
        client=lambda service: context.client(environment, service),
        reader=reader,
        clock=context.clock,
        dry_run=context.dry_run,
    )


def bounded_timeout(context: Any, timeout_seconds: float) -> float:
    """The hook's own timeout, shortened to the engine's deadline when that comes first."""
    remaining = context.remaining() if hasattr(context, "remaining") else None
    return timeout_seconds if remaining is None else max(0.0, min(timeout_seconds, remaining))
