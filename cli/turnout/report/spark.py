"""Sparklines: one small inline SVG per table cell, the small multiples of the per-stream table.

A sparkline keeps the gaps of its series (a broken line, never a zero) and draws at most one
point per pixel column (the highest value there), so a 720-point series stays a short path.
"""

from __future__ import annotations

from datetime import datetime

from turnout.report.series import Series
from turnout.report.svg import attr

SPARK_WIDTH = 120
SPARK_HEIGHT = 22
PAD = 2


def sparkline(
    lines: list[tuple[Series, str]],
    start: datetime,
    end: datetime,
    title: str,
    ceiling: float | None = None,
) -> str:
    """`lines`: (series, colour) drawn over [start, end]; `ceiling`: the value at the top (a
    scale shared by every row), or None for the largest value of these lines."""
    span = max((end - start).total_seconds(), 1.0)
    values = [value for series, _ in lines for _, value in series.points]
    top = ceiling if ceiling else max(values, default=0.0) or 1.0
    inner = SPARK_HEIGHT - 2 * PAD

    def x(moment: datetime) -> int:
        fraction = min(max((moment - start).total_seconds() / span, 0.0), 1.0)
        return round(PAD + fraction * (SPARK_WIDTH - 2 * PAD))

    def y(value: float) -> float:
        return round(SPARK_HEIGHT - PAD - min(value / top, 1.0) * inner, 1)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" viewBox="0 0 {SPARK_WIDTH} '
        f'{SPARK_HEIGHT}" width="{SPARK_WIDTH}" height="{SPARK_HEIGHT}" role="img" '
        f'aria-label="{attr(title)}"><title>{attr(title)}</title>'
    ]
    for series, colour in lines:
        commands = []
        for segment in series.segments():
            columns: dict[int, float] = {}
            for moment, value in segment:
                column = x(moment)
                columns[column] = max(value, columns.get(column, value))
            coordinates = [f"{column},{y(value)}" for column, value in sorted(columns.items())]
            if len(coordinates) == 1:  # a lone datapoint: a short tick, not an invisible line
                column, height = coordinates[0].split(",")
                coordinates.append(f"{int(column) + 1},{height}")
            commands.append("M" + " L".join(coordinates))
        if commands:
            parts.append(
                f'<path data-spark-series="{attr(series.id)}" d="{" ".join(commands)}" '
                f'fill="none" stroke="{colour}" stroke-width="1.2"/>'
            )
    parts.append("</svg>")
    return "".join(parts)
