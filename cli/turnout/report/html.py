"""The report as one self-contained HTML file: inline CSS and SVG, no script, font or image
from anywhere else, every string escaped; a Content-Security-Policy that allows nothing but the
inline styles backs that up.

Totals first, so the page reads the same at 3 streams and at 300: per environment (incoming)
and per direction (lag, replicated), then the streams with the worst lag, named, then one row
per stream (turnout.report.stream_table)."""

from __future__ import annotations

from datetime import datetime
from html import escape

from turnout.report.aggregate import WORST_STREAMS, worst_lag
from turnout.report.model import CutoverReport, Series
from turnout.report.stream_table import CSS as STREAM_TABLE_CSS
from turnout.report.stream_table import peak_label, streams_section, worst_section
from turnout.report.svg import chart_svg, series_colour, steps_svg, timeline_svg

# Nothing may load or run: no script, no fetch of any kind; inline <style> and style attributes
# (the per-stream table's sort ranks) only.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
GAP_SPANS_SHOWN = 12

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
h3 { font-size: 15px; margin-top: 20px; }
table.worst { width: auto; }
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
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        f"<title>turnout report: {_text(report.migration)}</title>",
        f"<style>{CSS}{STREAM_TABLE_CSS}</style></head><body>",
        f"<h1>Cutover report: migration {_text(report.migration)}</h1>",
        f'<p class="meta">window {_text(_time(report.window_start))} - '
        f"{_text(_time(report.window_end))}; metric period {report.period_seconds} s, "
        f"replication lag per {report.lag_period} s; "
        f"generated {_text(_time(report.generated_at))}</p>",
    ]
    parts += [f'<p class="note">{_text(note)}</p>' for note in report.notes]
    parts += _phases_section(report)
    parts += _lag_section(report)
    parts += _chart_section(
        report,
        "rate",
        "Incoming events, total per environment",
        "AWS/Kinesis IncomingRecords per period, summed over every stream of the environment, "
        "in records per second (each stream: in the table below).",
        report.totals("rate"),
    )
    parts += _chart_section(
        report,
        "replicated",
        "Replicated records, total per direction",
        "ReplicatedRecords per period (the replicator's metric), summed over every stream, in "
        "records per second.",
        report.totals("replicated"),
    )
    parts += streams_section(report)
    parts += _counted_section(report)
    parts += (
        ["<h2>Step durations</h2>", steps_svg(report)]
        if report.steps
        else [
            "<h2>Step durations</h2>",
            '<p class="no-data">no step ran in this window.</p>',
        ]
    )
    parts += _api_switch_section(report)
    parts += _read_across_section(report)
    parts += _retention_section(report)
    parts += _journal_section(report)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _lag_section(report: CutoverReport) -> list[str]:
    """The highest lag of any stream per direction, then the worst streams named and drawn."""
    worst = worst_lag(report.series, WORST_STREAMS)
    by_id = {series.id: series for series in report.series_of("lag")}
    parts = _chart_section(
        report,
        "lag",
        "Replication lag, the highest of any stream",
        f"Maximum ReplicationLagMs (the replicator's metric, per invocation that wrote) per "
        f"{report.lag_period} s, the highest of every stream of a direction, in seconds.",
        report.totals("lag"),
    )
    if not worst:
        return parts + worst_section(worst)
    parts.append(f"<h3>The {len(worst)} streams with the highest lag</h3>")
    parts += worst_section(worst)
    return parts + _chart_section(
        report,
        "worst-lag",
        "",
        "Their lag over time, in seconds.",
        [by_id[peak.series_id] for peak in worst],
        labels={peak.series_id: peak_label(peak) for peak in worst},
    )


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


