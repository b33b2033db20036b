"""Inline SVG for the HTML report: the phase timeline, time series charts, step durations.

Every drawn element carries stable data attributes (`data-phase`, `data-series`, `data-step`,
`data-plot`) so that tests and scripts can find it; every string is escaped.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from html import escape

from turnout.report.model import CutoverReport, Series

WIDTH = 1000
LEFT = 150
RIGHT = 20
PLOT_WIDTH = WIDTH - LEFT - RIGHT

PHASE_COLOURS = {
    "baseline": "#9fb7d9",
    "switched": "#f2c36b",
    "mirrored": "#f29f6b",
    "new-live": "#8fd19e",
    "committed": "#3fa165",
    "rolled-back": "#d9837e",
    "decommissioned": "#7f8c8d",
}
UNKNOWN_COLOUR = "#cccccc"
SERIES_COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#7f7f7f",
    "#bcbd22",
)
LABEL_CHARACTERS = 52
TICK_STEPS = (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400)


def attr(value: object) -> str:
    return escape(str(value), quote=True)


def phase_colour(phase: str) -> str:
    return PHASE_COLOURS.get(phase, UNKNOWN_COLOUR)


def series_colour(index: int) -> str:
    return SERIES_COLOURS[index % len(SERIES_COLOURS)]


class TimeScale:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start = start
        self.span = max((end - start).total_seconds(), 1.0)

    def x(self, moment: datetime) -> float:
        fraction = (moment - self.start).total_seconds() / self.span
        return round(LEFT + min(max(fraction, 0.0), 1.0) * PLOT_WIDTH, 2)

    def ticks(self) -> list[tuple[float, str]]:
        step = next((s for s in TICK_STEPS if self.span / s <= 10), TICK_STEPS[-1])
        first = math.ceil(self.start.timestamp() / step) * step
        ticks = []
        moment = datetime.fromtimestamp(first, self.start.tzinfo)
        end = self.start + timedelta(seconds=self.span)
        label = "%H:%M:%S" if step < 60 else "%H:%M" if step < 86400 else "%m-%d"
        while moment <= end:
            ticks.append((self.x(moment), moment.strftime(label)))
            moment += timedelta(seconds=step)
        return ticks


def _time_axis(scale: TimeScale, top: float, bottom: float) -> list[str]:
    parts = [
        f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{LEFT + PLOT_WIDTH}" y2="{bottom}"/>'
    ]
    for x, label in scale.ticks():
        parts.append(f'<line class="grid" x1="{x}" y1="{top}" x2="{x}" y2="{bottom}"/>')
        parts.append(
            f'<text class="tick" x="{x}" y="{bottom + 14}" text-anchor="middle">{attr(label)}</text>'
        )
    return parts


def timeline_svg(report: CutoverReport) -> str:
    """One band per phase (labelled), and below it the transitions as they ran."""
    scale = TimeScale(report.window_start, report.window_end)
    height = 130
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="phases over time">',
        f'<rect class="plot-area" data-plot="timeline" x="{LEFT}" y="10" width="{PLOT_WIDTH}" '
        f'height="90" fill="none"/>',
        '<text class="row-label" x="8" y="42">live phase</text>',
        '<text class="row-label" x="8" y="84">transitions</text>',
    ]
    for band in report.phases:
        x1, x2 = scale.x(band.start), scale.x(band.end)
        width = max(round(x2 - x1, 2), 0.5)
        tooltip = (
            f"{band.phase}: {band.start:%H:%M:%S} - {band.end:%H:%M:%S} ({band.seconds:.0f} s)"
        )
        parts.append(
            f'<rect class="phase-band" data-phase="{attr(band.phase)}" '
            f'data-start="{attr(band.start.isoformat())}" data-end="{attr(band.end.isoformat())}" '
            f'data-open="{str(band.open_ended).lower()}" x="{x1}" y="20" width="{width}" '
            f'height="36" fill="{phase_colour(band.phase)}"><title>{attr(tooltip)}</title></rect>'
        )
        if width > 8 * len(band.phase):
            parts.append(
                f'<text class="phase-label" x="{round(x1 + width / 2, 2)}" y="43" '
                f'text-anchor="middle">{attr(band.phase)}</text>'
            )
    for span in report.transitions:
        x1, x2 = scale.x(span.start), scale.x(span.end)
        parts.append(
            f'<rect class="transition-span" data-transition="{attr(span.name)}" '
            f'data-outcome="{attr(span.outcome)}" x="{x1}" y="72" width="{max(round(x2 - x1, 2), 1)}" '
            f'height="18" stroke="#fff" stroke-width="1"><title>{attr(f"{span.name} ({span.outcome}, run {span.run_id})")}</title></rect>'
        )
    parts += _time_axis(scale, 10, 100)
    parts.append("</svg>")
    return "\n".join(parts)


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= value)


def chart_svg(report: CutoverReport, kind: str, title: str, series: list[Series]) -> str:
    """A line chart of `series` over the report's window, phases as a faint background. A period
    without a datapoint breaks the line; a series without any datapoint is not drawn."""
    scale = TimeScale(report.window_start, report.window_end)
    top, plot_height = 12, 180
    bottom = top + plot_height
    drawn = [item for item in series if item.points]
    ceiling = _nice_ceiling(max((v for item in drawn for _, v in item.points), default=0) * 1.05)

    def y(value: float) -> float:
        return round(bottom - min(value / ceiling, 1.0) * plot_height, 2)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{attr(kind)}" '
        f'viewBox="0 0 {WIDTH} {bottom + 24}" width="{WIDTH}" height="{bottom + 24}" role="img" '
        f'aria-label="{attr(title)}">',
    ]
    for band in report.phases:
        x1, x2 = scale.x(band.start), scale.x(band.end)
        parts.append(
            f'<rect class="phase-background" data-background-phase="{attr(band.phase)}" x="{x1}" '
            f'y="{top}" width="{max(round(x2 - x1, 2), 0.5)}" height="{plot_height}" '
            f'fill="{phase_colour(band.phase)}" opacity="0.18"/>'
        )
    parts.append(
        f'<rect class="plot-area" data-plot="{attr(kind)}" x="{LEFT}" y="{top}" '
        f'width="{PLOT_WIDTH}" height="{plot_height}" fill="none"/>'
    )
    for fraction in (0, 0.2, 0.4, 0.6, 0.8, 1):
        value = ceiling * fraction
        parts.append(
            f'<line class="grid" x1="{LEFT}" y1="{y(value)}" x2="{LEFT + PLOT_WIDTH}" y2="{y(value)}"/>'
        )
        parts.append(
            f'<text class="tick" x="{LEFT - 6}" y="{y(value) + 4}" text-anchor="end">'
            f"{attr(_number(value))}</text>"
        )
    parts.append(
        f'<text class="row-label" x="8" y="{top + 14}">{attr(drawn[0].unit if drawn else "")}</text>'
    )
    for index, item in enumerate(series):
        if not item.points:
            continue
        colour = series_colour(index)
        commands = []
        for segment in item.segments():
            coordinates = [f"{scale.x(moment)},{y(value)}" for moment, value in segment]
            commands.append("M" + " L".join(coordinates))
            if len(segment) == 1:  # a lone datapoint between gaps: a dot, not an invisible line
                cx, cy = coordinates[0].split(",")
                parts.append(
                    f'<circle class="series-point" data-series-point="{attr(item.id)}" '
                    f'cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>'
                )
        parts.append(
            f'<path class="series" data-series="{attr(item.id)}" data-points="{len(item.points)}" '
            f'data-gaps="{len(item.gaps())}" d="{" ".join(commands)}" fill="none" '
            f'stroke="{colour}" stroke-width="1.8"><title>{attr(item.label)}</title></path>'
        )
    parts += _time_axis(scale, top, bottom)
    parts.append("</svg>")
    return "\n".join(parts)


def _number(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def steps_svg(report: CutoverReport) -> str:
    """One horizontal bar per step run, its length the step's duration."""
    steps = report.steps
    row = 20
    height = max(len(steps), 1) * row + 30
    longest = _nice_ceiling(max((step.seconds for step in steps), default=0))
    left, width = 360, WIDTH - 360 - 80
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="steps" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="step durations">',
    ]
    for index, step in enumerate(steps):
        top = 6 + index * row
        bar = max(round(step.seconds / longest * width, 2), 1)
        name = f"{step.transition} / {step.step}"
        label = f"{name} ({step.kind})"
        if len(label) > LABEL_CHARACTERS:  # the whole name is in the bar's title and data-step
            label = label[: LABEL_CHARACTERS - 1] + "…"
        parts.append(
            f'<text class="step-label" x="{left - 8}" y="{top + 13}" text-anchor="end">'
            f"{attr(label)}</text>"
        )
        parts.append(
            f'<rect class="step-bar outcome-{attr(step.outcome)}" data-step="{attr(name)}" '
            f'data-kind="{attr(step.kind)}" data-outcome="{attr(step.outcome)}" '
            f'data-seconds="{step.seconds}" x="{left}" y="{top + 2}" width="{bar}" height="{row - 6}">'
            f"<title>{attr(f'{name}: {step.seconds} s, {step.outcome}')}</title></rect>"
        )
        parts.append(
            f'<text class="tick" x="{left + bar + 6}" y="{top + 13}">{attr(_number(step.seconds))} s</text>'
        )
    axis_y = 6 + len(steps) * row + 4
    parts.append(
        f'<line class="axis" x1="{left}" y1="{axis_y}" x2="{left + width}" y2="{axis_y}"/>'
    )
    parts.append(
        f'<text class="tick" x="{left + width}" y="{axis_y + 14}" text-anchor="end">'
        f"{attr(_number(longest))} s</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)
