"""The in-process benchmark's part of bench/RESULTS.md: goal rows and the full matrix."""

from __future__ import annotations

RATES = (0.0, 0.1, 0.3)


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _find(rows: list[dict], workload: str, ordering: str | None, rate: float) -> dict:
    return next(
        row
        for row in rows
        if row["workload"].startswith(workload)
        and (ordering is None or row.get("ordering") == ordering)
        and row["failure_rate"] == rate
    )


def goal_rows(result: dict, cpu_us: float) -> list[tuple[str, str, str, str]]:
    runs, naive = result["replicator"], result["naive"]
    uniform = {rate: _find(runs, "uniform", "strict", rate) for rate in RATES}
    naive_uniform = _find(naive, "uniform", None, 0.0)["sustained_records_per_s"]
    ratio = uniform[0.0]["sustained_records_per_s"] / naive_uniform
    hot_relaxed = _find(runs, "one hot key", "relaxed", 0.0)
    naive_hot = _find(naive, "one hot key", None, 0.0)["sustained_records_per_s"]
    hot_ratio = hot_relaxed["sustained_records_per_s"] / naive_hot
    hot_strict = _find(runs, "one hot key", "strict", 0.0)
    ceiling = 1 / (result["model"]["latency_ms"] / 1000)
    timeouts = result["forced_timeouts"]
    worst = max(row["max_duplicates_per_timed_out_invocation"] for row in timeouts)
    slower = {rate: uniform[rate]["seconds"] / uniform[0.0]["seconds"] for rate in (0.1, 0.3)}
    checks = all(
        row["lost"] == 0
        and row["order_kept"]
        and row["duplicates"] == row["duplicates_counted"]
        and row["inversions"] == row["inversions_counted"]
        and row["overruns"] == 0
        for row in runs + timeouts + result["issue_case"][:1]
    )
    return [
        (
            "uniform 1,000 keys at 0 %, strict: sustained records/s, replicator / naive copier",
            f"{uniform[0.0]['sustained_records_per_s']:,} / {naive_uniform:,} = **{ratio:.2f}**",
            ">= 0.9",
            verdict(ratio >= 0.9),
        ),
        (
            "uniform 1,000 keys, strict: time at 10 % / at 0 % entry failures",
            f"{uniform[0.1]['seconds']} s / {uniform[0.0]['seconds']} s = **{slower[0.1]:.2f}**",
            "<= 1.5",
            verdict(slower[0.1] <= 1.5),
        ),
        (
            "uniform 1,000 keys, strict: time at 30 % / at 0 % entry failures",
            f"{uniform[0.3]['seconds']} s / {uniform[0.0]['seconds']} s = **{slower[0.3]:.2f}**",
            "<= 3",
            verdict(slower[0.3] <= 3),
        ),
        (
            "one hot key, relaxed, 0 %: records/s on its shard after the first second "
            "(whole run, the first answer's latency included; what an even flow averages)",
            f"**{hot_relaxed['sustained_records_per_s']:,}** "
            f"(whole run {hot_relaxed['records_per_s']:,}; even flow {even_flow_rate(result):,.1f})",
            ">= 1,000 (the shard's write limit)",
            verdict(hot_relaxed["sustained_records_per_s"] >= 1000),
        ),
        (
            "one hot key, relaxed, 0 %: sustained records/s, replicator / naive copier",
            f"{hot_relaxed['sustained_records_per_s']:,} / {naive_hot:,} = **{hot_ratio:.2f}**",
            ">= 0.9",
            verdict(hot_ratio >= 0.9),
        ),
        (
            "one hot key, strict, 0 %: records/s",
            f"{hot_strict['records_per_s']}",
            f"the ceiling 1 / latency = {ceiling:g}",
            verdict(hot_strict["records_per_s"] >= 0.97 * ceiling),
        ),
        (
            "duplicates after an invocation forced to time out (most in one invocation)",
            f"{worst} ({', '.join(_timeout_summary(row) for row in timeouts)})",
            "<= 500 (one call)",
            verdict(worst <= 500),
        ),
        (
            "handler CPU per record (bench_handler: in-memory clients, 10,000-record batches)",
            f"{cpu_us} µs",
            "<= 10 µs",
            verdict(cpu_us <= 10),
        ),
        (
            "every replicator run: 0 lost, order kept (strict: first copies, relaxed: last), "
            "duplicates and inversions counted = found in the target, no budget overrun",
            "yes" if checks else "**no**",
            "always",
            verdict(checks),
        ),
    ]


