"""The HTML of the per-stream detail: the worst streams by lag, and one row per stream, sortable
without a script (CSS only: a radio button per sort order, each row's rank in a custom property,
the rows laid out with `order`).

Every row is in the page once; sorting changes only where it is drawn. Strings are escaped;
the only values in a style attribute are integers.
"""

from __future__ import annotations

from html import escape

from turnout.report.aggregate import LagPeak, StreamRow, by_lag, stream_rows
from turnout.report.model import CutoverReport
from turnout.report.spark import sparkline
from turnout.report.svg import series_colour

ENVIRONMENT_COLOURS = {"old": series_colour(0), "new": series_colour(1)}
LAG_COLOUR = "#c0392b"
# (id, what it orders by, key): the orders a reader can choose; the first is the default.
SORTS = (
    ("lag", "peak lag, highest first", by_lag),
    ("name", "stream name", lambda row: row.stream),
    (
        "incoming",
        "peak incoming, highest first",
        lambda row: (-(row.incoming_top or -1.0), row.stream),
    ),
    (
        "replicated",
        "records replicated, most first",
        lambda row: (-(row.replicated_records or -1.0), row.stream),
    ),
    ("gaps", "lag gaps, most first", lambda row: (-row.lag_gaps, row.stream)),
)
# (column header, the sort its header chooses, width)
HEADERS = (
    ("stream", "name", 150),
    ("old in/s", None, 78),
    ("new in/s", None, 78),
    ("incoming", "incoming", 126),
    ("replicated", "replicated", 92),
    ("peak lag (s)", "lag", 88),
    ("direction", None, 82),
    ("at (UTC)", None, 70),
    ("lag", None, 126),
    ("points", None, 58),
    ("gaps", "gaps", 48),
)
COLUMNS = " ".join(f"{width}px" for _, _, width in HEADERS)

CSS = f"""
.stream-table {{ position: relative; }}
.sort-choice {{ position: absolute; opacity: 0; width: 1px; height: 1px; margin: 0; }}
.table-scroll {{ overflow-x: auto; }}
table.streams {{ display: block; width: max-content; }}
table.streams thead, table.streams tbody {{ display: flex; flex-direction: column; }}
table.streams tr {{ display: grid; grid-template-columns: {COLUMNS}; align-items: center; }}
table.streams td, table.streams th {{ overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }}
table.streams th label {{ cursor: pointer; text-decoration: underline dotted; }}
table.streams svg.spark {{ display: block; }}
""" + "".join(
    f"#sort-{name}:checked ~ .table-scroll table.streams tbody tr {{ order: var(--by-{name}); }}\n"
    f'#sort-{name}:checked ~ .table-scroll label[for="sort-{name}"] {{ font-weight: 700; }}\n'
    f'#sort-{name}:checked ~ .table-scroll label[for="sort-{name}"]::after {{ content: " ▾"; }}\n'
    f'#sort-{name}:focus-visible ~ .table-scroll label[for="sort-{name}"] '
    f"{{ outline: 2px solid #4a78b5; }}\n"
    for name, _, _ in SORTS
)


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "no data"
    return f"{value:,.0f}" if value >= 100 or digits == 0 else f"{value:,.{digits}f}"


def worst_section(worst: list[LagPeak]) -> list[str]:
    """The streams with the highest peak lag, worst first, with their peak and when."""
    if not worst:
        return ['<p class="no-data">No stream has a lag datapoint in this window.</p>']
    rows = "".join(
        f'<tr class="worst-row" data-worst-rank="{rank}" data-stream="{_text(peak.stream)}" '
        f'data-direction="{_text(peak.direction)}"><td class="num">{rank}</td>'
        f"<td>{_text(peak.stream)}</td><td>{_text(peak.direction.replace('-to-', ' → '))}</td>"
        f'<td class="num">{_text(_number(peak.seconds))}</td>'
        f"<td>{_text(peak.at.strftime('%H:%M:%S'))}</td></tr>"
        for rank, peak in enumerate(worst, start=1)
    )
    return [
        '<table class="worst"><thead><tr><th>rank</th><th>stream</th><th>direction</th>'
        "<th>peak lag (s)</th><th>at (UTC)</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>",
    ]