def _chart_section(
    report: CutoverReport,
    kind: str,
    title: str,
    what: str,
    series: list[Series],
    labels: dict[str, str] | None = None,
) -> list[str]:
    """A chart with its legend below it (HTML, never over the plot), the series without data
    named, and the gaps of each drawn series."""
    labels = labels or {}
    parts = [f"<h2>{_text(title)}</h2>"] if title else []
    parts.append(f'<p class="meta">{_text(what)}</p>')
    if [item for item in series if item.points]:
        parts.append(chart_svg(report, kind, title or what, series))
        parts.append(f'<ul class="legend" data-legend-of="{_text(kind)}">')
        for index, item in enumerate(series):
            if item.points:
                parts.append(
                    f'<li data-legend="{_text(item.id)}"><span class="swatch" '
                    f'style="background:{series_colour(index)}"></span>'
                    f"{_text(labels.get(item.id, item.label))}</li>"
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
    parts += [_gaps_note(item) for item in series if item.gaps()]
    return parts


def _gaps_note(series: Series) -> str:
    gaps = series.gaps()
    spans = "; ".join(
        f"{before:%H:%M:%S} - {after:%H:%M:%S}" for before, after in gaps[:GAP_SPANS_SHOWN]
    )
    more = f" and {len(gaps) - GAP_SPANS_SHOWN} more" if len(gaps) > GAP_SPANS_SHOWN else ""
    return (
        f'<p class="gaps" data-gaps-of="{_text(series.id)}">{_text(series.label)}: no data '
        f"between {_text(spans + more)} (the line is broken there).</p>"
    )


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


def _api_switch_section(report: CutoverReport) -> list[str]:
    """Each API's weight over time (none without `apis:`)."""
    if not report.api_switch:
        return []
    rows = "".join(
        f'<tr class="api-row"><td>{_text(row.at.strftime("%H:%M:%S"))}</td>'
        f"<td>{_text(row.api)}</td><td>{_text(row.transition)}</td><td>{_text(row.step)}</td>"
        f'<td class="num">{"" if row.new_percent is None else _text(row.new_percent)}</td>'
        f"<td>{_text(row.what)}</td></tr>"
        for row in report.api_switch
    )
    return _row_table(
        "API switch",
        "The new endpoint's share of each API's answers: as each apply set the weighted records, "
        "and as Route 53 answered after it (docs/apis.md).",
        "api-switch",
        ("time (UTC)", "API", "transition", "step", "new %", "what"),
        rows,
    )


def _read_across_section(report: CutoverReport) -> list[str]:
    """Read-across mode: the old consumers' mappings on the new streams (none in copy mode)."""
    if not report.read_across:
        return []
    rows = "".join(
        f'<tr class="read-across-row"><td>{_text(row.at.strftime("%H:%M:%S"))}</td>'
        f"<td>{_text(row.mapping)}</td><td>{_text(row.transition)}</td>"
        f"<td>{_text(row.step)}</td><td>{_text(row.state)}</td></tr>"
        for row in report.read_across
    )
    return _row_table(
        "Read-across",
        "The old consumers' mappings on the new streams, as each check read them: enabled from "
        "mirrored to the commit or the end of a rollback (docs/read-across.md).",
        "read-across",
        ("time (UTC)", "mapping", "transition", "step", "state"),
        rows,
    )


def _retention_section(report: CutoverReport) -> list[str]:
    """The new streams' oldest records against retention at each gate that measured them."""
    if not report.retention:
        return []
    rows = "".join(
        f'<tr class="retention-row" data-verdict="{_text(row.verdict)}">'
        f"<td>{_text(row.at.strftime('%H:%M:%S'))}</td><td>{_text(row.transition)}</td>"
        f"<td>{_text(row.verdict)}</td><td>{_text(row.fact)}</td></tr>"
        for row in report.retention
    )
    return _row_table(
        "Retention clock",
        "While the new consumers are paused, each new stream's oldest record is the oldest they "
        "have not processed: its age against the stream's retention, as the preflight gate "
        "before each transition measured it (docs/preflight.md, retention-clock).",
        "retention",
        ("time (UTC)", "transition", "verdict", "measured"),
        rows,
    )


def _row_table(
    title: str, note: str, table_class: str, headers: tuple[str, ...], rows: str
) -> list[str]:
    """A section of one table: its title, a note on what the rows are, the rows (HTML)."""
    head = "".join(f"<th>{_text(header)}</th>" for header in headers)
    return [
        f"<h2>{_text(title)}</h2>",
        f'<p class="meta">{_text(note)}</p>',
        f'<table class="{table_class}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>',
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
