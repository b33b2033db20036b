"""An in-process model of the AWS side of replication, for bench_inprocess.py.

What it models, and how:

- **Time.** ``SimClock``: the handler's own CPU time is real (this thread's CPU time, so other
  work on a shared machine does not count), every wait is simulated: a PutRecords call advances
  the clock by its latency, a sleep by its length. The model's own CPU time is taken out again,
  so a run's time is the handler's CPU plus latencies plus the waits it chose, and a 400-second
  run takes seconds.
- **PutRecords** (target stream of ``shard_count`` shards, hash ranges split evenly, a partition
  key to the shard its MD5 falls in, as Kinesis does): a fixed ``latency`` per call; each entry
  fails at random with probability ``failure_rate`` (3 in 4 ``ProvisionedThroughputExceededException``,
  1 in 4 ``InternalFailure``, like the chaos suite's fault mode); an entry that would put its
  shard over 1,000 records or 1 MiB within any one second of arrival is throttled
  (``ProvisionedThroughputExceededException``): AWS's per-shard write limits
  (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html) in their
  strictest reading, since AWS does not say over which window it measures. Entries arrive at the
  end of the call's latency, in request order. Failed entries are not stored and use no capacity.
- **ListShards**, SSM, STS, DynamoDB: instant and always successful (they are not what the
  benchmark measures).
- **The event source mapping**: ``run_esm`` delivers batches of one source shard and
  checkpoints like Lambda with ReportBatchItemFailures; the invocation's budget is the function
  timeout. Lambda's own per-invocation overhead (GetRecords, invoke) is not modelled: the same
  for every contender.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

EPOCH = 1_700_000_000.0
MAX_HASH = 2**128 - 1
SHARD_RECORDS, SHARD_BYTES = 1000, 1024 * 1024
DIRECTION = "old_to_new"
SOURCE_ARN = "arn:aws:kinesis:eu-west-1:111111111111:stream/source"


class SimClock:
    def __init__(self) -> None:
        self._start = time.thread_time()
        self.waited = 0.0

    def monotonic(self) -> float:
        return time.thread_time() - self._start + self.waited

    def time(self) -> float:
        return EPOCH + self.monotonic()

    def sleep(self, seconds: float) -> None:
        self.waited += max(0.0, seconds)

    def exclude(self, since: float) -> None:
        """Take the model's own CPU time since ``since`` (thread_time) out of the clock."""
        self.waited -= time.thread_time() - since


@dataclass
class Stored:
    index: int  # the source record
    shard: int
    at: float


class ShardLimit:
    """Arrivals of the last second on one shard (records, bytes)."""

    def __init__(self) -> None:
        self.arrivals: deque[tuple[float, int]] = deque()
        self.size = 0

    def admit(self, at: float, size: int) -> bool:
        arrivals = self.arrivals
        while arrivals and arrivals[0][0] <= at - 1.0:
            self.size -= arrivals.popleft()[1]
        if len(arrivals) + 1 > SHARD_RECORDS or (arrivals and self.size + size > SHARD_BYTES):
            return False
        arrivals.append((at, size))
        self.size += size
        return True


@dataclass
class TargetStream:
    clock: SimClock
    shard_count: int = 4
    latency: float = 0.020
    failure_rate: float = 0.0
    seed: int = 1
    stored: list[Stored] = field(default_factory=list)
    calls: int = 0
    entries: int = 0
    throttled: int = 0
    injected: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        step = (MAX_HASH + 1) // self.shard_count
        self.starts = [index * step for index in range(self.shard_count)]
        self.limits = [ShardLimit() for _ in range(self.shard_count)]
        self.index_of: dict[bytes, int] = {}  # payload -> source index (payloads are unique)
        self._shard_of_key: dict[str, int] = {}

    def shard_of(self, key: str) -> int:
        shard = self._shard_of_key.get(key)
        if shard is None:
            value = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
            shard = self._shard_of_key[key] = bisect.bisect_right(self.starts, value) - 1
        return shard

    def list_shards(self, **_: Any) -> dict:
        ends = [*self.starts[1:], MAX_HASH + 1]
        return {
            "Shards": [
                {
                    "ShardId": f"shardId-{index:012d}",
                    "HashKeyRange": {
                        "StartingHashKey": str(start),
                        "EndingHashKey": str(end - 1),
                    },
                    "SequenceNumberRange": {"StartingSequenceNumber": "1"},
                }
                for index, (start, end) in enumerate(zip(self.starts, ends, strict=True))
            ]
        }

    def put_records(self, StreamName: str, Records: list[dict]) -> dict:
        began = time.thread_time()
        clock = self.clock
        self.calls += 1
        self.entries += len(Records)
        arrival = clock.monotonic() + self.latency
        results = []
        failed = 0
        for entry in Records:
            key, data = entry["PartitionKey"], entry["Data"]
            shard = self.shard_of(key)
            if self.failure_rate and self.rng.random() < self.failure_rate:
                self.injected += 1
                failed += 1
                code = (
                    "InternalFailure"
                    if self.rng.random() < 0.25
                    else "ProvisionedThroughputExceededException"
                )
                results.append({"ErrorCode": code, "ErrorMessage": "injected"})
            elif not self.limits[shard].admit(arrival, len(data) + len(key)):
                self.throttled += 1
                failed += 1
                results.append(
                    {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "limit"}
                )
            else:
                self.stored.append(Stored(self.index_of[bytes(data)], shard, arrival))
                results.append(
                    {"SequenceNumber": str(len(self.stored)), "ShardId": f"shardId-{shard:012d}"}
                )
        clock.exclude(began)
        clock.sleep(self.latency)
        return {"FailedRecordCount": failed, "Records": results}


