"""What `turnout report` does: collect, then write both files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from turnout.aws.access import service_clock
from turnout.errors import TurnoutError
from turnout.report import ReportFiles, default_report_dir, write_report
from turnout.report.aggregate import worst_lag
from turnout.report.collect import collect_report, parse_since
from turnout.report.model import CutoverReport
from turnout.spec.model import MigrationSpec

Progress = Callable[[str], None]
WORST_NAMED = 3  # streams named in the text summary; the HTML names more


def make_report(
    spec: MigrationSpec,
    aws: Any,
    work_dir: Path,
    *,
    since: str | None = None,
    out_dir: Path | None = None,
    progress: Progress = lambda message: None,
) -> tuple[CutoverReport, ReportFiles]:
    """Collect from `aws` (wherever the caller decided AWS is) and draw into `out_dir`
    (default: `<work_dir>/report`)."""
    # On the services' clock, like the journal's times and the metrics' periods (an accelerated
    # sandbox's; this machine's on AWS).
    now = datetime.fromtimestamp(service_clock(aws)(), UTC)
    start = parse_since(since, now)
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise TurnoutError(f"--out {out_dir} is a file; give a directory (it is created if new).")
    report = collect_report(spec, aws, since=start, now=now, progress=progress)
    target = out_dir or default_report_dir(work_dir)
    progress(f"drawing the report into {target}")
    return report, write_report(report, target)


def report_text(report: CutoverReport, files: ReportFiles) -> str:
    lines = [f"report: {files.html}", f"timeline: {files.png}"]
    phases = ", ".join(f"{band.phase} {band.seconds:.0f} s" for band in report.phases)
    lines.append(f"phases: {phases}")
    with_data = [series for series in report.series if series.points]
    lines.append(
        f"series with data: {len(with_data)} of {len(report.series)} (the others have none); "
        f"{len(report.steps)} steps, {len(report.journal)} journal entries"
    )
    worst = worst_lag(report.series, WORST_NAMED)
    if worst:
        named = "; ".join(
            f"{peak.stream} {peak.direction} {peak.seconds:,.1f} s at {peak.at:%H:%M:%S}"
            for peak in worst
        )
        lines.append(f"highest lag (per {report.lag_period} s): {named}")
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)
