"""The cutover report as plain data: what is drawn, independent of where it was read from.

Times are timezone-aware UTC datetimes. A series (turnout.report.series) holds only the
datapoints CloudWatch returned: a period without a datapoint is missing data (a gap), never a
zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from turnout.report.aggregate import totals, worst_lag
from turnout.report.series import Series


@dataclass(frozen=True)
class PhaseBand:
    """The live phase between two phase changes (a transition's completion)."""

    phase: str
    start: datetime
    end: datetime
    # True when the phase still holds at the end of the report's window.
    open_ended: bool = False

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True)
class TransitionSpan:
    """One run of a transition, from `transition started/resumed` to its completion or failure."""

    name: str
    run_id: str
    start: datetime
    end: datetime
    outcome: str  # completed | failed | abandoned | unfinished


@dataclass(frozen=True)
class StepSpan:
    """One step (a hook or an apply) from its `started` to its `completed`/`failed` entry."""

    transition: str
    step: str
    kind: str  # check | action | apply
    run_id: str
    start: datetime
    seconds: float
    outcome: str  # completed | failed | unfinished


@dataclass(frozen=True)
class JournalRow:
    """One journal entry as shown: names and outcomes only, never inputs or payloads."""

    at: datetime
    run_id: str
    kind: str
    action: str
    transition: str = ""
    step: str = ""
    seconds: float | None = None


@dataclass(frozen=True)
class ApiWeightRow:
    """One API's weight at a moment: set by an apply, or answered by Route 53 (a check)."""

    at: datetime
    transition: str
    step: str
    api: str
    new_percent: int | None  # the new endpoint's share of the answers
    what: str  # "applied" or "Route 53 answers old X / new Y"


@dataclass(frozen=True)
class ReadAcrossRow:
    """Read-across mode: one old consumer's mapping on one new stream, as a check read it."""

    at: datetime
    transition: str
    step: str
    mapping: str  # "lambda:<function> on new <stream>"
    state: str  # Enabled, Disabled, ...


@dataclass(frozen=True)
class RetentionRow:
    """One new stream's oldest record against its retention, as a preflight gate measured it."""

    at: datetime
    transition: str
    verdict: str  # pass, warn, fail, unknown; "refused" for a gate the check refused
    fact: str


@dataclass
class CutoverReport:
    migration: str
    window_start: datetime
    window_end: datetime
    generated_at: datetime
    period_seconds: int
    phases: list[PhaseBand] = field(default_factory=list)
    transitions: list[TransitionSpan] = field(default_factory=list)
    steps: list[StepSpan] = field(default_factory=list)
    journal: list[JournalRow] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    # The period the replicator's lag was read at (finer than `period_seconds` while CloudWatch
    # holds high-resolution data); None: the same as `period_seconds`.
    lag_period_seconds: int | None = None
    orderings: dict[str, str] = field(default_factory=dict)  # logical stream -> strict|relaxed
    # Things the reader must know (metrics that could not be read, ...): plain sentences.
    notes: list[str] = field(default_factory=list)
    # The API switch: each API's weight applied and answered over time (turnout.report.apis).
    api_switch: list[ApiWeightRow] = field(default_factory=list)
    # Read-across mode: the old consumers' mappings on the new streams (turnout.report.read_across).
    read_across: list[ReadAcrossRow] = field(default_factory=list)
    # The retention clock at each gate that measured it (turnout.report.retention).
    retention: list[RetentionRow] = field(default_factory=list)

    def series_of(self, kind: str) -> list[Series]:
        return [series for series in self.series if series.kind == kind]

    @property
    def lag_period(self) -> int:
        return self.lag_period_seconds or self.period_seconds

    def totals(self, kind: str) -> list[Series]:
        """Per direction (lag: the highest of any stream; replicated: the sum) or per
        environment (rate: the sum), period by period."""
        return totals(self.series, kind)

    def counted(self) -> list[dict]:
        """Per stream and direction: the duplicates and inversions the replicator counted over
        the window (None: no datapoint at all, i.e. unknown, not zero)."""
        rows: dict[tuple[str, str], dict] = {}
        for series in self.series:
            if series.kind not in ("duplicates", "inversions"):
                continue
            _, stream, direction = series.id.split(":", 2)
            row = rows.setdefault(
                (stream, direction),
                {
                    "stream": stream,
                    "direction": direction,
                    "ordering": self.orderings.get(stream, "strict"),
                },
            )
            row[series.kind] = sum(v for _, v in series.points) if series.points else None
        return [rows[key] for key in sorted(rows)]

    def summary(self) -> dict:
        """The numbers drawn, for `--json`."""
        return {
            "migration": self.migration,
            "window": {"start": _iso(self.window_start), "end": _iso(self.window_end)},
            "period_seconds": self.period_seconds,
            "lag_period_seconds": self.lag_period,
            "phases": [
                {
                    "phase": band.phase,
                    "start": _iso(band.start),
                    "end": _iso(band.end),
                    "seconds": round(band.seconds, 3),
                    "open_ended": band.open_ended,
                }
                for band in self.phases
            ],
            "transitions": [
                {
                    "transition": span.name,
                    "run_id": span.run_id,
                    "outcome": span.outcome,
                    "seconds": round((span.end - span.start).total_seconds(), 3),
                }
                for span in self.transitions
            ],
            "steps": [
                {
                    "transition": step.transition,
                    "step": step.step,
                    "kind": step.kind,
                    "outcome": step.outcome,
                    "seconds": step.seconds,
                }
                for step in self.steps
            ],
            "series": {series.id: _figures(series) for series in self.series},
            "totals": {
                series.id: _figures(series)
                for kind in ("lag", "rate", "replicated")
                for series in self.totals(kind)
            },
            "worst_lag": [
                {
                    "stream": peak.stream,
                    "direction": peak.direction,
                    "seconds": peak.seconds,
                    "at": _iso(peak.at),
                }
                for peak in worst_lag(self.series)
            ],
            "counted": self.counted(),
            "api_switch": [
                {
                    "at": _iso(row.at),
                    "transition": row.transition,
                    "step": row.step,
                    "api": row.api,
                    "new_percent": row.new_percent,
                    "what": row.what,
                }
                for row in self.api_switch
            ],
            "read_across": [
                {
                    "at": _iso(row.at),
                    "transition": row.transition,
                    "step": row.step,
                    "mapping": row.mapping,
                    "state": row.state,
                }
                for row in self.read_across
            ],
            "retention": [
                {
                    "at": _iso(row.at),
                    "transition": row.transition,
                    "verdict": row.verdict,
                    "fact": row.fact,
                }
                for row in self.retention
            ],
            "journal_entries": len(self.journal),
            "notes": list(self.notes),
        }


def _figures(series: Series) -> dict:
    return {
        "unit": series.unit,
        "period_seconds": series.period_seconds,
        "points": len(series.points),
        "gaps": len(series.gaps()),
        "max": max((value for _, value in series.points), default=None),
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")
