"""The report's timeline as a PNG (matplotlib, Agg): phase bands, lag and incoming rates."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from turnout.report.model import CutoverReport, Series
from turnout.report.svg import phase_colour, series_colour

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def render_png(report: CutoverReport, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_figure(report).savefig(path, format="png")


def draw_figure(report: CutoverReport) -> Figure:
    """Phase bands, lag and incoming rates on one time axis (UTC)."""
    from matplotlib import dates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(12, 7.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # Agg: no display, no GUI toolkit
    phases_axes, lag_axes, rate_axes = figure.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [1, 3, 3]}
    )
    figure.suptitle(f"turnout cutover: {report.migration}", parse_math=False)
    for band in report.phases:
        start, end = dates.date2num(band.start), dates.date2num(band.end)
        phases_axes.axvspan(start, end, color=phase_colour(band.phase))
        for axes in (lag_axes, rate_axes):
            axes.axvspan(start, end, color=phase_colour(band.phase), alpha=0.18, linewidth=0)
        phases_axes.text(
            (start + end) / 2,
            0.5,
            band.phase,
            ha="center",
            va="center",
            fontsize=9,
            clip_on=True,
            parse_math=False,  # a journal string is text, never mathtext
        )
    phases_axes.set_yticks([])
    phases_axes.set_ylabel("phase")
    _lines(lag_axes, report.series_of("lag"), "lag (s)")
    _lines(rate_axes, report.series_of("rate"), "incoming (records/s)")
    rate_axes.set_xlim(dates.date2num(report.window_start), dates.date2num(report.window_end))
    # The x values are plain date numbers: the axis needs a date locator, not a numeric one.
    locator = dates.AutoDateLocator(tz=report.window_start.tzinfo)
    rate_axes.xaxis.set_major_locator(locator)
    rate_axes.xaxis.set_major_formatter(
        dates.ConciseDateFormatter(locator, tz=report.window_start.tzinfo)
    )
    rate_axes.set_xlabel("time (UTC)")
    return figure


def _lines(axes, series: list[Series], label: str) -> None:
    from matplotlib import dates

    drawn = 0
    for index, item in enumerate(series):
        if not item.points:
            continue
        # NaN between segments: matplotlib breaks the line there (missing data is not zero).
        xs: list[float] = []
        ys: list[float] = []
        for segment in item.segments():
            if xs:
                xs.append(xs[-1])
                ys.append(float("nan"))
            xs += [dates.date2num(moment) for moment, _ in segment]
            ys += [value for _, value in segment]
        axes.plot(xs, ys, color=series_colour(index), label=item.label, marker=".", markersize=3)
        drawn += 1
    axes.set_ylabel(label)
    axes.set_ylim(bottom=0)
    if drawn:
        axes.legend(loc="upper left", fontsize=8)
    else:
        axes.text(0.5, 0.5, "no data", transform=axes.transAxes, ha="center", color="#8a5a00")