def even_flow_rate(result: dict, shard_limit: float = 1000.0) -> float:
    """Records/s over a whole run of a perfectly even flow into one shard at ``shard_limit``:
    the run's records take records / limit seconds after the first call's answer (one latency).
    With every one-second window at most ``shard_limit``, only bursts beat it by more than the
    first call's few records; the pacer avoids them (docs/replicator.md, Pacing)."""
    model = result["model"]
    records = model["records_per_run"]
    return records / (records / shard_limit + model["latency_ms"] / 1000)


def _timeout_summary(row: dict) -> str:
    return (
        f"{row['workload']} {row['ordering']}: {row['timed_out_invocations']} timed out, "
        f"{row['duplicates']:,} duplicates of {row['records']:,} records in all"
    )


def matrix_lines(result: dict) -> list[str]:
    model = result["model"]
    lines = [
        "### The replicator at AWS latencies and failure rates (in process)",
        "",
        f"`bench/bench_inprocess.py` with `bench/aws_model.py`: one source shard of "
        f"{model['records_per_run']:,} records of 200 bytes, ESM batches of "
        f"{model['batch_size']:,}, a {model['timeout_seconds']:g} s function timeout, into a "
        f"{model['target_shards']}-shard target whose PutRecords takes "
        f"{model['latency_ms']:g} ms, fails entries at random (3 in 4 "
        "ProvisionedThroughputExceededException, 1 in 4 InternalFailure) and throttles what "
        "would pass a shard's 1,000 records or 1 MiB in any second. Time is simulated: waits "
        "are modelled, the handler's CPU is real. *Sustained* = records per second over whole "
        "seconds after the first one (an idle shard accepts a burst). The naive copier copies "
        f"{model['naive_records']:,} records in full 500-record calls, no retries: what it "
        "loses is in `lost`.",
        "",
        "| contender | workload | order | failures | seconds | records/s | sustained | lost "
        "| duplicates (counted) | inversions (counted) | order kept | records/call "
        "| throttled entries |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["replicator"] + result["previous"] + result["issue_case"]:
        lines.append(_run_line(row))
    for row in result["naive"]:
        lines.append(
            f"| naive copier | {row['workload']} | - | {row['failure_rate']:.0%} | "
            f"{row['seconds']} | {row['delivered_records_per_s']:,} delivered of "
            f"{row['offered_records_per_s']:,} sent | {row['sustained_records_per_s']:,} | "
            f"{row['lost']:,} | - | - | - | 500 | - |"
        )
    lines += ["", "Forced time-outs (10,000-record batches, 30 s timeout, 30 % failures):", ""]
    lines += [
        "| workload | order | seconds | timed-out invocations | most duplicates in one "
        "| duplicates (counted) | inversions (counted) | lost |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in result["forced_timeouts"]:
        lines.append(
            f"| {row['workload']} | {row['ordering']} | {row['seconds']} | "
            f"{row['timed_out_invocations']} | {row['max_duplicates_per_timed_out_invocation']} "
            f"| {row['duplicates']:,} ({row['duplicates_counted']:,}) | "
            f"{row['inversions']:,} ({row['inversions_counted']:,}) | {row['lost']} |"
        )
    return [*lines, ""]


def _run_line(row: dict) -> str:
    return (
        f"| {row['contender']} | {row['workload']} | {row['ordering']} | "
        f"{row['failure_rate']:.0%} | {row['seconds']} | {row['records_per_s']:,} | "
        f"{row['sustained_records_per_s']} | {row['lost']} | "
        f"{row['duplicates']:,} ({row['duplicates_counted']:,}) | "
        f"{row['inversions']:,} ({row['inversions_counted']:,}) | {row['order_kept']} | "
        f"{row['records_per_call']} | {row['throttled_entries']:,} |"
    )
