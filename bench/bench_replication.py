"""Benchmark replication on the local emulator with the real deployment.

Usage: [BENCH_PROFILE=aws|fast] python bench/bench_replication.py [RESULTS_FILE]

BENCH_PROFILE names the emulator's fidelity profile (default aws: AWS's latencies and shard
limits). On `fast` moto enforces no shard write limit, so the plain copy loop is not held to
AWS's 1,000 records/s per shard while the replicator paces itself to it: (a) is only comparable
on the `aws` profile.

Starts its own emulator (stopped at the end), applies tests/integration/specs/replication.yaml
with the real Terraform at phase baseline then mirrored, puts N records (1,000 keys) into the new
environment's 4-shard stream, and measures:

(a) throughput of copying that stream to the old environment's stream, by two contenders that
    read the same source contents and each write into a *fresh* target stream of identical
    shape (the target is deleted and re-created, same name, shards, mode, retention and
    encryption, before every run, so that neither pays for the other's data):

    - the plain copy loop (the baseline): one thread per shard, GetRecords up to 500 from
      TRIM_HORIZON, then PutRecords of those records, resending the entries that failed (a
      target shard's limits throttle them on the `aws` profile) after 0.1 s until none is
      left; no per-key order rule, no ledger, no loop guard, no metrics;
    - the replicator: the deployed zip under the local Lambda runtime, its ESM (the spec's
      batch size, the default 2,000) replayed from TRIM_HORIZON (the runtime's checkpoints of the mapping and the
      ledger rows are cleared first), with everything production does: loop guard, per-key
      order (at most one unacknowledged record per key per call), ledger update, metrics.
      Timed from the moment the mapping is ``Enabled`` (its ``Enabling`` transition, the same
      for every Lambda consumer and once per cutover, is reported apart; one synchronous
      runtime refresh then starts the pollers at once) until the runtime has checkpointed every
      shard's last record. One unmeasured replay first warms a worker per source shard.

    The runs alternate (loop, replicator, then replicator, loop, ...; BENCH_ROUNDS pairs) and
    the ratio is median(loop seconds) / median(replicator seconds). Each run records the
    requests the emulator served per API and the CPU seconds of the emulator, of this process
    (the loop, or the runtime's pollers) and of the function's worker, and checks its target
    (lost, duplicates, per-key order).
(c) records per PutRecords call of the replicator (from its batch_done log lines).
(d) one hot key: records of a single partition key replicated in order; records/s.

Prints one JSON object; with RESULTS_FILE, also appends it there as one line.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import replication_kit as kit  # noqa: E402

from turnout.sandbox.emulator.launcher import Emulator  # noqa: E402

N_RECORDS = int(os.environ.get("BENCH_RECORDS", "50000"))
N_KEYS = 1000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
HOT_KEY_RECORDS = int(os.environ.get("BENCH_HOT_KEY_RECORDS", "1000"))
STREAM = "relay-events"
HOT_STREAM = "relay-loop"  # one shard
TAG = "bench"


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Emulator requests per API and CPU seconds of the processes involved, over one run."""

    def __init__(self, emulator: Emulator, worker_pids: Any) -> None:
        self.emulator = emulator
        self.worker_pids = worker_pids  # callable: the function's worker pids (they may change)

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.emulator.status().get("requests", {}),
            "emulator": cpu_seconds(self.emulator.pid),
            "bench_process": cpu_seconds(os.getpid()),
            "workers": {pid: cpu_seconds(pid) for pid in self.worker_pids()},
        }

    @staticmethod
    def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        requests = {
            name: after["requests"].get(name, 0) - before["requests"].get(name, 0)
            for name in sorted(after["requests"])
            if after["requests"].get(name, 0) != before["requests"].get(name, 0)
        }
        # A worker started during the run counts from zero.
        workers = sum(
            cpu - before["workers"].get(pid, 0.0) for pid, cpu in after["workers"].items()
        )
        return {
            "cpu_seconds": {
                "emulator": round(after["emulator"] - before["emulator"], 2),
                "bench_process": round(after["bench_process"] - before["bench_process"], 2),
                "worker": round(workers, 2),
            },
            "requests": requests,
        }


