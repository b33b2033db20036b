"""One metric over time, as CloudWatch returned it: only the datapoints it has.

A period without a datapoint is missing data (a gap), never a zero. Series ids are stable and
name what they measure:

- `lag:<stream>:<direction>` and `replicated:<stream>:<direction>` (direction `old-to-new` or
  `new-to-old`), `duplicates:<stream>:<direction>` and `inversions:<stream>:<direction>`: the
  replicator's metrics of one logical stream;
- `rate:<environment>:<stream>`: AWS/Kinesis IncomingRecords of one stream in one environment;
- `lag-max:<direction>`, `replicated-total:<direction>`, `rate-total:<environment>`: the totals
  over every stream (turnout.report.aggregate).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

# A minute without a datapoint is a gap at every resolution: the replicator publishes its lag
# once per invocation, so at sub-minute periods a quiet stream has empty periods between
# invocations that are its normal rhythm, not missing data.
GAP_SECONDS = 60


@dataclass(frozen=True)
class Series:
    """One metric over time, e.g. the replication lag of one stream in one direction."""

    id: str
    kind: str  # lag | rate | replicated | duplicates | inversions | lag-max | rate-total | replicated-total
    label: str
    unit: str  # what `points` values are in: "s" (lag) or "records/s"
    period_seconds: int
    points: tuple[tuple[datetime, float], ...] = ()

    @property
    def stream(self) -> str:
        """The logical stream of a per-stream series ("" for a total)."""
        _, _, rest = self.id.partition(":")
        if self.kind == "rate":
            return rest.partition(":")[2]
        if self.kind in ("lag", "replicated", "duplicates", "inversions"):
            return rest.rpartition(":")[0]
        return ""

    @property
    def scope(self) -> str:
        """The direction (lag, replicated, duplicates, inversions) or environment (rate) the
        series belongs to."""
        _, _, rest = self.id.partition(":")
        if self.kind == "rate":
            return rest.partition(":")[0]
        return rest.rpartition(":")[2]

    def peak(self) -> tuple[datetime, float] | None:
        """The highest datapoint (the earliest of equal ones), or None without data."""
        if not self.points:
            return None
        return max(sorted(self.points), key=lambda point: point[1])

    def segments(self) -> list[list[tuple[datetime, float]]]:
        """The points split where a period (at least a minute) has no datapoint: each segment
        is drawn connected, and nothing is drawn across a gap."""
        segments: list[list[tuple[datetime, float]]] = []
        step = timedelta(seconds=max(self.period_seconds, GAP_SECONDS))
        for point in sorted(self.points):
            if segments and point[0] - segments[-1][-1][0] <= step:
                segments[-1].append(point)
            else:
                segments.append([point])
        return segments

    def gaps(self) -> list[tuple[datetime, datetime]]:
        """(last datapoint before, first datapoint after) for each gap between datapoints."""
        segments = self.segments()
        return [(before[-1][0], after[0][0]) for before, after in itertools.pairwise(segments)]
