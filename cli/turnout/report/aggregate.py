"""What a report shows at the scale of a real pipeline: totals over every stream, the streams
with the worst lag, and one row of figures per stream.

Totals are computed from the per-stream series CloudWatch returned, per period: incoming and
replicated records are summed, lag is the highest of any stream. A stream without a datapoint
in a period adds nothing to that period (its data is missing, not zero); a period in which no
stream has a datapoint is a gap of the total too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from turnout.report.series import Series

WORST_STREAMS = 10
# Environments and directions in reading order; anything else after them, by name.
SCOPE_ORDER = ("old", "new", "old-to-new", "new-to-old")
TOTALS = (
    # (kind of the members, kind of the total, how periods combine, label)
    ("lag", "lag-max", max, "highest lag of {count} streams"),
    ("rate", "rate-total", sum, "incoming, {count} streams"),
    ("replicated", "replicated-total", sum, "replicated, {count} streams"),
)


@dataclass(frozen=True)
class LagPeak:
    """The highest lag one stream reached in one direction, and when."""

    stream: str
    direction: str
    seconds: float
    at: datetime
    series_id: str


@dataclass
class StreamRow:
    """One logical stream's figures over the window (None: no datapoint, i.e. unknown)."""

    stream: str
    incoming_peak: dict[str, float | None] = field(default_factory=dict)  # environment -> rec/s
    incoming: dict[str, Series] = field(default_factory=dict)  # environment -> series
    replicated_records: float | None = None
    lag_peak: LagPeak | None = None
    lag: list[Series] = field(default_factory=list)  # one per direction
    no_data: list[str] = field(default_factory=list)  # ids of its series without a datapoint

    @property
    def lag_points(self) -> int:
        return sum(len(series.points) for series in self.lag)

    @property
    def lag_gaps(self) -> int:
        return sum(len(series.gaps()) for series in self.lag)

    @property
    def incoming_top(self) -> float | None:
        known = [value for value in self.incoming_peak.values() if value is not None]
        return max(known) if known else None


def scope_key(scope: str) -> tuple[int, str]:
    return (SCOPE_ORDER.index(scope) if scope in SCOPE_ORDER else len(SCOPE_ORDER), scope)


def combine(
    kind: str,
    scope: str,
    label: str,
    members: list[Series],
    how: Callable[[Iterable[float]], float],
) -> Series:
    """One series from `members`, period by period (`how` = sum or max of the values there)."""
    by_moment: dict[datetime, list[float]] = {}
    for member in members:
        for moment, value in member.points:
            by_moment.setdefault(moment, []).append(value)
    points = tuple((moment, float(how(values))) for moment, values in sorted(by_moment.items()))
    period = max((member.period_seconds for member in members), default=60)
    unit = members[0].unit if members else ""
    return Series(f"{kind}:{scope}", kind, label, unit, period, points)


def totals(series: list[Series], kind: str) -> list[Series]:
    """The totals of one member kind (lag, rate or replicated), one per direction/environment."""
    member_kind, total_kind, how, label = next(row for row in TOTALS if row[0] == kind)
    groups: dict[str, list[Series]] = {}
    for item in series:
        if item.kind == member_kind:
            groups.setdefault(item.scope, []).append(item)
    return [
        combine(
            total_kind,
            scope,
            f"{scope.replace('-to-', ' → ')}: {label.format(count=len(members))}",
            members,
            how,
        )
        for scope, members in sorted(groups.items(), key=lambda group: scope_key(group[0]))
    ]


def worst_lag(series: list[Series], top: int = WORST_STREAMS) -> list[LagPeak]:
    """The `top` stream-directions with the highest peak lag, worst first (ties: by name)."""
    peaks = []
    for item in series:
        peak = item.peak() if item.kind == "lag" else None
        if peak is not None:
            peaks.append(LagPeak(item.stream, item.scope, peak[1], peak[0], item.id))
    peaks.sort(key=lambda peak: (-peak.seconds, peak.stream, peak.direction))
    return peaks[:top]


def stream_rows(series: list[Series]) -> list[StreamRow]:
    """One row per logical stream, worst peak lag first, then streams without lag by name."""
    rows: dict[str, StreamRow] = {}
    for item in series:
        if item.kind not in ("lag", "rate", "replicated"):
            continue
        row = rows.setdefault(item.stream, StreamRow(item.stream))
        if not item.points:
            row.no_data.append(item.id)
        if item.kind == "rate":
            row.incoming[item.scope] = item
            peak = item.peak()
            row.incoming_peak[item.scope] = peak[1] if peak else None
        elif item.kind == "replicated" and item.points:
            records = sum(value * item.period_seconds for _, value in item.points)
            row.replicated_records = (row.replicated_records or 0.0) + records
        elif item.kind == "lag":
            row.lag.append(item)
            peak = item.peak()
            if peak and (row.lag_peak is None or peak[1] > row.lag_peak.seconds):
                row.lag_peak = LagPeak(item.stream, item.scope, peak[1], peak[0], item.id)
    return sorted(rows.values(), key=by_lag)


def by_lag(row: StreamRow) -> tuple:
    """Worst peak lag first; streams without lag data last; then by name."""
    if row.lag_peak is None:
        return (1, 0.0, row.stream)
    return (0, -row.lag_peak.seconds, row.stream)
