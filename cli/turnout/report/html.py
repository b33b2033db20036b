"""The report as one self-contained HTML file: inline CSS and SVG, no script, font or image
from anywhere else, every string escaped."""

from __future__ import annotations

from datetime import datetime
from html import escape

from turnout.report.model import CutoverReport
from turnout.report.svg import chart_svg, series_colour, steps_svg, timeline_svg

CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1040px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.meta { color: #555; font-size: 13px; }
svg { display: block; font-size: 11px; }
svg .grid { stroke: #e4e4e4; stroke-width: 1; }
svg .axis { stroke: #888; stroke-width: 1; }
svg .plot-area { stroke: #bbb; }
svg .tick { fill: #555; }
svg .row-label { fill: #333; font-weight: 600; }
svg .phase-label { fill: #1a1a1a; font-weight: 600; }
svg .transition-span { fill: #666; opacity: 0.75; }
svg .transition-span[data-outcome="failed"] { fill: #c0392b; }
svg .step-bar { fill: #4a78b5; }
svg .step-bar.outcome-failed { fill: #c0392b; }
svg .step-bar.outcome-unfinished { fill: #aaa; }
.legend { list-style: none; padding: 0; font-size: 13px; }
.legend li { display: inline-block; margin-right: 16px; }
.swatch { display: inline-block; width: 14px; height: 4px; vertical-align: middle; margin-right: 4px; }
.no-data, .gaps, .note { color: #8a5a00; font-size: 13px; }
table { border-collapse: collapse; font-size: 12px; width: 100%; }
th, td { border-bottom: 1px solid #eee; padding: 3px 6px; text-align: left; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
"""


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def render_html(report: CutoverReport) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>turnout report: {_text(report.migration)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Cutover report: migration {_text(report.migration)}</h1>",
        f'<p class="meta">window {_text(_time(report.window_start))} - '
        f"{_text(_time(report.window_end))}; metric period {report.period_seconds} s; "
        f"generated {_text(_time(report.generated_at))}</p>",
    ]
    parts += [f'<p class="note">{_text(note)}</p>' for note in report.notes]
    parts += _phases_section(report)
    parts += _chart_section(
        report,
        "lag",
        "Replication lag per stream and direction",
        "Maximum ReplicationLagMs per period (the replicator's metric), in seconds.",
    )
    parts += _chart_section(
        report,
        "rate",
        "Incoming events per stream",
        "AWS/Kinesis IncomingRecords per period, in records per second, per environment.",
    )
    parts += _chart_section(
        report,
        "replicated",
        "Replicated records per stream and direction",
        "ReplicatedRecords per period (the replicator's metric), in records per second.",
    )
    parts += _counted_section(report)
    parts += (
        ["<h2>Step durations</h2>", steps_svg(report)]
        if report.steps
        else [
            "<h2>Step durations</h2>",
            '<p class="no-data">no step ran in this window.</p>',
        ]
    )
    parts += _journal_section(report)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _phases_section(report: CutoverReport) -> list[str]:
    rows = "".join(
        f'<tr data-phase-row="{_text(band.phase)}"><td>{_text(band.phase)}</td>'
        f"<td>{_text(_time(band.start))}</td>"
        f"<td>{_text(_time(band.end))}{' (still live)' if band.open_ended else ''}</td>"
        f'<td class="num">{band.seconds:,.0f}</td></tr>'
        for band in report.phases
    )
    return [
        "<h2>Phases</h2>",
        timeline_svg(report),
        '<table class="phases"><thead><tr><th>phase</th><th>from</th><th>until</th>'
        f"<th>seconds</th></tr></thead><tbody>{rows}</tbody></table>",
    ]


def _chart_section(report: CutoverReport, kind: str, title: str, what: str) -> list[str]:
    series = report.series_of(kind)
    parts = [f"<h2>{_text(title)}</h2>", f'<p class="meta">{_text(what)}</p>']
    drawn = [item for item in series if item.points]
    if drawn:
        parts.append(chart_svg(report, kind, title, series))
        parts.append('<ul class="legend">')
        for index, item in enumerate(series):
            if item.points:
                parts.append(
                    f'<li data-legend="{_text(item.id)}"><span class="swatch" '
                    f'style="background:{series_colour(index)}"></span>{_text(item.label)}</li>'
                )
        parts.append("</ul>")
    empty = [item for item in series if not item.points]
    if empty:
        names = ", ".join(
            f'<span data-no-data="{_text(item.id)}">{_text(item.label)}</span>' for item in empty
        )
        parts.append(
            f'<p class="no-data">No data in this window (not drawn, not zero): {names}.</p>'
        )
    for item in series:
        if item.gaps():
            spans = "; ".join(
                f"{before:%H:%M:%S} - {after:%H:%M:%S}" for before, after in item.gaps()
            )
            parts.append(
                f'<p class="gaps" data-gaps-of="{_text(item.id)}">{_text(item.label)}: no data '
                f"between {_text(spans)} (the line is broken there).</p>"
            )
    return parts


def _counted_section(report: CutoverReport) -> list[str]:
    def cell(value: float | None) -> str:
        return "no data" if value is None else f"{value:,.0f}"

    rows = "".join(
        f'<tr data-counted="{_text(row["stream"])}:{_text(row["direction"])}">'
        f"<td>{_text(row['stream'])}</td><td>{_text(row['direction'])}</td>"
        f"<td>{_text(row['ordering'])}</td>"
        f'<td class="num">{_text(cell(row.get("duplicates")))}</td>'
        f'<td class="num">{_text(cell(row.get("inversions")))}</td></tr>'
        for row in report.counted()
    )
    return [
        "<h2>Duplicates and inversions, as the replicator counted them</h2>",
        '<p class="meta">Sums over the window of DuplicatesResent and Inversions (the '
        "replicator's metrics). A relaxed stream keeps the last copy of every record in order: "
        "its duplicates and inversions are part of its contract; on a strict stream they come "
        'from retries only. "no data": the replicator of that direction did not run.</p>',
        '<table class="counted"><thead><tr><th>stream</th><th>direction</th><th>order</th>'
        "<th>duplicates</th><th>inversions</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>",
    ]


def _journal_section(report: CutoverReport) -> list[str]:
    rows = "".join(
        f'<tr class="journal-row" data-kind="{_text(row.kind)}" data-action="{_text(row.action)}">'
        f"<td>{_text(row.at.strftime('%H:%M:%S.%f')[:-3])}</td><td>{_text(row.run_id)}</td>"
        f"<td>{_text(row.kind)}</td><td>{_text(row.action)}</td><td>{_text(row.transition)}</td>"
        f"<td>{_text(row.step)}</td>"
        f'<td class="num">{"" if row.seconds is None else _text(row.seconds)}</td></tr>'
        for row in report.journal
    )
    return [
        f"<h2>Journal ({len(report.journal)} entries)</h2>",
        '<table class="journal"><thead><tr><th>time (UTC)</th><th>run</th><th>kind</th>'
        "<th>outcome</th><th>transition</th><th>step</th><th>seconds</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>",
    ]
