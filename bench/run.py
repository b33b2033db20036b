"""Run the benchmarks and write bench/RESULTS.md (`make bench`).

Runs bench/bench_handler.py (in-memory clients: CPU per record, records per call, hot key) and
bench/bench_replication.py (the real deployment on the local emulator: throughput against a
plain copy loop, records per call, hot key), bench/bench_drain.py (the drain verdict of a
1,000-shard stream) and bench/bench_verify.py (verify throughput), then writes the machine, the
date and a table of figures against the goals. The raw JSON of each goes to bench/results.jsonl.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS_MD = BENCH / "RESULTS.md"
RESULTS_JSONL = BENCH / "results.jsonl"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(script: str) -> tuple[dict, float]:
    out = BENCH / f".{script}.jsonl"
    out.unlink(missing_ok=True)
    started = time.monotonic()
    subprocess.run([sys.executable, str(BENCH / script), str(out)], check=True)
    result = json.loads(out.read_text().strip().splitlines()[-1])
    out.unlink()
    with open(RESULTS_JSONL, "a", encoding="utf-8") as raw:
        raw.write(json.dumps(result) + "\n")
    return result, time.monotonic() - started


class LoadSampler:
    """The 1-minute load average, sampled every ``interval`` seconds while a benchmark runs: the
    figures are only comparable within one run when the machine is shared."""

    def __init__(self, interval: float = 5.0) -> None:
        self.interval = interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)

    def summary(self) -> str:
        if not self.samples:
            return "not sampled"
        ordered = sorted(self.samples)
        median = ordered[len(ordered) // 2]
        cores = os.cpu_count() or 1
        text = (
            f"1-minute load average during bench_replication: median {median:.2f}, "
            f"min {ordered[0]:.2f}, max {ordered[-1]:.2f} ({len(ordered)} samples, {cores} cores)"
        )
        if median >= cores:
            text += (
                " — **the machine was saturated** (other work was running): absolute figures "
                "are depressed and noisy; compare only the contenders within this run"
            )
        return text


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _figure_rows(
    handler: dict, replication: dict, drain: dict, checked: dict, drawn: dict
) -> list[tuple]:
    """(figure, measured, goal, verdict) per row of the results table."""
    rr, rnd = handler["b_c_cpu_and_packing"]
    hot = handler["d_hot_key"]
    a = replication
    loop, repl = a["a_copy_loop"], a["a_replicator"]
    return [
        (
            "(a) replication throughput, replicator / plain copy loop (emulator; fresh target per "
            f"run, medians of {a['rounds']} alternating runs each)",
            f"{repl['records_per_s']:,} vs {loop['records_per_s']:,} records/s "
            f"({repl['seconds']} s vs {loop['seconds']} s; per-round ratios "
            f"{', '.join(str(r) for r in a['a_ratio_per_round'])}): **{a['a_ratio']}**",
            ">= 0.9",
            verdict(a["a_ratio"] >= 0.9),
        ),
        (
            "(b) handler CPU per record (in-memory clients, 10,000-record batches)",
            f"{rr['cpu_us_per_record_median']} µs round-robin keys, {rnd['cpu_us_per_record_median']} µs random keys (medians of 10)",
            "<= 10 µs",
            verdict(max(rr["cpu_us_per_record_median"], rnd["cpu_us_per_record_median"]) <= 10),
        ),
        (
            "(c) records per PutRecords call, when the batch allows (round-robin keys)",
            f"{rr['avg_records_per_call']} ({rr['put_records_calls']} calls, lower bound {rr['min_possible_calls']})",
            ">= 475",
            verdict(rr["avg_records_per_call"] >= 475),
        ),
        (
            "(c) records per PutRecords call, random keys (longest key run bounds the calls)",
            f"{rnd['avg_records_per_call']} ({rnd['put_records_calls']} calls, lower bound {rnd['min_possible_calls']} = longest key run {rnd['longest_key_run']})",
            "the bound",
            verdict(rnd["put_records_calls"] == rnd["min_possible_calls"]),
        ),
        (
            f"(c) records per PutRecords call on the emulator run ({a['esm_batch_size']:,}-record "
            "ESM batches, ~250 keys per shard)",
            f"{repl['records_per_put_call']} ({repl['put_calls']} calls, {repl['batches']} batches)",
            "informational",
            "-",
        ),
        (
            "(d) one hot key, order kept, in-memory Kinesis at "
            f"{hot['fake_put_records_latency_ms']} ms per call",
            f"{hot['records_per_second']} records/s",
            f"1 / latency = {hot['ceiling_records_per_second']}",
            "-",
        ),
        (
            "(d) one hot key, order kept, on the emulator",
            f"{a['d_hot_key']['records_per_s']} records/s ({a['d_hot_key']['records']} records, order kept: {a['d_hot_key']['order_kept']})",
            "order kept",
            verdict(a["d_hot_key"]["order_kept"]),
        ),
        *[
            (
                f"drain verdict, {drain['shards']:,}-shard stream on the emulator, "
                f"{label} ({drain['workers']} workers)",
                f"{drain[key]['seconds']} s ({drain[key]['verdict']})",
                f"<= {drain['goal_seconds']:g} s",
                verdict(drain[key]["seconds"] <= drain["goal_seconds"]),
            )
            for key, label in (
                ("ledger_drained", "replicator ledger, drained"),
                ("ledger_one_behind", "replicator ledger, one shard behind"),
                ("kcl_drained", "KCL lease table, drained"),
                ("kcl_one_behind", "KCL lease table, one shard behind"),
            )
        ],
        *_verify_rows(checked),
        _report_row(drawn),
    ]


def _verify_rows(checked: dict) -> list[tuple]:
    return [
        (
            f"verify throughput, {checked['records_per_stream']:,} records per stream, "
            f"{checked['shards']} shards, both streams read, at most "
            f"{run_['max_reads_per_shard_per_second']:g} GetRecords/s per shard",
            f"{run_['records_per_second']:,.0f} records/s ({run_['records_read']:,} read in "
            f"{run_['seconds']} s)",
            "reported",
            "-",
        )
        for run_ in checked["verify"].values()
    ]


def _report_row(drawn: dict) -> tuple:
    return (
        f"cutover report, {drawn['streams']} streams x {drawn['environments']} environments "
        f"over {drawn['window_hours']:g} h ({drawn['datapoints']:,} datapoints, lag per "
        f"{drawn['lag_period_seconds']} s), medians of {drawn['rounds']}",
        f"both files {drawn['write_report_s']} s (HTML {drawn['html_s']} s, "
        f"{drawn['html_bytes'] / 1e6:.2f} MB; PNG {drawn['png_s']} s; totals, worst streams "
        f"and rows {drawn['aggregate_s']} s)",
        "reported",
        "-",
    )


def _page(rows: list[tuple], replication: dict, load_summary: str, seconds: tuple) -> list[str]:
    """bench/RESULTS.md's lines."""
    handler_s, replication_s, drain_s, verify_s, report_s = seconds
    a = replication
    loop, repl = a["a_copy_loop"], a["a_replicator"]
    applies = ", ".join(
        f"{item['phase']} {item['seconds']} s" for item in replication["terraform_applies"]
    )
    return [
        "# Benchmark results",
        "",
        "Written by `make bench` (`bench/run.py`); raw JSON lines in `bench/results.jsonl`.",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        f"- machine: {platform.platform()}, {cpu_model()}, {os.cpu_count()} cores",
        f"- Python {platform.python_version()}",
        f"- emulator run: {replication['records']:,} records, {replication['keys']:,} keys, "
        f"{replication['shards']} shards; Terraform applies of both environments: {applies}; "
        f"bench_handler {handler_s:.0f} s, bench_replication {replication_s:.0f} s, "
        f"bench_drain {drain_s:.0f} s, bench_verify {verify_s:.0f} s, "
        f"bench_report {report_s:.0f} s",
        f"- {load_summary}",
        "",
        "| figure | measured | goal | |",
        "|---|---|---|---|",
        *[f"| {name} | {value} | {goal} | {ok} |" for name, value, goal, ok in rows],
        "",
        "### (a) how it is measured",
        "",
        "Both contenders copy the same source (the new environment's 4-shard stream, "
        f"{a['records']:,} records over {a['keys']:,} keys) to the old environment's stream, which "
        "is deleted and re-created empty with the same shape before every run, so neither "
        "writes into the other's data. The runs alternate (loop first in even rounds, the "
        "replicator first in odd ones); the ratio is median loop seconds / median replicator "
        "seconds.",
        "",
        "- **plain copy loop** (the naive baseline): per shard, GetRecords (Limit 500) from "
        "TRIM_HORIZON and one PutRecords of exactly those records, shard after shard, in one "
        "thread; no per-key order rule, no retries, no ledger, no loop guard, no metrics.",
        "- **replicator**: the deployed function under the local Lambda runtime, its mapping "
        f"(batch size {a['esm_batch_size']:,}) replayed from TRIM_HORIZON: runtime poller (GetRecords, event JSON) → "
        "worker process → handler: loop guard (SSM, cached 5 s), PutRecords with at most one "
        "unacknowledged record per partition key per call, ledger UpdateItem and "
        "PutMetricData per batch → checkpoint. Timed from enabling the mapping until every "
        "shard's last record is checkpointed.",
        "",
        "| run | contender | seconds | records/s | PutRecords calls | requests to the emulator "
        "| CPU s: emulator / this process (loop or runtime) / worker | target check |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {r['round']} | {r['contender']} | {r['seconds']} | {r['records_per_s']:,} | "
            f"{r['put_calls']} | {sum(r['requests'].values())} | "
            f"{r['cpu_seconds']['emulator']} / {r['cpu_seconds']['bench_process']} / "
            f"{r['cpu_seconds']['worker']} | `{r['delivery']}` |"
            for r in a["a_runs"]
        ],
        "",
        "Requests of the median runs, per API: loop "
        f"`{json.dumps(loop['requests'])}`; replicator `{json.dumps(repl['requests'])}`.",
        "",
        f"Hot key: `{replication['d_hot_key']['delivery']}`.",
        "",
        "The emulator run's detail:",
        "",
        "```json",
        json.dumps(
            {key: replication[key] for key in ("a_copy_loop", "a_replicator", "d_hot_key")},
            indent=2,
        ),
        "```",
        "",
    ]


def main() -> int:
    handler, handler_s = run("bench_handler.py")
    with LoadSampler() as load:
        replication, replication_s = run("bench_replication.py")
    drain, drain_s = run("bench_drain.py")
    checked, verify_s = run("bench_verify.py")
    drawn, report_s = run("bench_report.py")
    rows = _figure_rows(handler, replication, drain, checked, drawn)
    seconds = (handler_s, replication_s, drain_s, verify_s, report_s)
    lines = _page(rows, replication, load.summary(), seconds)
    RESULTS_MD.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {RESULTS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
