"""In-memory Kinesis, DynamoDB, Lambda and CloudWatch for the drain predicates' unit tests.

The fake Kinesis models what AWS does and moto does not: resharding closes a parent (it keeps
its records, takes no new ones) and routes new records by hash key to its open children.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from turnout.spec.model import MigrationSpec

MAX_HASH = 2**128 - 1


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"fake {code}"}}, operation)


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class FakeShard:
    shard_id: str
    start: int
    end: int
    parent: str | None = None
    adjacent: str | None = None
    closed: bool = False
    records: list[dict] = field(default_factory=list)
    next_seq: int = 1

    def describe(self) -> dict:
        shard: dict[str, Any] = {
            "ShardId": self.shard_id,
            "HashKeyRange": {"StartingHashKey": str(self.start), "EndingHashKey": str(self.end)},
            "SequenceNumberRange": {"StartingSequenceNumber": "1"},
        }
        if self.parent:
            shard["ParentShardId"] = self.parent
        if self.adjacent:
            shard["AdjacentParentShardId"] = self.adjacent
        if self.closed:
            shard["SequenceNumberRange"]["EndingSequenceNumber"] = str(self.next_seq - 1 or 1)
        return shard


class FakeKinesis:
    def __init__(self, clock: FakeClock, account: str = "111111111111") -> None:
        self.clock = clock
        self.account = account
        self.streams: dict[str, list[FakeShard]] = {}
        self.calls: list[str] = []
        self.retention_hours = 24  # the AWS default (DescribeStreamSummary RetentionPeriodHours)

    # ---------------------------------------------------------------- test setup
    def create(self, name: str, shards: int = 1) -> None:
        width = (MAX_HASH + 1) // shards
        self.streams[name] = [
            FakeShard(
                f"shardId-{index:012d}",
                index * width,
                MAX_HASH if index == shards - 1 else (index + 1) * width - 1,
            )
            for index in range(shards)
        ]

    def shard(self, stream: str, shard_id: str) -> FakeShard:
        return next(shard for shard in self.streams[stream] if shard.shard_id == shard_id)

    def split(self, stream: str, shard_id: str) -> tuple[str, str]:
        """AWS-like split: the parent closes and keeps its records; two children take over."""
        parent = self.shard(stream, shard_id)
        parent.closed = True
        middle = (parent.start + parent.end) // 2
        count = len(self.streams[stream])
        children = [
            FakeShard(f"shardId-{count:012d}", parent.start, middle, parent=shard_id),
            FakeShard(f"shardId-{count + 1:012d}", middle + 1, parent.end, parent=shard_id),
        ]
        self.streams[stream].extend(children)
        return children[0].shard_id, children[1].shard_id

    def add(self, stream: str, shard_id: str, data: str = "x") -> str:
        shard = self.shard(stream, shard_id)
        seq = str(shard.next_seq * 1000)  # wide numbers: compare as integers
        shard.next_seq += 1
        shard.records.append(
            {
                "SequenceNumber": seq,
                "Data": data.encode(),
                "PartitionKey": "k",
                "ApproximateArrivalTimestamp": datetime.fromtimestamp(self.clock.time(), UTC),
            }
        )
        return seq

    # ---------------------------------------------------------------- API
    def list_shards(self, StreamName: str | None = None, NextToken: str | None = None) -> dict:
        self.calls.append("ListShards")
        if StreamName not in self.streams:
            raise client_error("ResourceNotFoundException", "ListShards")
        return {"Shards": [shard.describe() for shard in self.streams[StreamName]]}

    def describe_stream_summary(self, StreamName: str) -> dict:
        return {
            "StreamDescriptionSummary": {
                "StreamARN": f"arn:aws:kinesis:eu-west-1:{self.account}:stream/{StreamName}",
                "RetentionPeriodHours": self.retention_hours,
            }
        }

    def get_shard_iterator(self, **kwargs: Any) -> dict:
        self.calls.append("GetShardIterator")
        shard = self.shard(kwargs["StreamName"], kwargs["ShardId"])
        kind = kwargs["ShardIteratorType"]
        if kind == "TRIM_HORIZON":
            position = 0
        elif kind == "LATEST":
            position = len(shard.records)
        elif kind == "AFTER_SEQUENCE_NUMBER":
            after = int(kwargs["StartingSequenceNumber"])
            position = sum(1 for record in shard.records if int(record["SequenceNumber"]) <= after)
        elif kind == "AT_SEQUENCE_NUMBER":
            at = int(kwargs["StartingSequenceNumber"])
            position = sum(1 for record in shard.records if int(record["SequenceNumber"]) < at)
        elif kind == "AT_TIMESTAMP":
            position = sum(
                1
                for record in shard.records
                if record["ApproximateArrivalTimestamp"].timestamp() < kwargs["Timestamp"]
            )
        else:
            raise ValueError(kind)
        return {"ShardIterator": json.dumps([kwargs["StreamName"], shard.shard_id, position])}

    def get_records(self, ShardIterator: str, Limit: int | None = None) -> dict:
        self.calls.append("GetRecords")
        stream, shard_id, position = json.loads(ShardIterator)
        shard = self.shard(stream, shard_id)
        records = shard.records[position : position + (Limit or 10000)]
        position += len(records)
        page: dict[str, Any] = {"Records": records, "MillisBehindLatest": 0}
        if not (shard.closed and position >= len(shard.records)):
            page["NextShardIterator"] = json.dumps([stream, shard_id, position])
        return page

    def put_record(self, StreamName: str, Data: bytes, PartitionKey: str, **kwargs: Any) -> dict:
        hash_key = int(
            kwargs.get("ExplicitHashKey") or int(hashlib.md5(PartitionKey.encode()).hexdigest(), 16)
        )
        shard = next(
            shard
            for shard in self.streams[StreamName]
            if not shard.closed and shard.start <= hash_key <= shard.end
        )
        seq = self.add(StreamName, shard.shard_id, Data.decode())
        return {"ShardId": shard.shard_id, "SequenceNumber": seq}


class FakeDynamoDB:
    def __init__(self) -> None:
        self.tables: dict[str, dict[str, dict]] = {}
        self.keys: dict[str, str] = {}
        self.batch_limit = 100
        self.batch_calls = 0

    def create(self, table: str, key: str) -> None:
        self.tables[table] = {}
        self.keys[table] = key

    def put(self, table: str, item: dict[str, Any]) -> None:
        encoded = {name: _encode(value) for name, value in item.items()}
        self.tables[table][str(item[self.keys[table]])] = encoded

    def _table(self, name: str, operation: str) -> dict:
        if name not in self.tables:
            raise client_error("ResourceNotFoundException", operation)
        return self.tables[name]

    def get_item(self, TableName: str, Key: dict, ConsistentRead: bool = False) -> dict:
        table = self._table(TableName, "GetItem")
        item = table.get(next(iter(next(iter(Key.values())).values())))
        return {"Item": item} if item else {}

    def scan(self, TableName: str, **kwargs: Any) -> dict:
        return {"Items": list(self._table(TableName, "Scan").values())}

    def batch_get_item(self, RequestItems: dict) -> dict:
        """Answers at most `batch_limit` keys per call; the rest come back as UnprocessedKeys
        (DynamoDB does that under load)."""
        self.batch_calls += 1
        responses: dict[str, list] = {}
        unprocessed: dict[str, dict] = {}
        for name, request in RequestItems.items():
            table = self._table(name, "BatchGetItem")
            keys = request["Keys"]
            answered, rest = keys[: self.batch_limit], keys[self.batch_limit :]
            responses[name] = [
                table[key]
                for key in (next(iter(next(iter(k.values())).values())) for k in answered)
                if key in table
            ]
            if rest:
                unprocessed[name] = {**request, "Keys": rest}
        return {"Responses": responses, "UnprocessedKeys": unprocessed}


def _encode(value: Any) -> dict:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float):
        return {"N": str(value)}
    if isinstance(value, list | set | tuple):
        return {"SS": [str(entry) for entry in value]}
    return {"S": str(value)}


class FakeLambda:
    def __init__(self) -> None:
        self.mappings: dict[str, dict] = {}
        # uuid -> states returned by successive GetEventSourceMapping calls after an update
        # (AWS switches asynchronously; the update itself answers Enabling/Disabling)
        self.transitions: dict[str, list[str]] = {}
        self.busy: dict[str, int] = {}
        self.updates: list[tuple[str, bool]] = []

    def add(self, uuid: str, function: str, arn: str, state: str = "Enabled") -> None:
        self.mappings[uuid] = {
            "UUID": uuid,
            "FunctionArn": f"arn:aws:lambda:eu-west-1:111111111111:function:{function}",
            "EventSourceArn": arn,
            "State": state,
        }

    def list_event_source_mappings(self, FunctionName: str, **kwargs: Any) -> dict:
        return {
            "EventSourceMappings": [
                dict(mapping)
                for mapping in self.mappings.values()
                if mapping["FunctionArn"].endswith(f":{FunctionName}")
            ]
        }

    def get_event_source_mapping(self, UUID: str) -> dict:
        pending = self.transitions.get(UUID)
        if pending and any(uuid == UUID for uuid, _ in self.updates):
            self.mappings[UUID]["State"] = pending.pop(0)
        return dict(self.mappings[UUID])

    def update_event_source_mapping(self, UUID: str, Enabled: bool) -> dict:
        if self.busy.get(UUID):
            self.busy[UUID] -= 1
            raise client_error("ResourceInUseException", "UpdateEventSourceMapping")
        self.updates.append((UUID, Enabled))
        mapping = self.mappings[UUID]
        if UUID in self.transitions:
            mapping["State"] = "Enabling" if Enabled else "Disabling"
        else:
            mapping["State"] = "Enabled" if Enabled else "Disabled"
        return dict(mapping)


class FakeCloudWatch:
    """Datapoints as put; GetMetricData buckets them by period with the asked statistic (Sum or
    Maximum), and returns no datapoint for a period nothing was put in (as CloudWatch does)."""

    def __init__(self) -> None:
        self.points: dict[tuple[str, str, str], list[tuple[float, float]]] = {}

    def put(self, namespace: str, metric: str, dimension_value: str, stamp: float, value: float):
        self.points.setdefault((namespace, metric, dimension_value), []).append((stamp, value))

    def get_metric_data(self, MetricDataQueries: list, StartTime, EndTime, **kwargs: Any) -> dict:
        results = []
        for query in MetricDataQueries:
            stat = query["MetricStat"]
            metric = stat["Metric"]
            key = (metric["Namespace"], metric["MetricName"], metric["Dimensions"][0]["Value"])
            period = stat["Period"]
            buckets: dict[float, list[float]] = {}
            for stamp, value in self.points.get(key, []):
                if StartTime.timestamp() <= stamp < EndTime.timestamp():
                    buckets.setdefault(stamp // period * period, []).append(value)
            reduce = max if stat["Stat"] == "Maximum" else sum
            stamps = sorted(buckets)
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [datetime.fromtimestamp(stamp, UTC) for stamp in stamps],
                    "Values": [reduce(buckets[stamp]) for stamp in stamps],
                }
            )
        return {"MetricDataResults": results}


STREAM = "clicks"
PHYSICAL = "clicks-old"


def make_spec(consumers: list[dict] | None = None) -> MigrationSpec:
    return MigrationSpec.model_validate(
        {
            "version": 1,
            "migration": "unit-drain",
            "phase": "switched",
            "environments": {
                "old": {"account_id": "111111111111", "region": "eu-west-1", "name_prefix": "o-"},
                "new": {"account_id": "222222222222", "region": "eu-west-1", "name_prefix": "n-"},
            },
            "streams": [
                {
                    "name": STREAM,
                    "old_name": PHYSICAL,
                    "new_name": "clicks-new",
                    "capacity": {"mode": "provisioned", "shards": 1},
                }
            ],
            "consumers": {"old": consumers or []},
            "route": {"parameters": ["/unit/route"]},
            "replication": {"external_id": "ext-1"},
        }
    )
