"""The replicator's drain and lag, read from its ledger: per source shard, the last sequence
number it wrote (docs/replicator.md). Exact, unlike metrics: a shard is drained when no record
follows the ledger's sequence number."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import READ_ERRORS, error_code
from turnout.aws.kinesis import arrival_seconds, is_open
from turnout.drain.base import DrainPredicate, register
from turnout.drain.scope import DrainScope, per_shard, stream_shards
from turnout.drain.verdicts import ConsumerVerdict, ShardVerdict, Verdict, read_failure
from turnout.spec.names import names

LEDGER_BATCH = 100  # BatchGetItem takes up to 100 keys


def ledger_items(scope: DrainScope, table: str, keys: list[str]) -> dict[str, dict]:
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
        self.function_name = names(spec, environment).replicator
        self.streams = [stream.name for stream in spec.streams]
        self.name = self.function_name


@register("replicator", "ledger")
class ReplicatorLedger(DrainPredicate):
    """The replicator's ledger: `last_sequence_number` per `<stream>/<shard>` against the shard's
    content after it (exact). No ledger item and records in the shard: not drained. Ledger items
    are read 100 at a time; shards are read side by side on the scope's thread pool, each on from
    where the last check's read of it stopped when that is where the ledger still stands
    (`turnout.drain.reads`)."""

    @property
    def consumer_name(self) -> str:
        return f"replicator:{self.consumer.function_name}"

    def check(self) -> ConsumerVerdict:
        table = names(self.scope.spec, self.scope.environment).ledger_table
        shards_by_stream = stream_shards(self.scope, self.consumer.streams)
        keys = [
            f"{self.scope.physical(logical)}/{shard['ShardId']}"
            for logical, shards in shards_by_stream.items()
            for shard in shards
        ]
        try:
            ledger = ledger_items(self.scope, table, keys)
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
            following = self.scope.positions.records(
                self.scope.reader, physical, shard_id, after=after, wanted=1
            )
        except READ_ERRORS as problem:
            return read_failure(logical, shard_id, problem, detail)
        if not following:
            reason = (
                "no record after the ledger's sequence number"
                if item
                else "no ledger item and the shard holds no record"
            )
            return ShardVerdict(logical, shard_id, Verdict.DRAINED, reason, detail)
        detail["first_unreplicated"] = following[0]["SequenceNumber"]
        reason = (
            "records after the ledger's sequence number"
            if item
            else "no ledger item and the shard holds records"
        )
        return ShardVerdict(logical, shard_id, Verdict.NOT_DRAINED, reason, detail)


def replication_lag(scope: DrainScope, max_lag_seconds: float, *, max_calls: int = 10) -> dict:
    """Per source shard of the replicator in `scope.environment`: is it caught up?

    The lag of a shard is the age of its oldest record not yet replicated (now minus the
    arrival of the first record after the ledger's `last_sequence_number`; 0 when there is
    none), the same notion as an iterator age. It is measured shard by shard with the ledger
    item read right before the shard, so the time spent reading other shards never counts as
    lag. A shard with records and no ledger item is not caught up.
    Returns {"caught_up": bool, "streams": {logical: {"lag_seconds", "shards": [...]}}}.
    """
    table = names(scope.spec, scope.environment).ledger_table
    shards_by_stream = stream_shards(scope, [stream.name for stream in scope.spec.streams])
    streams: dict[str, dict] = {}
    caught_up = True
    for logical, shards in shards_by_stream.items():
        physical = scope.physical(logical)
        rows = []
        for shard in shards:
            shard_id = shard["ShardId"]
            key = f"{physical}/{shard_id}"
            item = ledger_items(scope, table, [key]).get(key)
            after = item.get("last_sequence_number") if item else None
            scan = scope.reader.scan(
                physical, shard_id, after, max_calls=max_calls, stop_at_first=True
            )
            row: dict[str, Any] = {"shard": shard_id, "ledger_sequence_number": after}
            if scan.first is None:
                row.update(lag_seconds=0.0, ok=True, reason="no record after the ledger")
            else:
                lag = max(0.0, scope.service_clock() - arrival_seconds(scan.first))
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
