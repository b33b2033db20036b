"""The drain predicate of KCL applications: the lease table against each shard's content.

Per shard (a lease's `leaseKey` is the shard id, or `<account>:<stream>:<creation epoch>:<shard
id>` for a multi-stream application):

- `checkpoint` SHARD_END: drained (KCL read the shard to its end and processed it);
- a sequence number: drained when no record follows it, and when the checkpointed record is a
  KPL-aggregated record, `checkpointSubSequenceNumber` is its last sub-record (KCL checkpoints a
  user record inside an aggregated record as sequence number + sub-sequence number);
- TRIM_HORIZON / LATEST / AT_TIMESTAMP (nothing checkpointed yet): drained only if the shard
  holds no record;
- `pendingCheckpoint` (KCL's prepared, not yet committed checkpoint) proves nothing: a restarted
  worker resumes from `checkpoint`. It is shown, never counted;
- a lease without `checkpoint`: unknown (not a KCL lease we can read);
- no lease: KCL deletes the lease of a finished parent shard, but only once every child shard's
  lease has a checkpoint other than TRIM_HORIZON / AT_TIMESTAMP, and it starts a child only after
  its parents reached SHARD_END (we also take LATEST as "not started", see docs/drain.md). So a shard without a lease is drained when a descendant's lease (found through
  ListShards' parent ids or the lease's `parentShardIds`) is checkpointed past TRIM_HORIZON, or
  when the shard holds no record; otherwise its records were not processed: not drained.
  (Caveat: an application started at LATEST after a reshard never leased the parents; their
  records predate it and count as not processed by it, which is what a drain check must say.)

Shards are judged side by side on the scope's thread pool; a shard that cannot be read is
unknown.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import READ_ERRORS, error_code
from turnout.aws.kcl_leases import leases_of_stream, read_leases
from turnout.aws.kinesis import children_of, is_open
from turnout.drain.base import DrainPredicate, register
from turnout.drain.scope import per_shard, stream_shards
from turnout.drain.verdicts import ConsumerVerdict, ShardVerdict, Verdict, read_failure
from turnout.lambdas.replicator.aggregates import sub_records

NOT_STARTED = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")


@register("kcl", "leases")
class KclLeases(DrainPredicate):
    """KCL's lease table: per shard the committed checkpoint against the shard's content."""

    def _leases(self) -> list[dict]:
        return read_leases(self.scope.client("dynamodb"), self.consumer.lease_table)

    def _leases_of(self, leases: list[dict], physical: str) -> dict[str, dict]:
        return leases_of_stream(leases, physical, single_stream=len(self.consumer.streams) == 1)

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
        work = []
        for logical, shards in stream_shards(self.scope, self.consumer.streams).items():
            physical = self.scope.physical(logical)
            by_shard = self._leases_of(leases, physical)
            work.extend((logical, physical, shard, shards, by_shard) for shard in shards)
        verdicts = per_shard(
            self.scope, work, lambda entry: self._shard_verdict(*entry), f"{self.consumer_name}"
        )
        return self._verdict(verdicts)

    def _shard_verdict(
        self, logical: str, physical: str, shard: dict, shards: list[dict], leases: dict[str, dict]
    ) -> ShardVerdict:
        shard_id = shard["ShardId"]
        lease = leases.get(shard_id)
        if lease is None:
            return self._without_lease(logical, physical, shard, shards, leases)
        checkpoint = lease.get("checkpoint")
        detail: dict[str, Any] = {
            "checkpoint": checkpoint,
            "checkpoint_sub_sequence_number": _int_or_none(
                lease.get("checkpointSubSequenceNumber")
            ),
            "lease_owner": lease.get("leaseOwner"),
            "open": is_open(shard),
        }
        if lease.get("pendingCheckpoint") is not None:
            detail["pending_checkpoint"] = lease["pendingCheckpoint"]
        pending = " (a pendingCheckpoint is prepared, not committed: it does not count)"
        pending = pending if "pending_checkpoint" in detail else ""
        if checkpoint is None:
            return ShardVerdict(
                logical, shard_id, Verdict.UNKNOWN, "lease without a checkpoint", detail
            )
        if checkpoint == "SHARD_END":
            return ShardVerdict(logical, shard_id, Verdict.DRAINED, "checkpoint SHARD_END", detail)
        if checkpoint not in NOT_STARTED and not (
            str(checkpoint).isascii() and str(checkpoint).isdigit()
        ):
            return ShardVerdict(
                logical, shard_id, Verdict.UNKNOWN, f"unreadable checkpoint {checkpoint!r}", detail
            )
        try:
            if checkpoint in NOT_STARTED:
                records = self._records(physical, shard_id, None, 1)
                if not records:
                    return ShardVerdict(
                        logical,
                        shard_id,
                        Verdict.DRAINED,
                        f"checkpoint {checkpoint} and the shard holds no record",
                        detail,
                    )
                detail["first_unprocessed"] = records[0]["SequenceNumber"]
                return ShardVerdict(
                    logical,
                    shard_id,
                    Verdict.NOT_DRAINED,
                    f"checkpoint {checkpoint} (nothing processed) and the shard holds records"
                    + pending,
                    detail,
                )
            records = self._records(physical, shard_id, str(checkpoint), 2)
        except READ_ERRORS as problem:
            return read_failure(logical, shard_id, problem, detail)
        at = int(checkpoint)
        following = [record for record in records if int(record["SequenceNumber"]) > at]
        if following:
            detail["first_unprocessed"] = following[0]["SequenceNumber"]
            return ShardVerdict(
                logical,
                shard_id,
                Verdict.NOT_DRAINED,
                "records after the checkpoint" + pending,
                detail,
            )
        checkpointed = next((r for r in records if int(r["SequenceNumber"]) == at), None)
        sub = detail["checkpoint_sub_sequence_number"] or 0
        count = aggregated_record_count(checkpointed["Data"]) if checkpointed else None
        if count is not None and sub < count - 1:
            detail["aggregated_sub_records"] = count
            return ShardVerdict(
                logical,
                shard_id,
                Verdict.NOT_DRAINED,
                f"checkpoint at sub-record {sub} of an aggregated record of {count} sub-records"
                + pending,
                detail,
            )
        return ShardVerdict(
            logical, shard_id, Verdict.DRAINED, "no record after the checkpoint", detail
        )

    def _without_lease(
        self,
        logical: str,
        physical: str,
        shard: dict,
        shards: list[dict],
        leases: dict[str, dict],
    ) -> ShardVerdict:
        shard_id = shard["ShardId"]
        started = started_descendant(shard_id, shards, leases)
        detail: dict[str, Any] = {"lease": None, "open": is_open(shard)}
        if started:
            detail["started_descendant"] = started
            return ShardVerdict(
                logical,
                shard_id,
                Verdict.DRAINED,
                f"no lease, and descendant {started} is checkpointed past TRIM_HORIZON "
                "(KCL starts a child after its parents reached SHARD_END and deletes a "
                "finished parent's lease only then)",
                detail,
            )
        try:
            records = self._records(physical, shard_id, None, 1)
        except READ_ERRORS as problem:
            return read_failure(logical, shard_id, problem, detail)
        if not records:
            return ShardVerdict(
                logical, shard_id, Verdict.DRAINED, "no lease and the shard holds no record", detail
            )
        detail["first_unprocessed"] = records[0]["SequenceNumber"]
        return ShardVerdict(
            logical,
            shard_id,
            Verdict.NOT_DRAINED,
            "no lease, records in the shard, and no descendant checkpointed past TRIM_HORIZON "
            "(KCL deletes a lease only after a child started): not processed",
            detail,
        )

    def _records(self, physical: str, shard_id: str, at: str | None, wanted: int) -> list[dict]:
        """Up to `wanted` records from the shard's start (`at` None) or AT_SEQUENCE_NUMBER `at`.
        A short page ends the read only when MillisBehindLatest is 0 (AWS may return fewer
        records, even none, while more remain further on); usually one GetRecords call, and no
        GetShardIterator when the last check stopped there (`turnout.drain.reads`)."""
        return self.scope.positions.records(
            self.scope.reader, physical, shard_id, at=at, wanted=wanted
        )


def started_descendant(shard_id: str, shards: list[dict], leases: dict[str, dict]) -> str | None:
    """A descendant shard (children, grandchildren ...) whose lease is checkpointed past
    TRIM_HORIZON (a sequence number or SHARD_END), or None."""
    seen: set[str] = set()
    pending = [shard_id]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        children = {child["ShardId"] for child in children_of(shards, current)}
        children |= {
            key
            for key, lease in leases.items()
            if current
            in {str(parent).split(":")[-1] for parent in lease.get("parentShardIds") or []}
        }
        for child in sorted(children):
            checkpoint = (leases.get(child) or {}).get("checkpoint")
            if checkpoint is not None and checkpoint not in NOT_STARTED:
                return child
            pending.append(child)
    return None


def aggregated_record_count(data: bytes | None) -> int | None:
    """The number of user records in a KPL-aggregated record, or None when `data` is not one
    (lambdas/replicator/aggregates.py reads the format)."""
    subs = sub_records(data) if data else None
    return None if subs is None else len(subs)


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
