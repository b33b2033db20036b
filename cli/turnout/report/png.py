"""The report's timeline as a PNG (matplotlib, Agg): phase bands, lag and event rates, readable
at any number of streams.

The lag panel shades the highest lag of any stream per direction and draws the PNG_WORST
streams with the highest peak, named; the rate panel draws the totals per environment and per
direction. The legends sit right of the plots, never over them, with at most
PNG_WORST + 2 + 4 entries whatever the stream count.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from turnout.report.aggregate import worst_lag
from turnout.report.model import CutoverReport, Series
from turnout.report.svg import phase_colour, series_colour

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PNG_WORST = 5
LABEL_CHARACTERS = 28
SHADES = ("#b9b9b9", "#e3c98f")  # the highest-of-all-streams area, one per direction


def render_png(report: CutoverReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_figure(report).savefig(path, format="png")


def draw_figure(report: CutoverReport) -> Figure:
    """Phase bands, lag and rates on one time axis (UTC); the time axis is the last axes."""
    from matplotlib import dates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 7.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # Agg: no display, no GUI toolkit
    phases_axes, lag_axes, rate_axes = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [1, 3, 3]}
    )
    figure.suptitle(f"turnout cutover: {report.migration}", parse_math=False)
    _phases(report, phases_axes, (lag_axes, rate_axes))
    _lag(report, lag_axes)
    drawn = _lines(rate_axes, report.totals("rate"), 0)
    drawn += _lines(rate_axes, report.totals("replicated"), 2, dashed=True)
    _finish(rate_axes, "records/s, totals", drawn)
    rate_axes.set_xlim(dates.date2num(report.window_start), dates.date2num(report.window_end))
    # The x values are plain date numbers: the axis needs a date locator, not a numeric one.
    locator = dates.AutoDateLocator(tz=report.window_start.tzinfo)
    rate_axes.xaxis.set_major_locator(locator)
    rate_axes.xaxis.set_major_formatter(
        dates.ConciseDateFormatter(locator, tz=report.window_start.tzinfo)
    )
    rate_axes.set_xlabel("time (UTC)")
    return figure


def _phases(report: CutoverReport, axes: Axes, others: tuple[Axes, ...]) -> None:
    from matplotlib import dates

    for band in report.phases:
        start, end = dates.date2num(band.start), dates.date2num(band.end)
        axes.axvspan(start, end, color=phase_colour(band.phase))
        for other in others:
            other.axvspan(start, end, color=phase_colour(band.phase), alpha=0.18, linewidth=0)
        axes.text(
            (start + end) / 2,
            0.5,
            band.phase,
            ha="center",
            va="center",
            fontsize=9,
            clip_on=True,
            parse_math=False,  # a journal string is text, never mathtext
        )
    axes.set_yticks([])
    axes.set_ylabel("phase")


def _lag(report: CutoverReport, axes: Axes) -> None:
    drawn = 0
    for index, total in enumerate(report.totals("lag")):
        if not total.points:
            continue
        label = f"{total.scope.replace('-to-', ' → ')}: highest of all streams"
        for segment_index, (xs, ys) in enumerate(_segments(total)):
            axes.fill_between(
                xs,
                ys,
                color=SHADES[index % len(SHADES)],
                linewidth=0,
                label=_plain(label) if segment_index == 0 else None,
            )
        drawn += 1
    by_id = {series.id: series for series in report.series_of("lag")}
    for index, peak in enumerate(worst_lag(report.series, PNG_WORST)):
        name = peak.stream
        if len(name) > LABEL_CHARACTERS:
            name = name[: LABEL_CHARACTERS - 1] + "…"
        arrow = peak.direction.replace("-to-", "→")
        label = f"{name} {arrow}: peak {peak.seconds:,.1f} s at {peak.at:%H:%M}"
        _plot(axes, by_id[peak.series_id], series_colour(index), label)
        drawn += 1
    _finish(axes, f"lag (s), per {report.lag_period} s", drawn)


def _lines(axes: Axes, series: list[Series], first_colour: int, dashed: bool = False) -> int:
    drawn = 0
    for index, item in enumerate(series):
        if item.points:
            label = item.label
            _plot(axes, item, series_colour(first_colour + index), label, dashed)
            drawn += 1
    return drawn


def _segments(series: Series) -> list[tuple[list[float], list[float]]]:
    from matplotlib import dates

    return [
        ([dates.date2num(moment) for moment, _ in segment], [value for _, value in segment])
        for segment in series.segments()
    ]


def _plot(axes: Axes, series: Series, colour: str, label: str, dashed: bool = False) -> None:
    # NaN between segments: matplotlib breaks the line there (missing data is not zero).
    xs: list[float] = []
    ys: list[float] = []
    for segment_xs, segment_ys in _segments(series):
        if xs:
            xs.append(xs[-1])
            ys.append(float("nan"))
        xs += segment_xs
        ys += segment_ys
    axes.plot(
        xs,
        ys,
        color=colour,
        label=_plain(label),
        linestyle="--" if dashed else "-",
        linewidth=1.4,
        marker="." if len(xs) < 120 else None,
        markersize=3,
    )


def _plain(text: str) -> str:
    """A label as text: a `$` never starts mathtext."""
    return text.replace("$", r"\$")


def _finish(axes: Axes, label: str, drawn: int) -> None:
    axes.set_ylabel(label)
    axes.set_ylim(bottom=0)
    if drawn:
        # Right of the plot, never over the data.
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8)
    else:
        axes.text(0.5, 0.5, "no data", transform=axes.transAxes, ha="center", color="#8a5a00")
