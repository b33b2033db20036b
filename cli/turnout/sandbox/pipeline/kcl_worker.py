"""A KCL-style consumer for the sandbox: what the Kinesis Client Library does that turnout's drain
checks depend on, in one small worker (KCL itself is Java and is not run here).

- **Lease table in KCL's format**, created by the worker when missing, as KCL creates it: hash
  key `leaseKey` (the shard id for a single-stream application, `<account>:<stream>:<creation
  epoch>:<shard id>` for a multi-stream one), `leaseOwner`, `leaseCounter`, `checkpoint`,
  `checkpointSubSequenceNumber`, `ownerSwitchesSinceCheckpoint`, `parentShardIds`
  (https://docs.aws.amazon.com/streams/latest/dev/shared-throughput-kcl-consumers.html#shared-throughput-kcl-leasetable).
  A new lease starts at `TRIM_HORIZON` (the initial position).
- **Checkpoint after processing**: each GetRecords answer goes, in order, through the sandbox
  consumer's code (`consumer.process_batch`, what the Lambda consumers run); the lease is then
  checkpointed at the last record stored. A record the code reports unstored is read again
  (the checkpoint stays before it), so nothing is skipped and a shard's order is kept.
- **Parents first**: a shard is read only once every parent shard still listed is at
  `SHARD_END`; a closed shard read to its end (the iterator ends, or, since moto never ends one,
  the last record read is its ending sequence number) is checkpointed `SHARD_END`.

One worker holds every lease (it takes each with `leaseOwner` = its id and a higher
`leaseCounter`, and checkpoints only leases it owns); KCL's lease balancing and stealing between
workers are not modelled.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.kcl_leases import read_leases
from turnout.aws.kinesis import arrival_seconds, list_shards

from . import consumer
from .create import ensure_table

SHARD_END = "SHARD_END"
INITIAL_POSITION = "TRIM_HORIZON"


@dataclass(frozen=True)
class WorkerConfig:
    application: str
    stream_arns: tuple[str, ...]
    lease_table: str
    environment: str
    processed_table: str
    markers_table: str
    worker_id: str = field(default_factory=lambda: f"sandbox-kcl-{uuid.uuid4().hex[:8]}")
    max_records: int = 1000


@dataclass
class ShardLease:
    key: str
    stream_arn: str
    shard_id: str
    parents: tuple[str, ...]  # lease keys
    ending: str | None  # the closed shard's last sequence number
    iterator: str | None = None


Handler = Callable[[list[dict], str], dict]


class KclStyleWorker:
    def __init__(
        self,
        config: WorkerConfig,
        kinesis: Any,
        dynamodb: Any,
        handler: Handler | None = None,
    ) -> None:
        self.config = config
        self.kinesis = kinesis
        self.dynamodb = dynamodb
        self.handler = handler or self._store
        self.shards: dict[str, ShardLease] = {}
        self._prefixes: dict[str, str] = {}  # stream ARN -> its lease keys' prefix

    # ------------------------------------------------------------------ the lease table
    def ensure_lease_table(self) -> None:
        ensure_table(self.dynamodb, self.config.lease_table, "leaseKey")

    def leases(self) -> dict[str, dict]:
        """leaseKey -> the lease's attributes as plain values."""
        return {
            lease["leaseKey"]: lease
            for lease in read_leases(self.dynamodb, self.config.lease_table)
        }

    def sync(self) -> None:
        """List every stream's shards and take a lease of each (created at the initial
        position when new)."""
        for stream_arn in self.config.stream_arns:
            prefix = self._key_prefix(stream_arn)
            for shard in list_shards(self.kinesis, stream_arn):
                shard_id = shard["ShardId"]
                key = f"{prefix}{shard_id}"
                parents = tuple(
                    f"{prefix}{parent}"
                    for parent in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId"))
                    if parent
                )
                ending = shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber")
                known = self.shards.get(key)
                iterator = known.iterator if known is not None else None
                self.shards[key] = ShardLease(key, stream_arn, shard_id, parents, ending, iterator)
                if known is None:
                    self._take(key, parents)

    def _key_prefix(self, stream_arn: str) -> str:
        if len(self.config.stream_arns) == 1:
            return ""
        if stream_arn not in self._prefixes:
            summary = self.kinesis.describe_stream_summary(StreamARN=stream_arn)
            created = summary["StreamDescriptionSummary"]["StreamCreationTimestamp"]
            account, name = stream_arn.split(":")[4], stream_arn.split("/", 1)[1]
            self._prefixes[stream_arn] = f"{account}:{name}:{int(created.timestamp())}:"
        return self._prefixes[stream_arn]

    def _take(self, key: str, parents: tuple[str, ...]) -> None:
        values: dict[str, Any] = {
            ":me": {"S": self.config.worker_id},
            ":start": {"S": INITIAL_POSITION},
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
        }
        update = (
            "SET leaseOwner = :me, leaseCounter = if_not_exists(leaseCounter, :zero) + :one, "
            "checkpoint = if_not_exists(checkpoint, :start), "
            "checkpointSubSequenceNumber = if_not_exists(checkpointSubSequenceNumber, :zero), "
            "ownerSwitchesSinceCheckpoint = if_not_exists(ownerSwitchesSinceCheckpoint, :zero)"
        )
        if parents:
            update += ", parentShardIds = :parents"
            values[":parents"] = {"SS": list(parents)}
        self.dynamodb.update_item(
            TableName=self.config.lease_table,
            Key={"leaseKey": {"S": key}},
            UpdateExpression=update,
            ExpressionAttributeValues=values,
        )

    def _checkpoint(self, key: str, checkpoint: str) -> None:
        """Only a lease this worker owns (KCL refuses a checkpoint of a lost lease)."""
        self.dynamodb.update_item(
            TableName=self.config.lease_table,
            Key={"leaseKey": {"S": key}},
            UpdateExpression="SET checkpoint = :checkpoint, checkpointSubSequenceNumber = :zero, "
            "ownerSwitchesSinceCheckpoint = :zero",
            ConditionExpression="leaseOwner = :me",
            ExpressionAttributeValues={
                ":checkpoint": {"S": checkpoint},
                ":zero": {"N": "0"},
                ":me": {"S": self.config.worker_id},
            },
        )

    # ------------------------------------------------------------------ reading and processing
    def process_once(self, sync: bool = True) -> int:
        """One GetRecords of every shard whose parents are done; the records stored. `sync`:
        list the shards first (always when none is known yet)."""
        if sync or not self.shards:
            self.sync()
        leases = self.leases()
        stored = 0
        for shard in self.shards.values():
            checkpoint = (leases.get(shard.key) or {}).get("checkpoint", INITIAL_POSITION)
            if checkpoint == SHARD_END:
                continue
            if any(
                leases.get(parent, {}).get("checkpoint") != SHARD_END
                for parent in shard.parents
                if parent in self.shards
            ):
                continue  # parents are processed to their end first
            stored += self._process(shard, checkpoint)
        return stored

    def _process(self, shard: ShardLease, checkpoint: str) -> int:
        if shard.iterator is None:
            shard.iterator = self._iterator(shard, checkpoint)
        try:
            answer = self.kinesis.get_records(
                ShardIterator=shard.iterator,
                Limit=self.config.max_records,
                StreamARN=shard.stream_arn,  # moto: an iterator got by StreamARN needs it too
            )
        except ClientError as problem:
            code = problem.response["Error"]["Code"]
            if code == "ExpiredIteratorException":
                shard.iterator = None
                return 0
            if code == "ProvisionedThroughputExceededException":
                return 0  # the shard's reads are shared: read again on the next pass
            raise
        records = answer.get("Records", [])
        if records:
            unstored = self._handle(shard, records)
            done = records[:unstored] if unstored is not None else records
            if done:
                checkpoint = done[-1]["SequenceNumber"]
                self._checkpoint(shard.key, checkpoint)
            if unstored is not None:
                shard.iterator = None  # read again from the checkpoint
                return len(done)
        shard.iterator = answer.get("NextShardIterator")
        if shard.iterator is None or _closed_and_read(shard, checkpoint, records, answer):
            self._checkpoint(shard.key, SHARD_END)
        return len(records)

    def _iterator(self, shard: ShardLease, checkpoint: str) -> str:
        arguments: dict[str, Any] = {"StreamARN": shard.stream_arn, "ShardId": shard.shard_id}
        if checkpoint == INITIAL_POSITION:
            arguments["ShardIteratorType"] = INITIAL_POSITION
        else:
            arguments.update(
                ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=checkpoint
            )
        return self.kinesis.get_shard_iterator(**arguments)["ShardIterator"]

    def _handle(self, shard: ShardLease, records: list[dict]) -> int | None:
        """Index of the first record the code did not store, None when all were stored."""
        event_records = [_as_lambda_record(shard, record) for record in records]
        answer = self.handler(event_records, uuid.uuid4().hex)
        failures = answer.get("batchItemFailures") or []
        if not failures:
            return None
        first = failures[0].get("itemIdentifier")
        # Lambda retries the whole batch when the identifier names none of its records.
        return next((i for i, r in enumerate(records) if r["SequenceNumber"] == first), 0)

    def _store(self, records: list[dict], request_id: str) -> dict:
        return consumer.process_batch(
            records,
            environment=self.config.environment,
            consumer=self.config.application,
            request_id=request_id,
            table=self.config.processed_table,
            markers_table=self.config.markers_table,
            dynamodb=self.dynamodb,
        )


def _closed_and_read(shard: ShardLease, checkpoint: str, records: list, answer: dict) -> bool:
    """A closed shard read to its end. AWS ends the iterator there; moto never does, so also:
    its ending sequence number processed, or nothing more at its tip."""
    if shard.ending is None:
        return False
    if checkpoint != INITIAL_POSITION and int(checkpoint) >= int(shard.ending):
        return True
    return not records and answer.get("MillisBehindLatest") == 0


def _as_lambda_record(shard: ShardLease, record: dict) -> dict:
    """A GetRecords record in the shape of a Lambda Kinesis event record (what the consumer's
    code reads)."""
    return {
        "kinesis": {
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": record["SequenceNumber"],
            "data": base64.b64encode(record["Data"]).decode("ascii"),
            "approximateArrivalTimestamp": arrival_seconds(record),
        },
        "eventID": f"{shard.shard_id}:{record['SequenceNumber']}",
        "eventSourceARN": shard.stream_arn,
    }
