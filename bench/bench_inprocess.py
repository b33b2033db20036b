"""The replicator at AWS latencies and failure rates, in process (bench/aws_model.py).

Usage: python bench/bench_inprocess.py [RESULTS_FILE]

Every run copies one source shard (20,000 records of 200 bytes, ESM batches of 2,000, a 120 s
function timeout) into a 4-shard target whose PutRecords takes 20 ms, fails entries at random
(0, 10 or 30 %) and throttles what would exceed a shard's 1,000 records or 1 MiB in any second.
Workloads: uniform over 1,000 keys; Zipf s = 1.1 over 10,000 keys; one hot key; each in strict
and in relaxed order. Contenders, in the same run:

- the replicator (this repository);
- the previous replicator (the commit before issue 15, read from git), where git has it;
- the naive batch copier: full 500-record PutRecords calls in source order, no retries, no order
  rule (what it fails to write is lost); it copies 150,000 records so that its rate after the
  first second (when an idle shard's burst is over) can be measured.

Every replicator run checks: nothing lost; per-key order (strict: first copies, relaxed: last
copies); the duplicates and inversions it counted equal those in the target. Plus: duplicates
after invocations forced to time out, and the issue's own case for the previous replicator.

Prints one JSON object; with RESULTS_FILE, also appends it there as one line.
"""

from __future__ import annotations

import base64
import bisect
import importlib.util
import json
import math
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "cli"))
sys.path.insert(0, str(BENCH))

import aws_model as model  # noqa: E402
from turnout.lambdas.replicator import Replicator, ReplicatorConfig, StreamRoute  # noqa: E402

RECORDS = 20_000
NAIVE_RECORDS = 150_000
BATCH_SIZE = 2_000
TIMEOUT_SECONDS = 120.0
LATENCY = 0.020
SHARDS = 4
RATES = (0.0, 0.1, 0.3)
PREVIOUS_COMMIT = "6e3f995"  # the last commit before issue 15's replicator
PREVIOUS_PATH = "cli/turnout/lambdas/replicator.py"


def workloads() -> list[model.Workload]:
    return [
        model.uniform(RECORDS, 1000),
        model.zipf(RECORDS, 10_000, 1.1),
        model.hot_key(RECORDS),
    ]


def config_for(module: Any, ordering: str, **tunables: Any) -> Any:
    routes = (
        {"source": StreamRoute("target", ordering)}
        if module is None
        else {"source": "target"}  # the previous replicator knew only target names
    )
    config_class = ReplicatorConfig if module is None else module.ReplicatorConfig
    return config_class(
        direction=model.DIRECTION,
        direction_parameter="/turnout/bench/active-direction",
        target_role_arn="arn:aws:iam::222222222222:role/writer",
        external_id="bench",
        target_region="eu-west-1",
        stream_map=routes,
        ledger_table="ledger",
        **tunables,
    )


def build(target: model.TargetStream, clock: model.SimClock, ordering: str, module: Any = None):
    instant = model.Instant()

    def factory(service: str, region_name: str | None = None, credentials: Any = None) -> Any:
        return target if service == "kinesis" else instant

    replicator_class = Replicator if module is None else module.Replicator
    return replicator_class(
        config_for(module, ordering),
        client_factory=factory,
        clock=clock,
        rng=random.Random(7),
        log_sink=lambda line: None,
    )


