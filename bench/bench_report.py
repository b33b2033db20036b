"""Benchmark drawing the cutover report at the scale of a real pipeline.

Usage: python bench/bench_report.py [RESULTS_FILE]

Builds the report model of a 2-hour cutover of BENCH_REPORT_STREAMS (100) streams in both
environments directly (tests/report_kit.py: incoming records per minute in each environment,
replicated records per minute and the replicator's lag every 10 s while mirrored and new-live;
about 68,000 datapoints in all), then times, ROUNDS times each: the aggregation (totals, worst
streams, per-stream rows), the HTML page, the PNG, and `write_report` (both files). Reading
CloudWatch is not timed: it depends on the account, not on this code.

Prints one JSON object (medians in seconds, page and picture sizes); with RESULTS_FILE, also
appends it there as one line.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from report_kit import synthetic_report
from turnout.report import write_report
from turnout.report.aggregate import stream_rows, worst_lag
from turnout.report.html import render_html
from turnout.report.png import draw_figure

STREAMS = int(os.environ.get("BENCH_REPORT_STREAMS", "100"))
ROUNDS = 3


def median_seconds(work: Callable[[], object]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times), 3)


def aggregate(report) -> None:
    for kind in ("lag", "rate", "replicated"):
        report.totals(kind)
    worst_lag(report.series)
    stream_rows(report.series)


def main() -> int:
    report = synthetic_report(STREAMS)
    draw_figure(report)  # the first figure loads matplotlib's fonts: not part of the figure
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        out = Path(scratch)
        result = {
            "benchmark": "report",
            "streams": STREAMS,
            "environments": 2,
            "window_hours": (report.window_end - report.window_start).total_seconds() / 3600,
            "lag_period_seconds": report.lag_period,
            "series": len(report.series),
            "datapoints": sum(len(series.points) for series in report.series),
            "rounds": ROUNDS,
            "aggregate_s": median_seconds(lambda: aggregate(report)),
            "html_s": median_seconds(lambda: render_html(report)),
            "png_s": median_seconds(lambda: draw_figure(report).savefig(out / "t.png")),
            "write_report_s": median_seconds(lambda: write_report(report, out)),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
        result["html_bytes"] = (out / "turnout-report.html").stat().st_size
        result["png_bytes"] = (out / "turnout-report.png").stat().st_size
    print(json.dumps(result))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "a", encoding="utf-8") as results:
            results.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
