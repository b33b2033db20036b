"""Benchmark the drain verdict of a 1,000-shard stream on the local emulator.

Usage: python bench/bench_drain.py [RESULTS_FILE]

Starts its own emulator (stopped at the end), creates one stream of BENCH_DRAIN_SHARDS (1,000)
shards, puts one record into every shard (PutRecords, ExplicitHashKey = each shard's starting
hash key), and writes the state a drained consumer leaves behind: a replicator ledger item and a
KCL lease per shard, each at that shard's record. Then it times one verdict of the ledger
predicate and one of the KCL lease predicate over the whole stream (goal: <= 10 s each), with
the drain predicates' default of 32 workers, then the same with one shard behind (one more record
in one shard: not drained, the behind shard named). Each of these four is a first check of fresh
predicates on a fresh scope. For information it then times both one-behind predicates once more
on the same scope, as the next round of `turnout drain-check --wait` or `wait_until_drained`
would run them: a shard read there before is read on from where that read stopped (one
GetRecords, no GetShardIterator; turnout.drain.reads). With BENCH_DRAIN_SERIAL=1 it also times
the ledger verdict with a single worker, for comparison.

Prints one JSON object; with RESULTS_FILE, also appends it there as one line.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from turnout.aws.access import AwsAccess
from turnout.aws.kinesis import list_shards
from turnout.drain.base import predicate_for
from turnout.drain.check import CheckContext
from turnout.drain.kcl import KclLeases
from turnout.drain.ledger import ReplicatorConsumer, ReplicatorLedger
from turnout.drain.scope import DEFAULT_WORKERS, scope_from_context
from turnout.drain.verdicts import Verdict
from turnout.sandbox.emulator.launcher import Emulator
from turnout.spec.model import MigrationSpec
from turnout.spec.names import names

SHARDS = int(os.environ.get("BENCH_DRAIN_SHARDS", "1000"))
GOAL_SECONDS = 10.0
LEASES = "bench-drain-leases"


def bench_spec(emulator: Emulator) -> MigrationSpec:
    return MigrationSpec.model_validate(
        {
            "version": 1,
            "migration": "bench-drain",
            "phase": "switched",
            "environments": {
                "old": {
                    "account_id": emulator.old_account_id,
                    "region": emulator.region,
                    "name_prefix": "bd-old-",
                },
                "new": {
                    "account_id": emulator.new_account_id,
                    "region": emulator.region,
                    "name_prefix": "bd-new-",
                },
            },
            "streams": [
                {
                    "name": "events",
                    "old_name": "bench-drain-events-old",
                    "new_name": "bench-drain-events-new",
                    "capacity": {"mode": "provisioned", "shards": SHARDS},
                }
            ],
            "consumers": {
                "old": [
                    {
                        "kind": "kcl",
                        "application": "bench",
                        "lease_table": LEASES,
                        "streams": ["events"],
                    }
                ]
            },
            "route": {"environment": "old", "parameters": ["/bench-drain/route"]},
            "replication": {"external_id": "bench-drain"},
        }
    )


def cpu_seconds(pid: int | None) -> float:
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create_table(dynamodb: Any, name: str, key: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def write_items(dynamodb: Any, table: str, items: list[dict]) -> None:
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while request:
            request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems")


def setup(emulator: Emulator, spec: MigrationSpec) -> dict[str, str]:
    """The stream with one record per shard, a drained ledger and lease table; shard -> seq."""
    kinesis = emulator.client("kinesis", "old")
    dynamodb = emulator.client("dynamodb", "old")
    name = spec.streams[0].name_in("old")
    kinesis.create_stream(StreamName=name, ShardCount=SHARDS)
    shards = list_shards(kinesis, name)
    sequence: dict[str, str] = {}
    for start in range(0, len(shards), 500):
        chunk = shards[start : start + 500]
        response = kinesis.put_records(
            StreamName=name,
            Records=[
                {
                    "Data": shard["ShardId"].encode(),
                    "PartitionKey": "k",
                    "ExplicitHashKey": shard["HashKeyRange"]["StartingHashKey"],
                }
                for shard in chunk
            ],
        )
        for entry in response["Records"]:
            sequence[entry["ShardId"]] = entry["SequenceNumber"]
    assert len(sequence) == SHARDS, "one record in every shard"
    ledger = names(spec, "old").ledger_table
    create_table(dynamodb, ledger, "shard_key")
    create_table(dynamodb, LEASES, "leaseKey")
    write_items(
        dynamodb,
        ledger,
        [
            {"shard_key": {"S": f"{name}/{shard}"}, "last_sequence_number": {"S": seq}}
            for shard, seq in sequence.items()
        ],
    )
    write_items(
        dynamodb,
        LEASES,
        [
            {
                "leaseKey": {"S": shard},
                "checkpoint": {"S": seq},
                "checkpointSubSequenceNumber": {"N": "0"},
                "leaseOwner": {"S": "bench-worker"},
            }
            for shard, seq in sequence.items()
        ],
    )
    return sequence


def timed(emulator: Emulator, predicate: Any) -> dict:
    requests_before = emulator.status().get("requests", {})
    cpu_before = cpu_seconds(emulator.pid)
    own_cpu_before = time.process_time()
    started = time.perf_counter()
    verdict = predicate.check()
    seconds = time.perf_counter() - started
    requests_after = emulator.status().get("requests", {})
    served = {
        api: count - requests_before.get(api, 0)
        for api, count in requests_after.items()
        if count - requests_before.get(api, 0)
    }
    return {
        "seconds": round(seconds, 3),
        "verdict": verdict.verdict.value,
        "shards": len(verdict.shards),
        "not_drained_shards": [
            shard.shard for shard in verdict.shards if shard.verdict is Verdict.NOT_DRAINED
        ],
        "emulator_requests": served,
        "emulator_cpu_seconds": round(cpu_seconds(emulator.pid) - cpu_before, 2),
        "checker_cpu_seconds": round(time.process_time() - own_cpu_before, 2),
        "goal_met": seconds <= GOAL_SECONDS,
    }


def run(emulator: Emulator) -> dict:
    spec = bench_spec(emulator)
    started = time.perf_counter()
    sequence = setup(emulator, spec)
    setup_seconds = time.perf_counter() - started
    context = CheckContext(spec=spec, aws=AwsAccess.for_emulator(spec, emulator))

    def predicates(workers: int) -> tuple[ReplicatorLedger, KclLeases]:
        scope = scope_from_context(context, "old", workers=workers)
        ledger = ReplicatorLedger(ReplicatorConsumer(spec, "old"), scope)
        kcl = predicate_for(spec.consumers.old[0], scope)
        assert isinstance(kcl, KclLeases)
        return ledger, kcl

    ledger, kcl = predicates(DEFAULT_WORKERS)
    result: dict[str, Any] = {
        "bench": "drain",
        "shards": SHARDS,
        "workers": DEFAULT_WORKERS,
        "cpus": os.cpu_count(),
        "setup_seconds": round(setup_seconds, 2),
        "goal_seconds": GOAL_SECONDS,
        "ledger_drained": timed(emulator, ledger),
        "kcl_drained": timed(emulator, kcl),
    }
    behind = sorted(sequence)[SHARDS // 2]
    name = spec.streams[0].name_in("old")
    kinesis = emulator.client("kinesis", "old")
    shard = next(s for s in list_shards(kinesis, name) if s["ShardId"] == behind)
    kinesis.put_record(
        StreamName=name,
        Data=b"one more",
        PartitionKey="k",
        ExplicitHashKey=shard["HashKeyRange"]["StartingHashKey"],
    )
    ledger, kcl = predicates(DEFAULT_WORKERS)
    result["ledger_one_behind"] = timed(emulator, ledger)
    result["kcl_one_behind"] = timed(emulator, kcl)
    # informational: the next round of the same predicates (not part of the goal)
    result["ledger_one_behind_again"] = timed(emulator, ledger)
    result["kcl_one_behind_again"] = timed(emulator, kcl)
    for key in (
        "ledger_one_behind",
        "kcl_one_behind",
        "ledger_one_behind_again",
        "kcl_one_behind_again",
    ):
        assert result[key]["not_drained_shards"] == [behind], result[key]
    for key in ("ledger_drained", "kcl_drained"):
        assert result[key]["verdict"] == "drained", result[key]
    if os.environ.get("BENCH_DRAIN_SERIAL") == "1":
        serial_ledger, _ = predicates(1)
        result["ledger_one_behind_serial"] = timed(emulator, serial_ledger)
    result["goal_met"] = all(
        result[key]["goal_met"]
        for key in ("ledger_drained", "kcl_drained", "ledger_one_behind", "kcl_one_behind")
    )
    return result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="turnout-bench-drain-") as tmp:
        profile = os.environ.get("BENCH_PROFILE") or "aws"
        emulator = Emulator(Path(tmp) / "emulator", profile=profile).start()
        try:
            result = run(emulator)
        finally:
            emulator.stop()
        result["profile"] = profile
    print(json.dumps(result, indent=2))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "a", encoding="utf-8") as out:
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