def previous_module() -> Any | None:
    """The replicator as it was before issue 15, or None when git cannot show it."""
    try:
        source = subprocess.run(
            ["git", "show", f"{PREVIOUS_COMMIT}:{PREVIOUS_PATH}"],
            cwd=BENCH.parent,
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "previous_replicator.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("previous_replicator", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- checks


def first_arrivals(target: model.TargetStream) -> dict[int, float]:
    first: dict[int, float] = {}
    for stored in target.stored:
        first.setdefault(stored.index, stored.at)
    return first


def sustained_rate(arrivals: list[float]) -> float | None:
    """Records per second after the first second (when an idle shard's burst is over), counted
    over a whole number of seconds from the first arrival after it: a copier that bursts each
    time a shard's second frees up is then measured over whole periods, not cut mid-burst."""
    later = sorted(at for at in arrivals if at >= 1.0)
    if not later:
        return None
    start = later[0]
    span = math.floor(later[-1] - start)
    if span < 1:
        return None
    return round(bisect.bisect_left(later, start + span) / span, 1)


def order_and_inversions(target: model.TargetStream, keys: list[str], ordering: str) -> tuple:
    """(order kept, inversions in the target) with the definitions of docs/replicator.md."""
    by_key: dict[str, list[int]] = {}
    for stored in target.stored:
        by_key.setdefault(keys[stored.index], []).append(stored.index)
    kept, inversions = True, 0
    for indices in by_key.values():
        last = {index: position for position, index in enumerate(indices)}
        if ordering == "relaxed":
            kept &= sorted(last, key=last.__getitem__) == sorted(last)
        else:
            firsts = list(dict.fromkeys(indices))
            kept &= firsts == sorted(firsts)
        lowest_after = None
        for position in range(len(indices) - 1, -1, -1):
            index = indices[position]
            if last[index] == position:
                lowest_after = index if lowest_after is None else min(lowest_after, index)
            elif lowest_after is not None and lowest_after < index:
                inversions += 1
    return kept, inversions


# --------------------------------------------------------------------------- contenders


def run_replicator(
    workload: model.Workload,
    ordering: str,
    rate: float,
    *,
    module: Any = None,
    batch_size: int = BATCH_SIZE,
    timeout: float = TIMEOUT_SECONDS,
) -> dict:
    records, payloads = model.events(workload)
    clock = model.SimClock()
    target = model.TargetStream(clock, SHARDS, LATENCY, rate, seed=11)
    target.index_of = {payload: index for index, payload in enumerate(payloads)}
    replicator = build(target, clock, ordering, module)
    cpu = time.process_time()
    started = clock.monotonic()
    run = model.run_esm(
        replicator.process, records, clock, batch_size=batch_size, timeout_seconds=timeout
    )
    elapsed = clock.monotonic() - started
    cpu = time.process_time() - cpu
    first = first_arrivals(target)
    kept, inversions = order_and_inversions(target, workload.keys, ordering)
    counted_duplicates = sum(o.duplicates_resent for o in run.outcomes)
    counted_inversions = sum(getattr(o, "inversions", 0) for o in run.outcomes)
    timed_out = [o for o in run.outcomes if o.stop_reason == "time"]
    return {
        "contender": "previous replicator" if module else "replicator",
        "workload": workload.name,
        "ordering": ordering,
        "failure_rate": rate,
        "records": len(records),
        "seconds": round(elapsed, 3),
        "records_per_s": round(len(records) / elapsed, 1),
        "sustained_records_per_s": sustained_rate(list(first.values())),
        "lost": len(records) - len(first),
        "duplicates": len(target.stored) - len(first),
        "duplicates_counted": counted_duplicates,
        "inversions": inversions,
        "inversions_counted": counted_inversions,
        "order_kept": kept,
        "invocations": run.invocations,
        "timed_out_invocations": len(timed_out),
        "max_duplicates_per_timed_out_invocation": max(
            (o.duplicates_resent for o in timed_out), default=0
        ),
        "overruns": run.overruns,
        "calls": target.calls,
        "records_per_call": round(target.entries / max(1, target.calls), 1),
        "throttled_entries": target.throttled,
        "injected_failures": target.injected,
        "cpu_us_per_record": round(cpu / len(records) * 1e6, 2),
    }


def run_naive(workload: model.Workload, rate: float) -> dict:
    """Full 500-record calls in source order, batch after batch; no retries, no order rule."""
    records, payloads = model.events(workload)
    clock = model.SimClock()
    target = model.TargetStream(clock, SHARDS, LATENCY, rate, seed=11)
    target.index_of = {payload: index for index, payload in enumerate(payloads)}
    started = clock.monotonic()
    for start in range(0, len(records), 500):
        entries = [
            {
                "Data": base64.b64decode(r["kinesis"]["data"]),
                "PartitionKey": r["kinesis"]["partitionKey"],
            }
            for r in records[start : start + 500]
        ]
        target.put_records(StreamName="target", Records=entries)
    elapsed = clock.monotonic() - started
    first = first_arrivals(target)
    return {
        "contender": "naive copier",
        "workload": workload.name,
        "failure_rate": rate,
        "records": len(records),
        "seconds": round(elapsed, 3),
        "offered_records_per_s": round(len(records) / elapsed, 1),
        "delivered_records_per_s": round(len(first) / elapsed, 1),
        "sustained_records_per_s": sustained_rate(list(first.values())),
        "lost": len(records) - len(first),
    }


def naive_workload(workload: model.Workload) -> model.Workload:
    if workload.name == "one hot key":
        return model.hot_key(NAIVE_RECORDS)
    if workload.name.startswith("uniform"):
        return model.uniform(NAIVE_RECORDS, 1000, seed=5)
    return model.zipf(NAIVE_RECORDS, 10_000, 1.1, seed=5)


def forced_timeouts() -> list[dict]:
    """Invocations that cannot finish their batch: 10,000-record batches of long strict key
    chains under the 30 s minimum timeout, at 30 % entry failures. Each stops by time; what it
    wrote after the first unwritten record comes back with the retry (a duplicate)."""
    cases = ((model.hot_key(RECORDS), "strict"), (model.zipf(RECORDS, 10_000, 1.1), "strict"))
    return [
        run_replicator(workload, ordering, 0.3, batch_size=10_000, timeout=30.0)
        for workload, ordering in cases
    ]


def issue_case(previous: Any) -> list[dict]:
    """The issue's measurement: 20,000 records over 200 keys, 2,000-record batches, a 60 s
    timeout, 30 % entry failures (the previous replicator re-sent 7,826 records there)."""
    workload = model.uniform(RECORDS, 200)
    rows = [run_replicator(workload, "strict", 0.3, timeout=60.0)]
    if previous is not None:
        rows.append(run_replicator(workload, "strict", 0.3, timeout=60.0, module=previous))
    return rows


def main() -> None:
    previous = previous_module()
    replicator_runs, naive_runs, previous_runs = [], [], []
    for workload in workloads():
        for rate in RATES:
            naive_runs.append(run_naive(naive_workload(workload), rate))
            for ordering in ("strict", "relaxed"):
                replicator_runs.append(run_replicator(workload, ordering, rate))
            if previous is not None and workload.name != "Zipf s=1.1 over 10,000 keys":
                previous_runs.append(run_replicator(workload, "strict", rate, module=previous))
    result = {
        "benchmark": "replicator_inprocess",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "model": {
            "records_per_run": RECORDS,
            "batch_size": BATCH_SIZE,
            "timeout_seconds": TIMEOUT_SECONDS,
            "latency_ms": LATENCY * 1000,
            "target_shards": SHARDS,
            "naive_records": NAIVE_RECORDS,
        },
        "replicator": replicator_runs,
        "naive": naive_runs,
        "previous": previous_runs,
        "forced_timeouts": forced_timeouts(),
        "issue_case": issue_case(previous),
    }
    print(json.dumps(result, indent=2))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "a", encoding="utf-8") as out:
            out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
