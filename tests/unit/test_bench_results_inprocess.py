"""bench/results_inprocess.py: the hot key's per-shard goal is judged on the rate after the first
second; the whole run is shown beside what an even flow averages."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import results_inprocess as results

MODEL = {"records_per_run": 20_000, "latency_ms": 20.0}


def _run(workload: str, ordering: str, rate: float, **figures) -> dict:
    row = {
        "workload": workload,
        "ordering": ordering,
        "failure_rate": rate,
        "seconds": 5.0,
        "records_per_s": 4_000.0,
        "sustained_records_per_s": 4_000.0,
        "lost": 0,
        "order_kept": True,
        "duplicates": 0,
        "duplicates_counted": 0,
        "inversions": 0,
        "inversions_counted": 0,
        "overruns": 0,
        "max_duplicates_per_timed_out_invocation": 0,
        "timed_out_invocations": 0,
        "records": 20_000,
    }
    row.update(figures)
    return row


def _result(hot_whole: float, hot_sustained: float) -> dict:
    runs = [_run("uniform 1,000 keys", "strict", rate) for rate in results.RATES]
    runs.append(
        _run(
            "one hot key",
            "relaxed",
            0.0,
            records_per_s=hot_whole,
            sustained_records_per_s=hot_sustained,
        )
    )
    runs.append(_run("one hot key", "strict", 0.0, records_per_s=49.8))
    naive = [
        _run("uniform 1,000 keys", "", 0.0),
        _run("one hot key", "", 0.0, sustained_records_per_s=1_000.0),
    ]
    return {
        "model": MODEL,
        "replicator": runs,
        "naive": naive,
        "forced_timeouts": [_run("one hot key", "strict", 0.3)],
        "issue_case": [],
    }


def _hot_row(result: dict) -> tuple[str, str, str, str]:
    return next(
        row for row in results.goal_rows(result, 8.0) if "relaxed, 0 %: records/s" in row[0]
    )


def test_an_even_flow_of_20000_records_at_20_ms_averages_999_over_the_whole_run():
    assert results.even_flow_rate({"model": MODEL}) == pytest.approx(999.0, abs=0.05)


def test_the_hot_key_at_the_shard_limit_after_its_first_second_meets_the_goal():
    _, measured, _, verdict = _hot_row(_result(hot_whole=998.9, hot_sustained=1_000.0))
    assert verdict == "met"
    assert measured == "**1,000.0** (whole run 998.9; even flow 999.0)"


def test_the_hot_key_below_the_shard_limit_after_its_first_second_misses_the_goal():
    _, _, _, verdict = _hot_row(_result(hot_whole=1_040.0, hot_sustained=990.0))
    assert verdict == "**missed**"
