"""Benchmark replication on the local emulator with the real deployment.

Usage: python bench/bench_replication.py [RESULTS_FILE]

Starts its own emulator (stopped at the end), applies tests/integration/specs/replication.yaml
with the real Terraform at phase baseline then mirrored, and measures, on the same streams in
the same run:

(a) throughput: N records put into the new environment's 4-shard stream are copied to the old
    environment's stream (1) by a plain copy loop (GetRecords up to 500, then one PutRecords of
    them, shard after shard, no order or loss handling) and (2) by the replicator: the deployed
    zip under the local Lambda runtime, from enabling its mapping until its ledger reaches the
    shards' last sequence numbers. The loop runs before and after the replicator; the ratio is
    replicator / mean(loop).
(c) records per PutRecords call of the replicator in that run (from its batch_done log lines).
(d) one hot key: records of a single partition key replicated in order; records/s.

Prints one JSON object; with RESULTS_FILE, also appends it there as one line.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import replication_kit as kit  # noqa: E402

from turnout.emulator import Emulator  # noqa: E402

N_RECORDS = int(os.environ.get("BENCH_RECORDS", "50000"))
N_KEYS = 1000
HOT_KEY_RECORDS = int(os.environ.get("BENCH_HOT_KEY_RECORDS", "1000"))
STREAM = "relay-events"
HOT_STREAM = "relay-loop"  # one shard


def copy_loop(deployment: kit.Deployment, positions: dict[str, str | None]) -> dict:
    """Read each shard of the new stream after ``positions`` and PutRecords what was read to
    the old stream, 500 at a time. Returns records and seconds; updates ``positions``."""
    source = deployment.client("kinesis", "new")
    target = deployment.client("kinesis", "old")
    source_name = deployment.stream_name(STREAM, "new")
    target_name = deployment.stream_name(STREAM, "old")
    copied = 0
    calls = 0
    started = time.perf_counter()
    for shard, after in positions.items():
        args = {"StreamName": source_name, "ShardId": shard}
        if after is None:
            args["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        iterator = source.get_shard_iterator(**args)["ShardIterator"]
        while iterator:
            response = source.get_records(ShardIterator=iterator, Limit=500)
            records = response["Records"]
            if not records:
                break
            result = target.put_records(
                StreamName=target_name,
                Records=[{"Data": r["Data"], "PartitionKey": r["PartitionKey"]} for r in records],
            )
            calls += 1
            assert result["FailedRecordCount"] == 0
            copied += len(records)
            positions[shard] = records[-1]["SequenceNumber"]
            iterator = response.get("NextShardIterator")
    seconds = time.perf_counter() - started
    return {
        "records": copied,
        "seconds": round(seconds, 2),
        "records_per_s": round(copied / seconds),
        "put_calls": calls,
    }


def put_call_overhead(deployment: kit.Deployment, calls: int = 100) -> float:
    """Milliseconds of one PutRecords round trip with one small record (fixed cost per call)."""
    kinesis = deployment.client("kinesis", "old")
    name = deployment.stream_name("relay-faults", "old")
    started = time.perf_counter()
    for i in range(calls):
        kinesis.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": f"o{i}"}])
    return round((time.perf_counter() - started) / calls * 1000, 2)


def replicate(deployment: kit.Deployment, state_dir: Path, logical: str, n: int) -> dict:
    """Enable the new→old mapping of ``logical``; time until the ledger has every record."""
    kinesis = deployment.client("kinesis", "new")
    name = deployment.stream_name(logical, "new")
    ends = kit.shard_ends(kit.read_stream(kinesis, name))
    log = deployment.function_log(state_dir, "new")
    offset = log.stat().st_size if log.is_file() else 0
    started = time.perf_counter()
    deployment.set_mapping_enabled("new", logical, True)
    kit.wait_for(
        lambda: kit.ledger_caught_up(deployment.ledger("new"), name, ends),
        900,
        what=f"{name} replicated",
        progress=lambda: kit.ledger_progress(deployment.ledger("new"), name, ends),
        interval=0.25,
    )
    seconds = time.perf_counter() - started
    written = calls = batches = duplicates = 0
    with open(log, encoding="utf-8", errors="replace") as handle:
        handle.seek(offset)
        for line in handle:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("message") in ("batch_done", "batch_incomplete"):
                batches += 1
                written += int(entry.get("written") or 0)
                calls += int(entry.get("calls") or 0)
                duplicates += int(entry.get("duplicates_resent") or 0)
    return {
        "records": n,
        "seconds": round(seconds, 2),
        "records_per_s": round(n / seconds),
        "batches": batches,
        "put_calls": calls,
        "records_per_put_call": round(written / calls, 1) if calls else None,
        "duplicates_resent": duplicates,
    }


def main() -> None:
    os.environ.setdefault("TURNOUT_PROVIDER_MIRROR", "/opt/tf-plugins")
    with tempfile.TemporaryDirectory(prefix="turnout-bench-") as tmp:
        work = Path(tmp)
        emulator = Emulator(work / "emulator").start()
        try:
            result = run(emulator, work)
        finally:
            emulator.stop()
    line = json.dumps(result)
    print(json.dumps(result, indent=2))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "a", encoding="utf-8") as out:
            out.write(line + "\n")


def run(emulator: Emulator, work: Path) -> dict:
    deployment = kit.Deployment(emulator, work)
    deployment.apply("baseline")
    deployment.apply("mirrored")
    for logical in (STREAM, HOT_STREAM, "relay-faults"):
        deployment.set_mapping_enabled("new", logical, False)
    kinesis = deployment.client("kinesis", "new")
    source_name = deployment.stream_name(STREAM, "new")
    records = kit.keyed_records("bench", N_RECORDS, N_KEYS, seed=1)
    put_started = time.perf_counter()
    kit.put_records(kinesis, source_name, records)
    put_seconds = time.perf_counter() - put_started
    shards = [s["ShardId"] for s in kinesis.list_shards(StreamName=source_name)["Shards"]]

    state_dir = work / "runtime"
    state_dir.mkdir()
    runtime = deployment.runtime(state_dir, poll_interval=0.05, refresh_interval=0.2)
    with runtime:
        # Warm the function's worker (process start, imports, AssumeRole) on the hot-key stream,
        # so that (a) measures replication, not the first cold start.
        hot_records = [kit.Record("hot", i, "hot") for i in range(HOT_KEY_RECORDS)]
        kit.put_records(
            deployment.client("kinesis", "new"),
            deployment.stream_name(HOT_STREAM, "new"),
            hot_records[:1],
        )
        replicate(deployment, state_dir, HOT_STREAM, 1)

        loop_before = copy_loop(deployment, dict.fromkeys(shards))
        replicator = replicate(deployment, state_dir, STREAM, N_RECORDS)
        loop_after = copy_loop(deployment, dict.fromkeys(shards))

        # (d) one hot key, order kept.
        deployment.set_mapping_enabled("new", HOT_STREAM, False)
        kit.put_records(
            deployment.client("kinesis", "new"),
            deployment.stream_name(HOT_STREAM, "new"),
            hot_records[1:],
        )
        hot = replicate(deployment, state_dir, HOT_STREAM, HOT_KEY_RECORDS - 1)
    source, target = (
        kit.read_stream(deployment.client("kinesis", env), deployment.stream_name(HOT_STREAM, env))
        for env in ("new", "old")
    )
    hot_delivery = kit.check_delivery(kit.tagged(source, {"hot"}), kit.tagged(target, {"hot"}))
    hot["delivery"] = hot_delivery.summary()
    hot["order_kept"] = hot_delivery.ok

    source, target = (
        kit.read_stream(deployment.client("kinesis", env), deployment.stream_name(STREAM, env))
        for env in ("new", "old")
    )
    delivery = kit.check_delivery(kit.tagged(source, {"bench"}), kit.tagged(target, {"bench"}))
    # moto appends to a shard in O(records already in it) (Shard.put_record lists every key to
    # find the last sequence number), so each run is slower than the one before it. The loop runs
    # before and after the replicator on the same target: the mean of the loops' *times* matches
    # the replicator's target size on average.
    loop_seconds = (loop_before["seconds"] + loop_after["seconds"]) / 2
    loop_rate = N_RECORDS / loop_seconds
    call_overhead = put_call_overhead(deployment)
    extra_calls = replicator["put_calls"] - (loop_before["put_calls"] + loop_after["put_calls"]) / 2
    return {
        "benchmark": "replication_on_emulator",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "records": N_RECORDS,
        "keys": N_KEYS,
        "shards": len(shards),
        "terraform_applies": deployment.applies,
        "put_seconds": round(put_seconds, 2),
        "a_copy_loop_before": loop_before,
        "a_replicator": replicator,
        "a_copy_loop_after": loop_after,
        "a_copy_loop_mean_records_per_s": round(loop_rate),
        "a_ratio": round(loop_seconds / replicator["seconds"], 3),
        "a_put_call_overhead_ms": call_overhead,
        "a_extra_put_calls": extra_calls,
        "a_extra_put_calls_seconds": round(extra_calls * call_overhead / 1000, 1),
        "a_delivery": delivery.summary(),
        "d_hot_key": hot,
        "goals": {"a_ratio": ">= 0.9"},
    }


if __name__ == "__main__":
    main()