def recreate_stream(kinesis: Any, name: str) -> None:
    """Delete ``name`` and create it again, empty, with the same shape."""
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    before = [
        (s["ShardId"], s["HashKeyRange"]) for s in kinesis.list_shards(StreamName=name)["Shards"]
    ]
    kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    mode = (summary.get("StreamModeDetails") or {}).get("StreamMode", "PROVISIONED")
    args: dict[str, Any] = {"StreamName": name, "StreamModeDetails": {"StreamMode": mode}}
    if mode == "PROVISIONED":
        args["ShardCount"] = summary["OpenShardCount"]
    kinesis.create_stream(**args)
    kinesis.get_waiter("stream_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    if summary.get("RetentionPeriodHours", 24) > 24:
        kinesis.increase_stream_retention_period(
            StreamName=name, RetentionPeriodHours=summary["RetentionPeriodHours"]
        )
    if summary.get("EncryptionType") == "KMS":
        kinesis.start_stream_encryption(
            StreamName=name, EncryptionType="KMS", KeyId=summary["KeyId"]
        )
    after = [
        (s["ShardId"], s["HashKeyRange"]) for s in kinesis.list_shards(StreamName=name)["Shards"]
    ]
    assert after == before, f"{name} re-created with another shape: {after} != {before}"


LOOP_RESEND_SECONDS = 0.1  # before resending the entries a PutRecords answer failed
LOOP_READ_BACKOFF_SECONDS = 0.2  # after GetRecords was throttled (a shard serves 5 reads/s)


def copy_loop(deployment: kit.Deployment, shards: list[str]) -> dict:
    """The plain baseline: one thread per source shard (as the event source mapping polls
    each shard), GetRecords up to 500 from TRIM_HORIZON, PutRecords them, resend the entries
    that failed (throttled by a target shard's limits on the `aws` profile) until none is left;
    a throttled GetRecords is tried again after a pause. No per-key order rule."""
    source = deployment.client("kinesis", "new")
    target = deployment.client("kinesis", "old")
    source_name = deployment.stream_name(STREAM, "new")
    target_name = deployment.stream_name(STREAM, "old")
    tallies = [{"copied": 0, "calls": 0, "resent": 0} for _ in shards]

    def copy_shard(shard: str, tally: dict[str, int]) -> None:
        iterator = source.get_shard_iterator(
            StreamName=source_name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            try:
                response = source.get_records(ShardIterator=iterator, Limit=500)
            except source.exceptions.ProvisionedThroughputExceededException:
                time.sleep(LOOP_READ_BACKOFF_SECONDS)
                continue
            records = response["Records"]
            if not records:
                break
            pending = [{"Data": r["Data"], "PartitionKey": r["PartitionKey"]} for r in records]
            while pending:
                result = target.put_records(StreamName=target_name, Records=pending)
                tally["calls"] += 1
                failed = [
                    entry
                    for entry, answer in zip(pending, result["Records"], strict=True)
                    if "ErrorCode" in answer
                ]
                tally["resent"] += len(failed)
                pending = failed
                if pending:
                    time.sleep(LOOP_RESEND_SECONDS)
            tally["copied"] += len(records)
            iterator = response.get("NextShardIterator")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(shards)) as pool:
        for done in [pool.submit(copy_shard, s, t) for s, t in zip(shards, tallies, strict=True)]:
            done.result()
    seconds = time.perf_counter() - started
    copied = sum(t["copied"] for t in tallies)
    return {
        "contender": "loop",
        "records": copied,
        "seconds": round(seconds, 3),
        "records_per_s": round(copied / seconds),
        "put_calls": sum(t["calls"] for t in tallies),
        "entries_resent": sum(t["resent"] for t in tallies),
    }


def put_call_overhead(deployment: kit.Deployment, calls: int = 100) -> float:
    """Milliseconds of one PutRecords round trip with one small record (fixed cost per call)."""
    kinesis = deployment.client("kinesis", "old")
    name = deployment.stream_name("relay-faults", "old")
    started = time.perf_counter()
    for i in range(calls):
        kinesis.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": f"o{i}"}])
    return round((time.perf_counter() - started) / calls * 1000, 2)


class LedgerReader:
    """The ledger of one environment, through one cached client (creating a boto3 client per
    poll would load its service model each time and compete with what is measured)."""

    def __init__(self, deployment: kit.Deployment, environment: str) -> None:
        self.ddb = deployment.client("dynamodb", environment)
        self.table = deployment.ledger_table(environment)

    def read(self) -> dict[str, dict[str, Any]]:
        items = self.ddb.scan(TableName=self.table)["Items"]
        return {
            item["shard_key"]["S"]: {"last_sequence_number": item["last_sequence_number"]["S"]}
            for item in items
            if "last_sequence_number" in item  # not only duplicate/inversion counts
        }

    def clear(self, keys: list[str]) -> None:
        for key in keys:
            self.ddb.delete_item(TableName=self.table, Key={"shard_key": {"S": key}})


def log_summary(log: Path, offset: int) -> dict[str, int]:
    """Batches, records written, PutRecords calls and duplicates from the function's log."""
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
    return {"batches": batches, "written": written, "calls": calls, "duplicates": duplicates}


def replicate(deployment: kit.Deployment, state_dir: Path, logical: str, n: int) -> dict:
    """Enable the new→old mapping of ``logical``; time until the ledger has every record."""
    kinesis = deployment.client("kinesis", "new")
    name = deployment.stream_name(logical, "new")
    ends = kit.shard_ends(kit.read_stream(kinesis, name))
    log = deployment.function_log(state_dir, "new")
    offset = log.stat().st_size if log.is_file() else 0
    ledger = LedgerReader(deployment, "new")
    started = time.perf_counter()
    deployment.set_mapping_enabled("new", logical, True)
    kit.wait_for(
        lambda: kit.ledger_caught_up(ledger.read(), name, ends),
        900,
        what=f"{name} replicated",
        progress=lambda: kit.ledger_progress(ledger.read(), name, ends),
        interval=0.05,
    )
    seconds = time.perf_counter() - started
    summary = log_summary(log, offset)
    return {
        "records": n,
        "seconds": round(seconds, 2),
        "records_per_s": round(n / seconds),
        "batches": summary["batches"],
        "put_calls": summary["calls"],
        "records_per_put_call": round(summary["written"] / summary["calls"], 1)
        if summary["calls"]
        else None,
        "duplicates_resent": summary["duplicates"],
    }


def replicator_run(
    deployment: kit.Deployment,
    runtime: Any,
    state_dir: Path,
    uuid: str,
    ends: dict[str, str],
) -> dict:
    """One replay of the events mapping from TRIM_HORIZON into the (fresh) target."""
    lam = deployment.client("lambda", "new")
    source_name = deployment.stream_name(STREAM, "new")
    ledger = LedgerReader(deployment, "new")
    ledger.clear([f"{source_name}/{shard}" for shard in ends])
    runtime.store.forget(uuid)  # the mapping is paused: replay it from its starting position
    log = deployment.function_log(state_dir, "new")
    offset = log.stat().st_size if log.is_file() else 0

    def done() -> bool:
        positions = runtime.mapping_positions(uuid)
        return all(
            positions.get(shard) is not None and int(positions[shard]) >= int(last)
            for shard, last in ends.items()
        )

    enable_called = time.perf_counter()
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    wait_until_enabled(lam, uuid)
    started = time.perf_counter()
    runtime.refresh()  # start the pollers now rather than at the next periodic refresh
    deadline = started + 900
    while not done():
        if time.perf_counter() > deadline:
            raise AssertionError(f"replicator run not done: {runtime.mapping_positions(uuid)}")
        time.sleep(0.01)
    finished = time.perf_counter()
    seconds = finished - started
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    runtime.refresh()
    for (mapping, _shard), poller in list(runtime._pollers.items()):
        if mapping == uuid:
            poller.join(15)
    assert kit.ledger_caught_up(ledger.read(), source_name, ends), "ledger behind the checkpoints"
    summary = log_summary(log, offset)
    written = summary["written"]
    return {
        "contender": "replicator",
        "records": written,
        "seconds": round(seconds, 3),
        "seconds_from_enable_call": round(finished - enable_called, 3),
        "enabling_seconds": round(started - enable_called, 3),
        "records_per_s": round(written / seconds),
        "batches": summary["batches"],
        "put_calls": summary["calls"],
        "records_per_put_call": round(written / summary["calls"], 1) if summary["calls"] else None,
        "duplicates_resent": summary["duplicates"],
    }


def wait_until_enabled(lam: Any, uuid: str) -> None:
    """Until the mapping has left its ``Enabling`` transition (2 s on the aws profile, as on
    AWS a mapping takes a moment to start polling): the same wait for any Lambda consumer, once
    per cutover, so (a) times the replication from there."""
    deadline = time.perf_counter() + 60
    while lam.get_event_source_mapping(UUID=uuid)["State"] != "Enabled":
        if time.perf_counter() > deadline:
            raise AssertionError(f"mapping {uuid} not Enabled after 60 s")
        time.sleep(0.02)


def main() -> None:
    os.environ.setdefault("TURNOUT_PROVIDER_MIRROR", "/opt/tf-plugins")
    profile = os.environ.get("BENCH_PROFILE") or "aws"
    with tempfile.TemporaryDirectory(prefix="turnout-bench-") as tmp:
        work = Path(tmp)
        emulator = Emulator(work / "emulator", profile=profile).start()
        try:
            result = run(emulator, work)
        finally:
            emulator.stop()
    result["profile"] = profile
    line = json.dumps(result)
    print(json.dumps(result, indent=2))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "a", encoding="utf-8") as out:
            out.write(line + "\n")


