"""Benchmark the replicator handler with in-memory clients.

Usage: python bench/bench_handler.py [RESULTS_FILE]

Prints one JSON object; with RESULTS_FILE, also appends it there as one line.

(b) CPU time per record (time.process_time) of Replicator.process for
    10,000-record batches of 200-byte records over 1,000 keys (goal <= 10 us);
(c) average records per PutRecords call for that batch (goal >= 475), for
    keys assigned round-robin and at random (a random assignment gives some
    keys ~20+ records, and one key needs one call per record: the lower bound
    of calls is max(ceil(n / 500), longest key run), reported alongside);
(d) throughput of one hot key with order kept, against a fake Kinesis that
    sleeps a fixed latency per call (stated in the output).
"""

from __future__ import annotations

import base64
import json
import platform
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))

from turnout.lambdas.replicator import Replicator, ReplicatorConfig, StreamRoute, SystemClock

PARAMETER = "/turnout/bench/active-direction"
DIRECTION = "old_to_new"
SOURCE_ARN = "arn:aws:kinesis:eu-west-1:111111111111:stream/clicks"


SHARD = "shardId-000000000000"


class Kinesis:
    """One shard that accepts everything; optionally sleeps per call. Records call sizes."""

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.call_sizes: list[int] = []
        self.written = 0

    def list_shards(self, **kw) -> dict:
        whole = {"StartingHashKey": "0", "EndingHashKey": str(2**128 - 1)}
        return {"Shards": [{"ShardId": SHARD, "HashKeyRange": whole, "SequenceNumberRange": {}}]}

    def put_records(self, StreamName: str, Records: list) -> dict:
        if self.latency:
            time.sleep(self.latency)
        n = len(Records)
        self.call_sizes.append(n)
        first = self.written
        self.written += n
        return {
            "FailedRecordCount": 0,
            "Records": [{"SequenceNumber": str(first + i), "ShardId": SHARD} for i in range(n)],
        }


class Ssm:
    def get_parameter(self, Name: str) -> dict:
        return {"Parameter": {"Value": DIRECTION}}


class Sts:
    def assume_role(self, **kw) -> dict:
        return {
            "Credentials": {
                "AccessKeyId": "a",
                "SecretAccessKey": "b",
                "SessionToken": "c",
                "Expiration": time.time() + 3600,
            }
        }


class Sink:
    def update_item(self, **kw) -> dict:
        return {}

    def put_metric_data(self, **kw) -> dict:
        return {}


def build(latency: float = 0.0, ordering: str = "strict") -> tuple[Replicator, Kinesis]:
    kinesis = Kinesis(latency)
    clients = {"sts": Sts(), "ssm": Ssm(), "dynamodb": Sink(), "cloudwatch": Sink()}

    def factory(service, region_name=None, credentials=None):
        return kinesis if service == "kinesis" else clients[service]

    config = ReplicatorConfig(
        direction=DIRECTION,
        direction_parameter=PARAMETER,
        target_role_arn="arn:aws:iam::222222222222:role/w",
        external_id="x",
        target_region="eu-west-1",
        stream_map={"clicks": StreamRoute("clicks", ordering)},
        ledger_table="ledger",
        # the CPU figures are the handler's work per record, not the shard's write limit
        shard_records_per_second=10**9,
        shard_bytes_per_second=10**12,
    )
    replicator = Replicator(
        config, client_factory=factory, clock=SystemClock(), log_sink=lambda s: None
    )
    return replicator, kinesis


class Context:
    aws_request_id = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def make_event(n: int, keys: int, size: int, *, assign: str, seed: int = 1) -> dict:
    rng = random.Random(seed)
    records = []
    for i in range(n):
        key = i % keys if assign == "round-robin" else rng.randrange(keys)
        seq = str(49590338271490256608559692538361571095921575989136 + i)
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": f"key-{key:04d}",
                    "sequenceNumber": seq,
                    "data": base64.b64encode(rng.randbytes(size)).decode(),
                    "approximateArrivalTimestamp": time.time(),
                },
                "eventID": f"shardId-000000000000:{seq}",
                "eventSourceARN": SOURCE_ARN,
            }
        )
    return {"Records": records}


def longest_key_run(event: dict) -> int:
    counts: dict[str, int] = {}
    for r in event["Records"]:
        k = r["kinesis"]["partitionKey"]
        counts[k] = counts.get(k, 0) + 1
    return max(counts.values())


def bench_cpu_and_packing(assign: str, rounds: int = 10, ordering: str = "strict") -> dict:
    event = make_event(10_000, 1_000, 200, assign=assign)
    replicator, kinesis = build(ordering=ordering)
    replicator.process(event, Context())  # warm-up (credentials, caches)
    per_record = []
    for _ in range(rounds):
        kinesis.call_sizes.clear()
        start = time.process_time()
        outcome = replicator.process(event, Context())
        per_record.append((time.process_time() - start) / 10_000 * 1e6)
        assert outcome.failure_index is None
    calls = len(kinesis.call_sizes)
    return {
        "key_assignment": assign,
        "ordering": ordering,
        "records": 10_000,
        "keys": 1_000,
        "record_bytes": 200,
        "cpu_us_per_record_median": round(sorted(per_record)[len(per_record) // 2], 3),
        "cpu_us_per_record_min": round(min(per_record), 3),
        "put_records_calls": calls,
        "avg_records_per_call": round(10_000 / calls, 1),
        "min_possible_calls": max(-(-10_000 // 500), longest_key_run(event)),
        "longest_key_run": longest_key_run(event),
    }


def bench_hot_key(latency_s: float = 0.005, n: int = 400) -> dict:
    event = make_event(n, 1, 200, assign="round-robin")
    replicator, kinesis = build(latency_s)
    replicator.process(make_event(1, 1, 200, assign="round-robin"), Context())  # warm-up
    kinesis.call_sizes.clear()
    start = time.perf_counter()
    outcome = replicator.process(event, Context())
    elapsed = time.perf_counter() - start
    assert outcome.failure_index is None and kinesis.call_sizes == [1] * n
    return {
        "records": n,
        "keys": 1,
        "fake_put_records_latency_ms": latency_s * 1000,
        "records_per_second": round(n / elapsed, 1),
        "ceiling_records_per_second": round(1 / latency_s, 1),
        "note": "one un-acknowledged record per key per call: a hot key moves one record "
        "per PutRecords round trip",
    }


def main() -> None:
    result = {
        "benchmark": "replicator_handler",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "b_c_cpu_and_packing": [
            bench_cpu_and_packing("round-robin"),
            bench_cpu_and_packing("random"),
            bench_cpu_and_packing("random", ordering="relaxed"),
        ],
        "d_hot_key": bench_hot_key(),
        "goals": {"cpu_us_per_record": "<= 10", "avg_records_per_call": ">= 475"},
    }
    line = json.dumps(result)
    print(json.dumps(result, indent=2))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "a", encoding="utf-8") as out:
            out.write(line + "\n")


if __name__ == "__main__":
    main()
