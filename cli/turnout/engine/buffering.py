"""The buffering window's one fact the postures need: since when the new streams hold records
the new environment's paused consumers have not read (from the switch until they resume at
new-live). The applies of switched and mirrored carry it, and the monitoring module's
reminders run from it (docs/preflight.md, retention-clock)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from turnout.deploy.render import rfc3339
from turnout.engine.state import StateStore
from turnout.spec.phases import Posture

BUFFERING_PHASES = frozenset({"switched", "mirrored"})
SWITCH = "baseline->switched"


def applied_posture(
    posture: Posture, to_phase: str, store: StateStore, clock: Callable[[], float]
) -> Posture:
    """`posture` as an apply towards `to_phase` applies it: with the switch's time when the new
    consumers stay paused in that phase (before the switch has started, as if it started now:
    a dry run's plan)."""
    if to_phase not in BUFFERING_PHASES:
        return posture
    started = store.transition_first_started_at(SWITCH)
    since = datetime.fromisoformat(started).timestamp() if started else clock()
    return replace(posture, buffering_since=rfc3339(since))