def median_run(runs: list[dict]) -> dict:
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return ordered[(len(ordered) - 1) // 2]


def run(emulator: Emulator, work: Path) -> dict:
    deployment = kit.Deployment(emulator, work)
    deployment.apply("baseline")
    deployment.apply("mirrored")
    for logical in (STREAM, HOT_STREAM, "relay-faults"):
        deployment.set_mapping_enabled("new", logical, False)
    kinesis = deployment.client("kinesis", "new")
    source_name = deployment.stream_name(STREAM, "new")
    records = kit.keyed_records(TAG, N_RECORDS, N_KEYS, seed=1)
    put_started = time.perf_counter()
    kit.put_records(kinesis, source_name, records)
    put_seconds = time.perf_counter() - put_started
    shards = [s["ShardId"] for s in kinesis.list_shards(StreamName=source_name)["Shards"]]
    source_stream = kit.read_stream(kinesis, source_name)
    ends = kit.shard_ends(source_stream)
    source_rows = kit.tagged(source_stream, {TAG})
    uuid = deployment.mapping_uuid("new", STREAM)

    state_dir = work / "runtime"
    state_dir.mkdir()
    # AWS polls a shard at its tip once a second; the reads behind it are not paced.
    runtime = deployment.runtime(state_dir, poll_interval=1.0, refresh_interval=1.0)
    function_arn = deployment.function_arn("new")

    def worker_pids() -> list[int]:
        host = runtime.function_host(function_arn)
        if host is None:
            return []
        # One worker per function, or a pool (idle and busy workers), whichever the runtime has.
        workers = [getattr(host, "_worker", None)]
        workers += list(getattr(host, "_idle", []) or []) + list(getattr(host, "_busy", []) or [])
        return [w.proc.pid for w in workers if w is not None]

    meter = Meter(emulator, worker_pids)
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
        deployment.set_mapping_enabled("new", HOT_STREAM, False)
        runtime.refresh()
        # ... and one replay of the events stream, not measured: each source shard's batches
        # then find a warm worker (on AWS the function's instances stay warm across batches).
        recreate_stream(deployment.client("kinesis", "old"), deployment.stream_name(STREAM, "old"))
        replicator_run(deployment, runtime, state_dir, uuid, ends)

        runs = _alternating_rounds(
            deployment, runtime, state_dir, uuid, ends, shards, meter, source_rows
        )

        # (d) one hot key, order kept.
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

    return _summary(deployment, runs, hot, shards, put_seconds)


def _alternating_rounds(
    deployment, runtime, state_dir: Path, uuid: str, ends, shards, meter, source_rows
) -> list[dict]:
    """(a): the copy loop and the replicator, alternating, on a fresh target each run."""
    target_kinesis = deployment.client("kinesis", "old")
    target_name = deployment.stream_name(STREAM, "old")
    runs: list[dict] = []
    for round_ in range(ROUNDS):
        order = ("loop", "replicator") if round_ % 2 == 0 else ("replicator", "loop")
        for contender in order:
            recreate_stream(target_kinesis, target_name)
            time.sleep(0.5)  # let the emulator settle (idle pollers only)
            before = meter.snapshot()
            if contender == "loop":
                result = copy_loop(deployment, shards)
            else:
                result = replicator_run(deployment, runtime, state_dir, uuid, ends)
            result.update(Meter.delta(before, meter.snapshot()))
            delivery = kit.check_delivery(
                source_rows, kit.tagged(kit.read_stream(target_kinesis, target_name), {TAG})
            )
            result["round"] = round_
            result["delivery"] = delivery.summary()
            result["delivery_ok"] = delivery.ok and delivery.duplicates == 0
            print(
                f"[bench] round {round_} {contender}: {result['seconds']} s, "
                f"{result['records_per_s']} records/s, cpu {result['cpu_seconds']}, "
                f"{delivery.summary()}",
                flush=True,
            )
            runs.append(result)
    return runs


def _summary(deployment, runs: list[dict], hot: dict, shards: list, put_seconds: float) -> dict:
    loops = [r for r in runs if r["contender"] == "loop"]
    replicators = [r for r in runs if r["contender"] == "replicator"]
    loop = median_run(loops)
    replicator = median_run(replicators)
    call_overhead = put_call_overhead(deployment)
    extra_calls = replicator["put_calls"] - loop["put_calls"]
    return {
        "benchmark": "replication_on_emulator",
        "method": "fresh target per run, alternating order, medians",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "records": N_RECORDS,
        "keys": N_KEYS,
        "shards": len(shards),
        "esm_batch_size": deployment.spec.replication.batch_size,
        "rounds": ROUNDS,
        "terraform_applies": deployment.applies,
        "put_seconds": round(put_seconds, 2),
        "a_runs": runs,
        "a_copy_loop": loop,
        "a_replicator": replicator,
        "a_copy_loop_seconds": [r["seconds"] for r in loops],
        "a_replicator_seconds": [r["seconds"] for r in replicators],
        "a_ratio": round(loop["seconds"] / replicator["seconds"], 3),
        "a_ratio_per_round": [
            round(
                statistics.mean(r["seconds"] for r in loops if r["round"] == i)
                / statistics.mean(r["seconds"] for r in replicators if r["round"] == i),
                3,
            )
            for i in range(ROUNDS)
        ],
        "a_all_delivered": all(r["delivery_ok"] for r in replicators),
        "a_put_call_overhead_ms": call_overhead,
        "a_extra_put_calls": extra_calls,
        "a_extra_put_calls_seconds": round(extra_calls * call_overhead / 1000, 2),
        "d_hot_key": hot,
        "goals": {"a_ratio": ">= 0.9"},
    }


if __name__ == "__main__":
    main()