class Instant:
    """SSM, STS, DynamoDB and CloudWatch that always answer at once."""

    def get_parameter(self, Name: str) -> dict:
        return {"Parameter": {"Name": Name, "Value": DIRECTION}}

    def assume_role(self, **_: Any) -> dict:
        return {
            "Credentials": {
                "AccessKeyId": "a",
                "SecretAccessKey": "b",
                "SessionToken": "c",
                "Expiration": time.time() + 36_000,
            }
        }

    def update_item(self, **_: Any) -> dict:
        return {}

    def put_metric_data(self, **_: Any) -> dict:  # only the previous replicator calls it
        return {}


# --------------------------------------------------------------------------- source records


@dataclass(frozen=True)
class Workload:
    name: str
    keys: list[str]  # the partition key of each source record, in order
    record_bytes: int = 200


def uniform(count: int, keys: int, seed: int = 1) -> Workload:
    rng = random.Random(seed)
    return Workload(f"uniform {keys:,} keys", [f"k{rng.randrange(keys)}" for _ in range(count)])


def zipf(count: int, keys: int, s: float, seed: int = 1) -> Workload:
    rng = random.Random(seed)
    weights, total = [], 0.0
    for rank in range(1, keys + 1):
        total += 1.0 / rank**s
        weights.append(total)
    picks = [bisect.bisect_left(weights, rng.random() * total) for _ in range(count)]
    return Workload(f"Zipf s={s} over {keys:,} keys", [f"z{pick}" for pick in picks])


def hot_key(count: int) -> Workload:
    return Workload("one hot key", ["hot"] * count)


def events(workload: Workload, seed: int = 2) -> tuple[list[dict], list[bytes]]:
    """ESM event records for the workload, and each record's payload (unique per record)."""
    rng = random.Random(seed)
    records, payloads = [], []
    first = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136
    for index, key in enumerate(workload.keys):
        payload = f"#{index}#".encode()
        payload += rng.randbytes(max(0, workload.record_bytes - len(payload) - len(key)))
        sequence = str(first + index)
        payloads.append(payload)
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": key,
                    "sequenceNumber": sequence,
                    "data": base64.b64encode(payload).decode(),
                    "approximateArrivalTimestamp": EPOCH - 60.0,
                },
                "eventSource": "aws:kinesis",
                "eventID": f"shardId-000000000000:{sequence}",
                "eventSourceARN": SOURCE_ARN,
            }
        )
    return records, payloads


# --------------------------------------------------------------------------- the ESM


class Context:
    def __init__(self, clock: SimClock, budget_seconds: float) -> None:
        self._clock = clock
        self._deadline = clock.monotonic() + budget_seconds
        self.aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self._deadline - self._clock.monotonic()) * 1000)


@dataclass
class EsmRun:
    invocations: int = 0
    outcomes: list = field(default_factory=list)
    overruns: int = 0  # invocations that returned after their budget (Lambda would kill them)


def run_esm(
    process: Any,
    records: list[dict],
    clock: SimClock,
    *,
    batch_size: int,
    timeout_seconds: float,
    max_invocations: int = 100_000,
) -> EsmRun:
    """Lambda's checkpoint semantics with ReportBatchItemFailures, one source shard."""
    run = EsmRun()
    position = {r["kinesis"]["sequenceNumber"]: i for i, r in enumerate(records)}
    checkpoint = 0
    while checkpoint < len(records) and run.invocations < max_invocations:
        batch = records[checkpoint : checkpoint + batch_size]
        context = Context(clock, timeout_seconds)
        outcome = process({"Records": batch}, context)
        run.invocations += 1
        run.overruns += context.get_remaining_time_in_millis() <= 0
        run.outcomes.append(outcome)
        failures = outcome.response()["batchItemFailures"]
        if failures:
            checkpoint = min(position[f["itemIdentifier"]] for f in failures)
        else:
            checkpoint += len(batch)
    return run