def streams_section(report: CutoverReport) -> list[str]:
    rows = stream_rows(report.series)
    ranks = {name: _ranks(rows, key) for name, _, key in SORTS}
    lag_ceiling = max((row.lag_peak.seconds for row in rows if row.lag_peak), default=0.0)
    radios = "".join(
        f'<input type="radio" class="sort-choice" name="stream-sort" id="sort-{name}"'
        f'{" checked" if index == 0 else ""} aria-label="order by {_text(what)}">'
        for index, (name, what, _) in enumerate(SORTS)
    )
    body = "".join(_row(report, row, ranks, lag_ceiling) for row in rows)
    return [
        f"<h2>Per stream ({len(rows)} streams)</h2>",
        '<p class="meta">Peak incoming records per second in each environment, records '
        "replicated (both directions), the highest lag and when, and the lag's datapoints and "
        "gaps over the window. Sparklines: incoming (old blue, new red) on each row's own "
        "scale; lag on one scale for every row. Choose an order by its column header.</p>",
        f'<div class="stream-table">{radios}<div class="table-scroll">',
        '<table class="streams" role="table"><thead role="rowgroup"><tr role="row">'
        + _header()
        + f'</tr></thead><tbody role="rowgroup">{body}</tbody></table></div></div>',
    ]


def _ranks(rows: list[StreamRow], key) -> dict[str, int]:
    return {row.stream: rank for rank, row in enumerate(sorted(rows, key=key), start=1)}


def _header() -> str:
    cells = []
    for header, sort, _ in HEADERS:
        inner = f'<label for="sort-{sort}">{_text(header)}</label>' if sort else _text(header)
        cells.append(f'<th role="columnheader">{inner}</th>')
    return "".join(cells)


def _row(report: CutoverReport, row: StreamRow, ranks: dict, lag_ceiling: float) -> str:
    order = ";".join(f"--by-{name}:{ranks[name][row.stream]}" for name, _, _ in SORTS)
    no_data = set(row.no_data)
    peak = row.lag_peak
    cells = [
        f'<td role="cell" title="{_text(row.stream)}">{_text(row.stream)}</td>',
        *[_incoming_cell(row, environment, no_data) for environment in ("old", "new")],
        _cell(_spark_incoming(report, row)),
        _cell(_text(_number(row.replicated_records, 0)), numeric=True),
        _lag_cell(row, no_data),
        _cell(_text(peak.direction.replace("-to-", " → ")) if peak else ""),
        _cell(_text(peak.at.strftime("%H:%M:%S")) if peak else ""),
        _cell(_spark_lag(report, row, lag_ceiling)),
        _cell(str(row.lag_points), numeric=True),
        f'<td role="cell" class="num" data-lag-gaps="{_text(row.stream)}" '
        f'title="{_text(_gap_times(row))}">{row.lag_gaps}</td>',
    ]
    return (
        f'<tr role="row" class="stream-row" data-stream="{_text(row.stream)}" '
        f'style="{order}">{"".join(cells)}</tr>'
    )


def _cell(inner: str, numeric: bool = False) -> str:
    return (
        f'<td role="cell" class="num">{inner}</td>' if numeric else f'<td role="cell">{inner}</td>'
    )


def _incoming_cell(row: StreamRow, environment: str, no_data: set[str]) -> str:
    series = row.incoming.get(environment)
    if series is not None and series.id in no_data:
        return f'<td role="cell" class="no-data" data-no-data="{_text(series.id)}">no data</td>'
    return _cell(_text(_number(row.incoming_peak.get(environment))), numeric=True)


def _lag_cell(row: StreamRow, no_data: set[str]) -> str:
    if row.lag_peak is None:
        missing = " ".join(series.id for series in row.lag if series.id in no_data)
        return f'<td role="cell" class="no-data" data-no-data="{_text(missing)}">no data</td>'
    return (
        f'<td role="cell" class="num" data-peak-lag="{row.lag_peak.seconds}">'
        f"{_text(_number(row.lag_peak.seconds))}</td>"
    )


def _spark_incoming(report: CutoverReport, row: StreamRow) -> str:
    lines = [
        (series, ENVIRONMENT_COLOURS.get(environment, LAG_COLOUR))
        for environment, series in sorted(row.incoming.items(), key=lambda item: item[0] != "old")
    ]
    return sparkline(
        lines, report.window_start, report.window_end, f"{row.stream}: incoming records/s"
    )


def _spark_lag(report: CutoverReport, row: StreamRow, ceiling: float) -> str:
    lines = [(series, LAG_COLOUR) for series in row.lag]
    title = f"{row.stream}: replication lag (s), top of the scale {ceiling:,.1f} s"
    return sparkline(lines, report.window_start, report.window_end, title, ceiling or None)


def _gap_times(row: StreamRow, shown: int = 12) -> str:
    spans = [
        f"{before:%H:%M:%S} - {after:%H:%M:%S}"
        for series in row.lag
        for before, after in series.gaps()
    ]
    if not spans:
        return "no gap in the lag"
    more = f" and {len(spans) - shown} more" if len(spans) > shown else ""
    return "lag missing between " + "; ".join(spans[:shown]) + more


def peak_label(peak: LagPeak) -> str:
    return (
        f"{peak.stream} {peak.direction.replace('-to-', ' → ')}: peak "
        f"{_number(peak.seconds)} s at {peak.at:%H:%M:%S}"
    )
