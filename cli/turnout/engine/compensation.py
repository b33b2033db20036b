"""The one place that says what a failed step means for the records and what to do next, and
which steps a resumed run skips."""

from __future__ import annotations

from turnout.engine.state import TransitionProgress
from turnout.engine.steps import ApplyStep, Step, Transition


def skip_reason(step: Step, done: bool, before_last_side_effect: bool) -> str | None:
    """Why a step is not run on resume, or None to run it.

    A done action or apply is never repeated. A done check before the last done side effect
    was a precondition of it: true when it mattered, and possibly rightly false now (the new
    streams are not empty after the switch). Checks after it are measured again.
    """
    if not done:
        return None
    if step.kind != "check":
        return "done before this run resumed"
    if before_last_side_effect:
        return "precondition of a side effect already done"
    return None


def last_done_side_effect(current: Transition, progress: TransitionProgress) -> int:
    """Index of the last action or apply of the transition already done or started (-1: none):
    a killed apply may have changed the system (producers already on new), so the checks before
    it are preconditions, not facts to measure again."""
    done = [
        index
        for index, step in enumerate(current.steps)
        if step.kind != "check"
        and (step.id in progress.completed_steps or step.id in progress.started_side_effects)
    ]
    return max(done, default=-1)


def _api_weights(current: Transition, applied: list[str]) -> str:
    """Where the last apply left the APIs' weights (they stay there until the next apply)."""
    last = [s for s in current.steps if isinstance(s, ApplyStep) and s.id == applied[-1]]
    weights = last[0].posture.api_weights if last else ()
    if not weights:
        return ""
    shares = ", ".join(f"{name} {weight}% new" for name, weight in weights)
    return f" The APIs' records stay as that apply left them ({shares})."


def compensation(
    current: Transition, failed: Step, progress: TransitionProgress, problem: Exception
) -> str:
    """The one place that says what a failure means for the records and what to do next."""
    applied = [
        step.id
        for step in current.steps
        if isinstance(step, ApplyStep) and step.id in progress.completed_steps
    ]
    where = f"step '{failed.id}' of {current.name} failed: {problem}"
    if current.to_phase == "rolled-back":
        # Read-across mode (docs/read-across.md): the old consumers read the tail themselves.
        read_across = any(step.id == "new-tail-read-across" for step in current.steps)
        guard = (
            "the old consumers' mappings on the new streams are never disabled before those "
            "consumers have processed the new streams' tail"
            if read_across
            else "replication is never stopped before the new streams' tail has reached the old ones"
        )
        return (
            f"{where} The rollback is recorded as in progress; {guard}, so no record is lost. Fix "
            f"the cause and run `turnout rollback` again: done steps are not repeated, checks are "
            f"re-measured."
        )
    if current.to_phase == "decommissioned":
        return (
            f"{where} Already applied in this transition: {', '.join(applied) or 'nothing'}. "
            f"The migration is committed: producers write to the new environment and its "
            f"consumers run, whatever the decommission has removed so far. Fix the cause and run "
            f"`turnout decommission` again to resume (done steps are not repeated, checks are "
            f"re-measured)."
        )
    if not applied:
        return (
            f"{where} Nothing was applied in this transition: producers, consumers and replication "
            f"(and the APIs' weights) are as they were in '{current.from_phase}', and no record "
            f"was touched. Fix the cause and run `turnout cutover` again."
        )
    rollback = (
        "or roll back with `turnout rollback`"
        if current.to_phase != "committed" or "stop-replication" not in applied
        else "(rollback is no longer possible: replication to the old environment was stopped)"
    )
    return (
        f"{where} Already applied in this transition: {', '.join(applied)}.{_api_weights(current, applied)} Records are safe: "
        f"whatever the producers wrote stays in the streams (retention) until a consumer or the "
        f"replicator reads it. Run `turnout cutover` again to resume (checks are re-measured, "
        f"done steps are not repeated), {rollback}."
    )
