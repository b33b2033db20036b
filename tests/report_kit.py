"""A synthetic cutover report of many streams, built as the model directly (no AWS): what
`turnout report` would read from a 2-hour cutover of N streams in both environments.

Phases: baseline 20 min, switched 10, mirrored 40, new-live 30, committed 20 (still live).
Per stream: incoming records per minute in old (from the producers until the switch, from the
replicator while mirrored and new-live) and new (from the switch), replicated records
new -> old per minute while mirrored and new-live, and the replicator's lag
every 10 s over the same span, with one silent minute on every seventh stream. The old -> new
direction never ran: its series have no datapoint. Each stream's peak lag is planted, distinct,
at a known time: `planted_peaks` gives them, for tests that check which streams are named.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from turnout.report.model import (
    CutoverReport,
    JournalRow,
    PhaseBand,
    Series,
    StepSpan,
    TransitionSpan,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
PHASES = (("baseline", 20), ("switched", 10), ("mirrored", 40), ("new-live", 30), ("committed", 20))
LAG_PERIOD = 10
STEPS = ("drain-check", "apply", "verify")


def stream_name(index: int) -> str:
    return f"orders-{index:03d}"


def planted_peaks(streams: int) -> dict[str, tuple[float, datetime]]:
    """Stream -> (peak lag in seconds, when): distinct values, in no simple order of names."""
    mirrored = T0 + timedelta(minutes=30)
    return {
        stream_name(index): (
            2.0 + (index * 37 % streams) * 0.25 + index / 1000,
            mirrored + timedelta(seconds=LAG_PERIOD * (6 + (index * 13) % 400)),
        )
        for index in range(streams)
    }


def expected_worst(streams: int, top: int) -> list[str]:
    peaks = planted_peaks(streams)
    return sorted(peaks, key=lambda name: -peaks[name][0])[:top]


def _minutes(first: int, last: int, value) -> tuple:
    return tuple((T0 + timedelta(minutes=minute), value(minute)) for minute in range(first, last))


def _lag(index: int, name: str, rng: random.Random, streams: int) -> tuple:
    peak, peak_at = planted_peaks(streams)[name]
    start, end = T0 + timedelta(minutes=30), T0 + timedelta(minutes=100)
    silent = T0 + timedelta(minutes=50 + index % 20) if index % 7 == 0 else None
    points, moment = [], start
    while moment < end:
        quiet = silent is not None and silent <= moment < silent + timedelta(minutes=1)
        quiet = quiet and moment != peak_at
        if not quiet:
            value = peak if moment == peak_at else rng.uniform(0.2, 0.9) * min(peak, 2.0)
            points.append((moment, round(value, 3)))
        moment += timedelta(seconds=LAG_PERIOD)
    return tuple(points)


def stream_series(index: int, rng: random.Random, streams: int) -> list[Series]:
    name = stream_name(index)
    base = 50 + (index * 53) % 400  # records/s
    # Old: the producers until the switch, then what the replicator writes into it.
    replicated = _minutes(30, 100, lambda m: base + rng.uniform(-5, 5))
    old = _minutes(0, 20, lambda m: base + rng.uniform(-5, 5)) + replicated
    new = _minutes(20, 120, lambda m: base + rng.uniform(-5, 5))
    return [
        Series(
            f"lag:{name}:new-to-old",
            "lag",
            f"{name} new → old lag",
            "s",
            LAG_PERIOD,
            _lag(index, name, rng, streams),
        ),
        Series(f"lag:{name}:old-to-new", "lag", f"{name} old → new lag", "s", LAG_PERIOD),
        Series(f"rate:old:{name}", "rate", f"old/{name} incoming", "records/s", 60, old),
        Series(f"rate:new:{name}", "rate", f"new/{name} incoming", "records/s", 60, new),
        Series(
            f"replicated:{name}:new-to-old",
            "replicated",
            f"{name} new → old replicated",
            "records/s",
            60,
            replicated,
        ),
        Series(
            f"replicated:{name}:old-to-new",
            "replicated",
            f"{name} old → new replicated",
            "records/s",
            60,
        ),
    ]


def _timeline() -> tuple[list[PhaseBand], list[TransitionSpan], list[StepSpan], list[JournalRow]]:
    phases, transitions, steps, journal = [], [], [], []
    moment = T0
    for index, (phase, minutes) in enumerate(PHASES):
        end = moment + timedelta(minutes=minutes)
        phases.append(PhaseBand(phase, moment, end, open_ended=index == len(PHASES) - 1))
        if index:
            name = f"{PHASES[index - 1][0]}->{phase}"
            began = moment - timedelta(seconds=90)
            transitions.append(TransitionSpan(name, "run-1", began, moment, "completed"))
            journal.append(JournalRow(began, "run-1", "transition", "started", name))
            for offset, step in enumerate(STEPS):
                at = began + timedelta(seconds=25 * offset)
                steps.append(StepSpan(name, step, "check", "run-1", at, 24.0, "completed"))
                journal.append(JournalRow(at, "run-1", "step", "completed", name, step, 24.0))
            journal.append(JournalRow(moment, "run-1", "transition", "completed", name))
        moment = end
    return phases, transitions, steps, journal


def synthetic_report(streams: int = 100, seed: int = 16) -> CutoverReport:
    rng = random.Random(seed)
    phases, transitions, steps, journal = _timeline()
    series = [item for index in range(streams) for item in stream_series(index, rng, streams)]
    return CutoverReport(
        migration="scale-test",
        window_start=T0,
        window_end=T0 + timedelta(hours=2),
        generated_at=T0 + timedelta(hours=2, minutes=1),
        period_seconds=60,
        lag_period_seconds=LAG_PERIOD,
        phases=phases,
        transitions=transitions,
        steps=steps,
        journal=journal,
        series=sorted(series, key=lambda item: item.id),
    )
