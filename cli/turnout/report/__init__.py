"""`turnout report`: the cutover drawn: phases as bands on a timeline, replication lag and event
rates as totals over every stream, the streams with the worst lag named, one row per stream,
step durations and the journal, as one self-contained HTML file and a PNG.

`collect` reads the journal and metrics into the data model (`model`, `series`); `window`
chooses the window and the periods; `timeline` turns the journal into phases and steps;
`aggregate` makes the totals, the worst streams and the per-stream rows; `svg`, `spark`,
`stream_table` and `html`, and `png` draw it; `write_report` writes both files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from turnout.report.model import CutoverReport

HTML_NAME = "turnout-report.html"
PNG_NAME = "turnout-report.png"


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    png: Path


def write_report(report: CutoverReport, out_dir: Path) -> ReportFiles:
    from turnout.report.html import render_html
    from turnout.report.png import render_png

    out_dir.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out_dir / HTML_NAME, out_dir / PNG_NAME)
    temporary = files.html.with_suffix(".html.tmp")
    temporary.write_text(render_html(report), encoding="utf-8")
    temporary.replace(files.html)
    render_png(report, files.png)
    return files


def default_report_dir(work_dir: Path) -> Path:
    return work_dir / "report"
