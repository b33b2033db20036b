"""Run the benchmarks and write bench/RESULTS.md (`make bench`, `make bench PROFILE=fast`).

Runs bench/bench_handler.py (in-memory clients: CPU per record, records per call, hot key),
bench/bench_inprocess.py (the replicator at AWS's latencies, failure rates and shard limits,
modelled in process, against a naive copier), bench/bench_replication.py (the real deployment
on the local emulator, in the ``--profile`` fidelity profile (default aws): throughput against a plain copy
loop, records per call, hot key), bench/bench_drain.py (the drain verdict of a 1,000-shard
stream) and bench/bench_verify.py (verify throughput), then writes the machine, the date and a
table of figures against the goals. The raw JSON of each goes to bench/results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import results_inprocess  # noqa: E402

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


def run(script: str, profile: str | None = None) -> tuple[dict, float]:
    out = BENCH / f".{script}.jsonl"
    out.unlink(missing_ok=True)
    started = time.monotonic()
    environment = dict(os.environ, **({"BENCH_PROFILE": profile} if profile else {}))
    subprocess.run([sys.executable, str(BENCH / script), str(out)], check=True, env=environment)
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


def emulator_rows(replication: dict, profile: str) -> list[tuple[str, str, str, str]]:
    a = replication
    loop, repl = a["a_copy_loop"], a["a_replicator"]
    where = f"emulator, profile {profile}"
    return [
        (
            f"(a) replication throughput, replicator / plain copy loop ({where}; fresh target "
            f"per run, medians of {a['rounds']} alternating runs each)",
            f"{repl['records_per_s']:,} vs {loop['records_per_s']:,} records/s "
            f"({repl['seconds']} s vs {loop['seconds']} s; per-round ratios "
            f"{', '.join(str(r) for r in a['a_ratio_per_round'])}): **{a['a_ratio']}**",
            ">= 0.9 (on the aws profile)",
            verdict(a["a_ratio"] >= 0.9) if profile == "aws" else "not comparable (below)",
        ),
        (
            f"(c) records per PutRecords call on the emulator run ({a['esm_batch_size']:,}-record "
            "ESM batches, ~250 keys per shard)",
            f"{repl['records_per_put_call']} ({repl['put_calls']} calls, {repl['batches']} batches)",
            "informational",
            "-",
        ),
        (
            "(d) one hot key, order kept, on the emulator",
            f"{a['d_hot_key']['records_per_s']} records/s ({a['d_hot_key']['records']} records, "
            f"order kept: {a['d_hot_key']['order_kept']})",
            "order kept",
            verdict(a["d_hot_key"]["order_kept"]),
        ),
    ]


def handler_rows(handler: dict) -> list[tuple[str, str, str, str]]:
    rr, rnd, relaxed = handler["b_c_cpu_and_packing"]
    hot = handler["d_hot_key"]
    cpu = [run["cpu_us_per_record_median"] for run in (rr, rnd, relaxed)]
    return [
        (
            "(b) handler CPU per record (in-memory clients, 10,000-record batches, medians of 10)",
            f"{cpu[0]} µs round-robin keys, {cpu[1]} µs random keys (strict), {cpu[2]} µs random "
            "keys (relaxed)",
            "<= 10 µs",
            verdict(max(cpu) <= 10),
        ),
        (
            "(c) records per PutRecords call, when the batch allows (round-robin keys)",
            f"{rr['avg_records_per_call']} ({rr['put_records_calls']} calls)",
            ">= 475",
            verdict(rr["avg_records_per_call"] >= 475),
        ),
        (
            "(c) records per PutRecords call, random keys, strict (a call holds the distinct keys "
            "pending among the 500 records after the first unwritten one)",
            f"{rnd['avg_records_per_call']} ({rnd['put_records_calls']} calls; relaxed: "
            f"{relaxed['avg_records_per_call']})",
            "informational",
            "-",
        ),
        (
            "(d) one hot key, strict, in-memory Kinesis at "
            f"{hot['fake_put_records_latency_ms']} ms per call",
            f"{hot['records_per_second']} records/s",
            f"1 / latency = {hot['ceiling_records_per_second']}",
            "-",
        ),
    ]


def drain_verify_rows(drain: dict, checked: dict) -> list[tuple[str, str, str, str]]:
    rows = [
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
    ]
    rows += [
        (
            f"drain verdict, {drain['shards']:,}-shard stream, {label}, the next round (its "
            "iterators kept)",
            f"{drain[key]['seconds']} s ({drain[key]['verdict']})",
            "reported",
            "-",
        )
        for key, label in (
            ("ledger_one_behind_again", "replicator ledger, one shard behind"),
            ("kcl_one_behind_again", "KCL lease table, one shard behind"),
        )
        if key in drain
    ]
    rows += [
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
    return rows


def report_row(drawn: dict) -> tuple[str, str, str, str]:
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


def profile_caveat(profile: str) -> list[str]:
    if profile == "aws":
        return [
            "On the `aws` profile the emulator meters each shard as AWS does (1,000 records and "
            "1 MiB per second of writes, 5 reads per second) and answers each call after AWS's "
            "latency (docs/emulator.md): the copy loop is throttled like the replicator, which "
            "paces itself to stay under those limits.",
            "",
        ]
    return [
        f"**Not comparable on the `{profile}` profile:** it enforces no shard write limit, so the "
        "copy loop writes each shard as fast as the machine allows while the replicator paces "
        "itself at AWS's 1,000 records and 1 MiB per second per target shard. The goal is set "
        "for the `aws` profile (`make bench`).",
        "",
    ]


def emulator_lines(replication: dict, profile: str) -> list[str]:
    a = replication
    loop, repl = a["a_copy_loop"], a["a_replicator"]
    return [
        f"### (a) on the emulator (profile {profile})",
        "",
        "Both contenders copy the same source (the new environment's 4-shard stream, "
        f"{a['records']:,} records over {a['keys']:,} keys) to the old environment's stream, which "
        "is deleted and re-created empty with the same shape before every run. The runs "
        "alternate; the ratio is median loop seconds / median replicator seconds.",
        "",
        "- **plain copy loop** (the baseline): one thread per source shard, GetRecords (Limit "
        "500) from TRIM_HORIZON and PutRecords of those records, resending the entries that "
        "failed after 0.1 s until none is left (a throttled GetRecords is tried again after "
        "0.2 s); no order rule, no ledger, no loop guard, no metrics.",
        "- **replicator**: the deployed function under the local Lambda runtime, its mapping "
        f"(batch size {a['esm_batch_size']:,}) replayed from TRIM_HORIZON: loop guard, the "
        "near-prefix schedule, pacing per target shard, ledger update, one EMF line per batch. "
        "Timed from the moment its mapping is `Enabled`; the `Enabling` transition before it "
        "(the same for every Lambda consumer, once per cutover) is counted apart: from the "
        f"enable call the median run took {repl.get('seconds_from_enable_call', '-')} s. One "
        "unmeasured replay first warms a worker per source shard.",
        "",
        *profile_caveat(profile),
        "| run | contender | seconds | records/s | PutRecords calls | requests to the emulator "
        "| CPU s: emulator / this process / worker | target check |",
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
    ]


def header_lines(timings: dict[str, float], replication: dict, load: LoadSampler) -> list[str]:
    applies = ", ".join(
        f"{item['phase']} {item['seconds']} s" for item in replication["terraform_applies"]
    )
    took = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items())
    return [
        "# Benchmark results",
        "",
        "Written by `make bench` (`bench/run.py`); raw JSON lines in `bench/results.jsonl`.",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        f"- machine: {platform.platform()}, {cpu_model()}, {os.cpu_count()} cores",
        f"- Python {platform.python_version()}",
        f"- the emulator's fidelity profile for the replication, drain and verify benchmarks: "
        f"`{replication['profile']}` (docs/emulator.md)",
        f"- emulator run: {replication['records']:,} records, {replication['keys']:,} keys, "
        f"{replication['shards']} shards; Terraform applies of both environments: {applies}; "
        f"{took}",
        f"- {load.summary()}",
        "",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks, write bench/RESULTS.md.")
    parser.add_argument(
        "--profile",
        default="aws",
        choices=("aws", "fast"),
        help="the emulator's fidelity profile for the emulator benchmarks (default: aws, where "
        "the replication goal applies; fast: moto as it is, no shard limits or latency)",
    )
    profile = parser.parse_args().profile
    timings: dict[str, float] = {}
    handler, timings["bench_handler"] = run("bench_handler.py")
    inprocess, timings["bench_inprocess"] = run("bench_inprocess.py")
    with LoadSampler() as load:
        replication, timings["bench_replication"] = run("bench_replication.py", profile)
    drain, timings["bench_drain"] = run("bench_drain.py", profile)
    checked, timings["bench_verify"] = run("bench_verify.py", profile)
    drawn, timings["bench_report"] = run("bench_report.py")

    cpu_us = max(r["cpu_us_per_record_median"] for r in handler["b_c_cpu_and_packing"])
    rows = [
        *results_inprocess.goal_rows(inprocess, cpu_us),
        *emulator_rows(replication, profile),
        *handler_rows(handler),
        *drain_verify_rows(drain, checked),
        report_row(drawn),
    ]
    lines = [
        *header_lines(timings, replication, load),
        "| figure | measured | goal | |",
        "|---|---|---|---|",
        *[f"| {name} | {value} | {goal} | {ok} |" for name, value, goal, ok in rows],
        "",
        *results_inprocess.matrix_lines(inprocess),
        *emulator_lines(replication, profile),
    ]
    RESULTS_MD.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {RESULTS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
