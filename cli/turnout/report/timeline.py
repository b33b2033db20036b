"""From the engine's journal to phase bands, transition spans, step durations and table rows.

The journal (see `turnout.engine.state`) has one entry per event, oldest first here:
`transition started|resumed|completed|abandoned` (details: `transition`, `phase` on completion),
`step started|completed|failed|skipped` (details: `transition`, `step`, `step_kind`, `seconds`),
`hook completed|failed` (error hooks), `lock acquired|released|taken-over|force-released`.
The live phase changes only when a transition completes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from turnout.errors import TurnoutError
from turnout.report.model import JournalRow, PhaseBand, StepSpan, TransitionSpan

UNKNOWN_PHASE = "unknown"


class JournalError(TurnoutError):
    """A journal entry this report cannot read."""


@dataclass
class Timeline:
    phases: list[PhaseBand] = field(default_factory=list)
    transitions: list[TransitionSpan] = field(default_factory=list)
    steps: list[StepSpan] = field(default_factory=list)
    journal: list[JournalRow] = field(default_factory=list)


def entry_time(entry: dict) -> datetime:
    try:
        moment = datetime.fromisoformat(str(entry["at"]))
    except (KeyError, ValueError):
        raise JournalError(
            f"journal entry {entry.get('sk', '?')!r} has no valid ISO 8601 `at` time "
            f"({entry.get('at')!r}); the report reads only what the engine writes."
        ) from None
    if moment.tzinfo is None:
        raise JournalError(f"journal entry time {entry['at']!r} has no time zone.")
    return moment


def build_timeline(
    entries: list[dict], window_start: datetime, window_end: datetime, current_phase: str
) -> Timeline:
    """`entries`: the whole journal, oldest first (phases before the window are needed to know
    the phase at its start). `current_phase`: the live phase, used when no transition is
    journaled at all."""
    ordered = sorted(entries, key=entry_time)
    timeline = Timeline()
    timeline.phases = _clip(
        _phase_bands(ordered, window_start, window_end, current_phase), window_start
    )
    timeline.transitions = [
        span for span in _transition_spans(ordered, window_end) if span.end >= window_start
    ]
    timeline.steps = [
        step for step in _step_spans(ordered, window_end) if step.start >= window_start
    ]
    timeline.journal = [
        _row(entry) for entry in ordered if window_start <= entry_time(entry) <= window_end
    ]
    return timeline


def _from_phase(transition: str) -> str:
    return transition.split("->", 1)[0] if "->" in transition else UNKNOWN_PHASE


def _phase_bands(
    entries: list[dict], window_start: datetime, window_end: datetime, current_phase: str
) -> list[PhaseBand]:
    """Nothing ran before the first journal entry, so its phase held since the window's start."""
    transitions = [entry for entry in entries if entry.get("kind") == "transition"]
    start = min([window_start] + [entry_time(entry) for entry in entries[:1]])
    phase = (
        _from_phase(str(transitions[0]["details"].get("transition", "")))
        if transitions
        else current_phase
    )
    bands: list[PhaseBand] = []
    for entry in transitions:
        if entry.get("action") != "completed":
            continue
        to_phase = str(entry["details"].get("phase") or UNKNOWN_PHASE)
        changed_at = entry_time(entry)
        if changed_at > window_end:
            break
        bands.append(PhaseBand(phase, start, changed_at))
        phase, start = to_phase, changed_at
    bands.append(PhaseBand(phase, start, max(start, window_end), open_ended=True))
    return bands


def _clip(bands: list[PhaseBand], window_start: datetime) -> list[PhaseBand]:
    clipped = []
    for band in bands:
        if band.end <= window_start and not band.open_ended:
            continue
        start = max(band.start, window_start)
        clipped.append(PhaseBand(band.phase, start, max(band.end, start), band.open_ended))
    return clipped


def _transition_spans(entries: list[dict], window_end: datetime) -> list[TransitionSpan]:
    spans: list[TransitionSpan] = []
    running: dict[tuple[str, str], datetime] = {}
    for entry in entries:
        kind, action = entry.get("kind"), entry.get("action")
        name = str(entry.get("details", {}).get("transition", ""))
        key = (str(entry.get("run_id", "")), name)
        if kind == "transition" and action in ("started", "resumed"):
            running[key] = entry_time(entry)
        elif kind == "transition" and action == "completed" and key in running:
            spans.append(TransitionSpan(name, key[0], running.pop(key), entry_time(entry), action))
        elif kind == "step" and action == "failed" and key in running:
            spans.append(
                TransitionSpan(name, key[0], running.pop(key), entry_time(entry), "failed")
            )
    for (run_id, name), start in running.items():
        spans.append(TransitionSpan(name, run_id, start, max(start, window_end), "unfinished"))
    return sorted(spans, key=lambda span: span.start)


def _step_spans(entries: list[dict], window_end: datetime) -> list[StepSpan]:
    steps: list[StepSpan] = []
    started: dict[tuple[str, str, str], dict] = {}
    for entry in entries:
        if entry.get("kind") != "step":
            continue
        details = entry.get("details", {})
        key = (
            str(entry.get("run_id", "")),
            str(details.get("transition", "")),
            str(details.get("step", "")),
        )
        if entry.get("action") == "started":
            started[key] = entry
        elif entry.get("action") in ("completed", "failed") and key in started:
            begin = started.pop(key)
            measured = details.get("seconds")
            seconds = (
                float(measured)
                if isinstance(measured, int | float)
                else (entry_time(entry) - entry_time(begin)).total_seconds()
            )
            steps.append(_step(key, begin, seconds, str(entry["action"])))
    for key, begin in started.items():
        seconds = max(0.0, (window_end - entry_time(begin)).total_seconds())
        steps.append(_step(key, begin, seconds, "unfinished"))
    return sorted(steps, key=lambda step: step.start)


def _step(key: tuple[str, str, str], begin: dict, seconds: float, outcome: str) -> StepSpan:
    run_id, transition, step = key
    kind = str(begin.get("details", {}).get("step_kind", "step"))
    return StepSpan(transition, step, kind, run_id, entry_time(begin), round(seconds, 3), outcome)


def _row(entry: dict) -> JournalRow:
    details = entry.get("details", {})
    seconds = details.get("seconds")
    return JournalRow(
        at=entry_time(entry),
        run_id=str(entry.get("run_id", "")),
        kind=str(entry.get("kind", "")),
        action=str(entry.get("action", "")),
        transition=str(details.get("transition", "")),
        step=str(details.get("step", "")),
        seconds=float(seconds) if isinstance(seconds, int | float) else None,
    )
