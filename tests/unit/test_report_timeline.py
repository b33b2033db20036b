"""The report's data model from a synthetic journal: phase bands, transitions, step durations."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from turnout.errors import TurnoutError
from turnout.report.timeline import build_timeline

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Journal(list):
    """Entries as `StateStore.read_journal` returns them, on a clock the test moves."""

    def __init__(self) -> None:
        super().__init__()
        self.now = T0

    def add(self, kind: str, action: str, run: str = "run-1", after: float = 1, **details):
        self.now += timedelta(seconds=after)
        self.append(
            {
                "at": self.now.isoformat(timespec="milliseconds"),
                "run_id": run,
                "kind": kind,
                "action": action,
                "who": "op@host:1",
                "details": details,
            }
        )

    def transition(self, before: str, after: str, steps: dict[str, float], run: str = "run-1"):
        name = "rollback" if after == "rolled-back" else f"{before}->{after}"
        self.add("transition", "started", run, transition=name)
        for step, seconds in steps.items():
            self.add("step", "started", run, transition=name, step=step, step_kind="check")
            self.add("step", "completed", run, seconds, transition=name, step=step, seconds=seconds)
        self.add("transition", "completed", run, transition=name, phase=after)


def _window(journal: Journal, before: float = 60, after: float = 60):
    return T0 - timedelta(seconds=before), journal.now + timedelta(seconds=after)


def test_forward_cutover_gives_one_band_per_phase_in_order_without_holes():
    journal = Journal()
    journal.add("lock", "acquired")
    for before, after in itertools.pairwise(
        ("baseline", "switched", "mirrored", "new-live", "committed")
    ):
        journal.transition(before, after, {"check": 10, "apply": 30})
    start, end = _window(journal)
    timeline = build_timeline(journal, start, end, current_phase="committed")
    assert [band.phase for band in timeline.phases] == [
        "baseline",
        "switched",
        "mirrored",
        "new-live",
        "committed",
    ]
    assert timeline.phases[0].start == start  # nothing ran before the first entry
    assert timeline.phases[-1].end == end and timeline.phases[-1].open_ended
    for band, following in itertools.pairwise(timeline.phases):
        assert band.end == following.start and band.seconds > 0
    assert [span.outcome for span in timeline.transitions] == ["completed"] * 4


def test_step_durations_come_from_the_journaled_seconds_per_step():
    journal = Journal()
    journal.transition("baseline", "switched", {"new-consumers-paused": 2.5, "route-to-new": 41})
    timeline = build_timeline(journal, *_window(journal), current_phase="switched")
    assert [(step.step, step.seconds, step.outcome) for step in timeline.steps] == [
        ("new-consumers-paused", 2.5, "completed"),
        ("route-to-new", 41.0, "completed"),
    ]
    assert all(step.transition == "baseline->switched" for step in timeline.steps)
    assert all(step.kind == "check" for step in timeline.steps)


def test_rollback_path_ends_in_rolled_back_after_new_live():
    journal = Journal()
    for before, after in itertools.pairwise(("baseline", "switched", "mirrored", "new-live")):
        journal.transition(before, after, {"step": 5})
    journal.transition("new-live", "rolled-back", {"route-to-old": 20, "drain": 30})
    timeline = build_timeline(journal, *_window(journal), current_phase="rolled-back")
    assert [band.phase for band in timeline.phases] == [
        "baseline",
        "switched",
        "mirrored",
        "new-live",
        "rolled-back",
    ]
    assert timeline.transitions[-1].name == "rollback"
    assert [step.step for step in timeline.steps if step.transition == "rollback"] == [
        "route-to-old",
        "drain",
    ]


def test_failed_step_fails_its_transition_and_the_phase_stays():
    journal = Journal()
    journal.add("transition", "started", transition="baseline->switched")
    journal.add("step", "started", transition="baseline->switched", step="quiet", step_kind="check")
    journal.add(
        "step",
        "failed",
        after=7,
        transition="baseline->switched",
        step="quiet",
        error="old streams still receive records",
        seconds=7.0,
    )
    timeline = build_timeline(journal, *_window(journal), current_phase="baseline")
    assert [band.phase for band in timeline.phases] == ["baseline"]
    assert [(s.name, s.outcome) for s in timeline.transitions] == [("baseline->switched", "failed")]
    assert [(s.step, s.outcome, s.seconds) for s in timeline.steps] == [("quiet", "failed", 7.0)]


def test_a_run_killed_mid_step_shows_an_unfinished_step_until_the_window_ends():
    journal = Journal()
    journal.add("transition", "started", transition="switched->mirrored")
    journal.add("step", "started", transition="switched->mirrored", step="drain", step_kind="check")
    start, end = _window(journal, after=90)
    timeline = build_timeline(journal, start, end, current_phase="switched")
    assert [band.phase for band in timeline.phases] == ["switched"]
    (step,) = timeline.steps
    assert step.outcome == "unfinished" and step.seconds == 90.0
    assert timeline.transitions[0].outcome == "unfinished"


def test_window_after_earlier_phases_starts_in_the_phase_live_at_its_start():
    journal = Journal()
    for before, after in itertools.pairwise(("baseline", "switched", "mirrored")):
        journal.transition(before, after, {"step": 100})
    mirrored_at = journal.now
    journal.add("lock", "released", after=600)
    start = mirrored_at + timedelta(seconds=60)
    timeline = build_timeline(journal, start, journal.now, current_phase="mirrored")
    assert [(band.phase, band.start) for band in timeline.phases] == [("mirrored", start)]
    assert timeline.steps == [] and timeline.transitions == []
    assert [row.action for row in timeline.journal] == ["released"]


def test_journal_rows_carry_names_and_outcomes_never_inputs():
    journal = Journal()
    journal.add(
        "step",
        "started",
        transition="baseline->switched",
        step="route-to-new",
        step_kind="apply",
        inputs={"secret": "s3cr3t-value"},
    )
    (row,) = build_timeline(journal, *_window(journal), current_phase="baseline").journal
    assert (row.kind, row.action, row.transition, row.step) == (
        "step",
        "started",
        "baseline->switched",
        "route-to-new",
    )
    assert "s3cr3t-value" not in repr(row)


def test_entry_without_a_time_zone_is_refused_with_its_key():
    journal = [{"at": "2026-03-01T09:00:00", "sk": "journal#x", "kind": "lock", "details": {}}]
    with pytest.raises(TurnoutError, match="time zone"):
        build_timeline(journal, T0, T0 + timedelta(hours=1), current_phase="baseline")
