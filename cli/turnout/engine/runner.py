"""Drive the live phase to the desired one, one journaled, resumable step at a time.

For each transition on the path: record it as in progress, then run its steps in order. After
every step the state is written atomically with that step marked done; the live phase moves only
when the last step passed. A crashed or killed run is resumed by running again: checks done
earlier in the transition are measured again (a fact of a moment ago proves nothing now), done
actions and applies are skipped, and the first step not done is run.

The engine's side effects come from two collaborators given to its constructor: the posture
applier (render, apply and no-drift plan of both environments, `turnout.deploy.posture`) and the
hook runner (`turnout.engine.hook_runner`). What happens on failure is decided in one place,
`turnout.engine.compensation`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from turnout.aws.access import service_clock
from turnout.engine.buffering import applied_posture
from turnout.engine.compensation import compensation, last_done_side_effect, skip_reason
from turnout.engine.hook_runner import HookRunner
from turnout.engine.lock import CutoverLock
from turnout.engine.state import MigrationState, StateStore, TransitionProgress, new_run_id, now_iso
from turnout.engine.steps import (
    ROLLBACK_FROM,
    ApplyStep,
    HookStep,
    Step,
    Transition,
    error_hooks,
    gate,
    path,
    preflight,
    transition,
)
from turnout.errors import TurnoutError
from turnout.hooks import HookContext
from turnout.spec.model import MigrationSpec
from turnout.spec.names import control_plane
from turnout.spec.phases import Posture

Progress = Callable[[str], None]


class CutoverFailed(TurnoutError):
    """A step failed; the message says where things stand and what to do next."""


class PostureApplier(Protocol):
    """Makes both environments look like a posture (turnout.deploy.posture.PostureApplier)."""

    def apply(
        self, phase: str, posture: Posture, label: str, environments: tuple[str, ...] = ...
    ) -> dict: ...

    def plan_texts(self, phase: str, posture: Posture, label: str) -> list[str]: ...


@dataclass
class StepRecord:
    transition: str
    step: str
    kind: str
    outcome: str
    seconds: float


@dataclass
class RunReport:
    run_id: str
    start_phase: str
    end_phase: str
    steps: list[StepRecord] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "start_phase": self.start_phase,
            "end_phase": self.end_phase,
            "phase_seconds": self.phase_seconds,
            "steps": [vars(step) for step in self.steps],
        }


def step_label(current: Transition, step: Step) -> str:
    """Names an apply step's rendered files and a fake applier's record: 'a->b/step-id'."""
    return f"{current.name}/{step.id}"


class CutoverEngine:
    def __init__(
        self,
        spec: MigrationSpec,
        aws: Any,
        applier: PostureApplier,
        hooks: HookRunner,
        progress: Progress = print,
    ):
        self.spec = spec
        self.aws = aws
        self.applier = applier
        self.hooks = hooks
        self.progress = progress
        # Deleting the old streams (the last step of decommissioned) needs the operator's
        # --allow-destroy on the run that reaches it; `clock` is the hooks' wall clock.
        self.allow_destroy = False
        self.accepted: dict[str, str] = {}
        self.clock: Callable[[], float] = time.time
        control = control_plane(spec)
        dynamodb = aws.client(control.environment, "dynamodb")
        # The journal's times compare with record arrivals: they run on the services' clock.
        self.service_clock = service_clock(aws)
        self.store = StateStore(
            dynamodb, control.state_table, spec.migration, clock=self.service_clock
        )
        self.lock = CutoverLock(
            dynamodb, control.lock_table, spec.migration, ttl_seconds=spec.cutover.lock_ttl_seconds
        )

    # ------------------------------------------------------------------ planning
    def transitions_to(self, desired: str) -> tuple[MigrationState, list[Transition]]:
        state = self.store.load()
        if state.transition is not None:
            pending = state.transition
            if desired == "rolled-back" and pending.from_phase not in ROLLBACK_FROM:
                path(pending.from_phase, "rolled-back")  # raises the refusal
            if desired == "rolled-back" and pending.to_phase != "rolled-back":
                if (
                    pending.to_phase == "committed"
                    and "stop-replication" in pending.completed_steps
                ):
                    raise CutoverFailed(
                        "the commit already stopped replication, so the old environment no longer "
                        "receives events: rolling back now would lose them. Finish the commit "
                        "(`turnout cutover`) instead."
                    )
                # Compensation for an interrupted forward transition: the rollback's steps are
                # posture-driven and idempotent, so they are safe from any point of it.
                return state, [transition(pending.from_phase, "rolled-back", self.spec)]
            first = transition(pending.from_phase, pending.to_phase, self.spec)
            rest = path(pending.to_phase, desired)
            return state, [first] + [transition(a, b, self.spec) for a, b in rest]
        return state, [transition(a, b, self.spec) for a, b in path(state.phase, desired)]

    def describe(self, desired: str) -> list[str]:
        """The dry run: every step with its hook arguments or posture. Changes nothing."""
        state, transitions = self.transitions_to(desired)
        lines = [f"live phase: {state.phase}; desired: {desired}"]
        if state.transition:
            done = ", ".join(state.transition.completed_steps) or "none"
            lines.append(
                f"in progress: {state.transition.from_phase} -> {state.transition.to_phase} "
                f"(run {state.transition.run_id}; done: {done})"
            )
        if not transitions:
            lines.append("nothing to do.")
        completed = state.transition.completed_steps if state.transition else []
        checks = preflight(self.spec, transitions, completed)
        if checks:
            lines.append("before anything changes (read-only):")
            lines += [f"  {step.id}: {self.step_text(step)}" for step in checks]
        for current in transitions:
            lines.append(f"transition {current.name}:")
            guard = gate(current, self.accepted)
            if guard is not None:
                lines.append(f"  {guard.id} (before it starts): {self.gate_text(guard)}")
            for step in current.steps:
                lines.append(f"  {step.id}: {self.step_text(step)}")
        return lines

    def gate_text(self, step: HookStep) -> str:
        """The checks a transition's preflight gate runs, what they read, and what is accepted."""
        args = step.args(self.spec)
        reads = "the spec" + "".join(f" + the {env} environment" for env in args["environments"])
        accepted = ", ".join(args["accepted"])
        return (
            f"preflight {', '.join(args['checks'])} (reads {reads}); a fail refuses, a warn or "
            f"unknown refuses unless accepted" + (f" (accepted: {accepted})" if accepted else "")
        )

    def step_text(self, step: Step) -> str:
        if isinstance(step, ApplyStep):
            needs = " (needs --allow-destroy)" if step.posture.old_streams_deleted else ""
            which = (
                "both environments"
                if len(step.environments) > 1
                else f"the {step.environments[0]} environment (the zone's)"
            )
            then = (
                ", then plan: no changes"
                if self.spec.cutover.plan_after_apply
                else " (no plan after it: cutover.plan_after_apply is false)"
            )
            return f"terraform apply {which} ({step.posture.describe()}){then}{needs}"
        args = step.args(self.spec)
        arguments = ", ".join(f"{key}={value!r}" for key, value in args.items())
        return f"{step.kind} {step.hook}({arguments})"

    def plan_summaries(self, desired: str, every_apply: bool = False) -> list[str]:
        """For a dry run: what the first apply of the path would change, per environment (with
        `every_apply`, each apply's posture planned against the live state: what it removes)."""
        _, transitions = self.transitions_to(desired)
        texts: list[str] = []
        for current in transitions:
            for step in current.steps:
                if isinstance(step, ApplyStep):
                    label = step_label(current, step)
                    posture = applied_posture(
                        step.posture, current.to_phase, self.store, self.service_clock
                    )
                    found = self.applier.plan_texts(current.to_phase, posture, label)
                    if not every_apply:
                        return found
                    texts += [f"[{step.id}] {text}" for text in found]
        return texts

    # ------------------------------------------------------------------ running
    def run(
        self, desired: str, allow_destroy: bool = False, accepted: dict[str, str] | None = None
    ) -> RunReport:
        """`accepted`: {preflight check: reason} the operator accepted for this run (`--accept`);
        a warning or unknown of such a check does not refuse a transition (journaled)."""
        self.allow_destroy = allow_destroy
        self.accepted = dict(accepted or {})
        run_id = new_run_id()
        previous = self.lock.acquire(run_id)
        if previous is not None:
            self.store.journal(
                run_id,
                "lock",
                "taken-over",
                previous_holder=vars(previous),
                reason=self.lock.takeover_reason,
            )
        self.store.journal(run_id, "lock", "acquired", owner=self.lock.owner, desired=desired)
        self.lock.start_heartbeat()
        try:
            state, transitions = self.transitions_to(desired)
            self._preflight(state, transitions, run_id)
            report = RunReport(run_id, state.phase, state.phase)
            for current in transitions:
                self._gate(current, state, run_id, report.start_phase)
                started = time.monotonic()
                state = self._run_transition(current, state, run_id, report)
                report.phase_seconds[current.name] = round(time.monotonic() - started, 1)
                report.end_phase = state.phase
            return report
        finally:
            self.lock.release()
            self.store.journal(run_id, "lock", "released", owner=self.lock.owner)

    def _run_transition(
        self, current: Transition, state: MigrationState, run_id: str, report: RunReport
    ) -> MigrationState:
        state, progress, resuming = self._begin(current, state, run_id)
        self.progress(f"== {current.name}{' (resuming)' if resuming else ''}")
        context = self._context(current, progress)
        guarded_until = last_done_side_effect(current, progress)
        for index, step in enumerate(current.steps, 1):
            self.lock.check()
            label = f"[{current.name} {index}/{len(current.steps)}] {step.id}"
            done = step.id in progress.completed_steps
            reason = skip_reason(step, done, index - 1 < guarded_until)
            if reason:
                self.store.journal(
                    run_id, "step", "skipped", transition=current.name, step=step.id, reason=reason
                )
                self.progress(f"{label}: skipped ({reason})")
                report.steps.append(StepRecord(current.name, step.id, step.kind, "skipped", 0.0))
                continue
            self._refuse_without_allow_destroy(current, step, run_id)
            state = self._run_recorded_step(current, step, state, context, run_id, report, label)
        state.phase = current.to_phase
        state.transition = None
        state = self.store.save(state, state.version)
        self.store.journal(
            run_id, "transition", "completed", transition=current.name, phase=current.to_phase
        )
        self.progress(f"== live phase is now {current.to_phase}")
        return state

    def _begin(
        self, current: Transition, state: MigrationState, run_id: str
    ) -> tuple[MigrationState, TransitionProgress, bool]:
        """Resume the transition recorded as in progress, or record this one as started (an
        interrupted different transition is journaled as abandoned)."""
        progress = state.transition
        resuming = progress is not None and (progress.from_phase, progress.to_phase) == (
            current.from_phase,
            current.to_phase,
        )
        if progress is not None and resuming:
            self.store.journal(
                run_id,
                "transition",
                "resumed",
                transition=current.name,
                completed=progress.completed_steps,
                first_run=progress.run_id,
            )
            return state, progress, True
        if progress is not None:
            self.store.journal(
                run_id,
                "transition",
                "abandoned",
                transition=f"{progress.from_phase}->{progress.to_phase}",
                completed=progress.completed_steps,
                replaced_by=current.name,
            )
        progress = TransitionProgress(
            current.from_phase, current.to_phase, run_id, now_iso(self.service_clock)
        )
        state.transition = progress
        state = self.store.save(state, state.version)
        self.store.journal(run_id, "transition", "started", transition=current.name)
        return state, progress, False

    def _run_recorded_step(
        self,
        current: Transition,
        step: Step,
        state: MigrationState,
        context: HookContext,
        run_id: str,
        report: RunReport,
        label: str,
    ) -> MigrationState:
        """Run one step with its journal entries and its atomic state write."""
        progress = state.transition
        assert progress is not None
        done = step.id in progress.completed_steps
        if step.kind != "check" and step.id not in progress.started_side_effects:
            # Saved before the side effect: a run killed during it resumes at it, never
            # behind it (its preconditions may rightly be false once it has landed).
            progress.started_side_effects.append(step.id)
            state = self.store.save(state, state.version)
        started = time.monotonic()
        self.progress(f"{label}: {self.step_text(step)}")
        self.store.journal(
            run_id,
            "step",
            "started",
            transition=current.name,
            step=step.id,
            step_kind=step.kind,
            inputs=self._step_inputs(step),
            reverify=done,
        )
        try:
            outcome = self._run_step(current, step, context)
        except TurnoutError as problem:
            seconds = round(time.monotonic() - started, 3)
            self.store.journal(
                run_id,
                "step",
                "failed",
                transition=current.name,
                step=step.id,
                error=str(problem),
                seconds=seconds,
            )
            report.steps.append(
                StepRecord(current.name, step.id, step.kind, "failed", round(seconds, 1))
            )
            self._run_error_hooks(current, context, run_id)
            raise CutoverFailed(compensation(current, step, progress, problem)) from None
        seconds = time.monotonic() - started
        context.results[step.id] = outcome
        if not done:
            progress.completed_steps.append(step.id)
        progress.step_results[step.id] = outcome
        state = self.store.save(state, state.version)
        self.store.journal(
            run_id,
            "step",
            "completed",
            transition=current.name,
            step=step.id,
            step_kind=step.kind,
            outcome=outcome,
            seconds=round(seconds, 3),
        )
        outcome_name = "reverified" if done else "done"
        report.steps.append(
            StepRecord(current.name, step.id, step.kind, outcome_name, round(seconds, 1))
        )
        return state

    def _context(self, current: Transition, progress: TransitionProgress) -> HookContext:
        return HookContext(
            spec=self.spec,
            aws=self.aws,
            phase_from=current.from_phase,
            phase_to=current.to_phase,
            project_root=self.hooks.project_root,
            results=dict(progress.step_results),
            progress=self.progress,
            clock=self.clock,
            work_dir=getattr(self.hooks, "work_dir", None),
            phase_since=self.store.phase_reached_at(current.from_phase),
        )

    def _preflight(self, state: MigrationState, transitions: list[Transition], run_id: str) -> None:
        """Read-only checks before anything changes; a failure leaves the migration state as it
        was (only the journal records the refusal)."""
        completed = state.transition.completed_steps if state.transition else []
        for step in preflight(self.spec, transitions, completed):
            context = HookContext(
                spec=self.spec,
                aws=self.aws,
                phase_from=state.phase,
                phase_to=transitions[0].to_phase,
                project_root=self.hooks.project_root,
                progress=self.progress,
                clock=self.clock,
            )
            self.progress(f"[preflight] {step.id}: {self.step_text(step)}")
            try:
                outcome = self.hooks.run(step, self.spec, context)
            except TurnoutError as problem:
                self.store.journal(run_id, "preflight", "failed", step=step.id, error=str(problem))
                raise CutoverFailed(
                    f"{problem} Nothing was changed: no step ran, the live phase is still "
                    f"'{state.phase}' and the migration state is as it was. Fix this and run "
                    f"again."
                ) from None
            self.store.journal(run_id, "preflight", "completed", step=step.id, outcome=outcome)

    def _gate(
        self, current: Transition, state: MigrationState, run_id: str, start_phase: str
    ) -> None:
        """The preflight checks that guard `current`, before it starts (or resumes). A refusal
        leaves the migration state as it was; only the journal records it."""
        step = gate(current, self.accepted)
        if step is None:
            return
        switched = (
            None
            if current.from_phase == "baseline"
            else self.store.transition_first_started_at("baseline->switched")
        )
        context = HookContext(
            spec=self.spec,
            aws=self.aws,
            phase_from=current.from_phase,
            phase_to=current.to_phase,
            project_root=self.hooks.project_root,
            progress=self.progress,
            clock=self.clock,
            switched_at=switched,
        )
        self.progress(f"[{current.name} preflight] {self.gate_text(step)}")
        try:
            outcome = self.hooks.run(step, self.spec, context)
        except TurnoutError as problem:
            self.store.journal(
                run_id, "gate", "refused", transition=current.name, step=step.id, error=str(problem)
            )
            pending = (
                f"the transition in progress ({state.transition.from_phase} -> "
                f"{state.transition.to_phase}) stays where it was"
                if state.transition
                else f"{current.name} did not start"
            )
            earlier = (
                f" (this run first took the live phase from '{start_phase}' to '{state.phase}')"
                if state.phase != start_phase
                else ""
            )
            raise CutoverFailed(
                f"{problem} Nothing was changed{earlier}: {pending}, the live phase is still "
                f"'{state.phase}' and the migration state is as it was (the journal records the "
                f"refusal)."
            ) from None
        for acceptance in outcome.get("accepted", []):
            self.store.journal(run_id, "gate", "accepted", transition=current.name, **acceptance)
            self.progress(
                f"[{current.name} preflight] accepted {acceptance['check']} "
                f"({acceptance['verdict']}): {acceptance['reason']}"
            )
        self.store.journal(
            run_id, "gate", "passed", transition=current.name, step=step.id, outcome=outcome
        )

    def _refuse_without_allow_destroy(self, current: Transition, step: Step, run_id: str) -> None:
        """Before the old streams are deleted, the run must carry --allow-destroy. Refused
        before the step is marked as started, so the checks before it are measured again."""
        if not isinstance(step, ApplyStep) or not step.posture.old_streams_deleted:
            return
        if self.allow_destroy:
            return
        self.store.journal(
            run_id, "step", "refused", transition=current.name, step=step.id, reason="allow-destroy"
        )
        raise CutoverFailed(
            f"step '{step.id}' of {current.name} deletes the old streams (the spec's "
            f"decommission.delete_old_streams); their retention has passed since the commit and "
            f"nothing was written to them since, but deleting needs --allow-destroy on the run: "
            f"`turnout decommission --allow-destroy`. Nothing was deleted; everything before this "
            f"step is done and stays done."
        )

    def _step_inputs(self, step: Step) -> dict:
        if isinstance(step, ApplyStep):
            inputs = {
                "route_target": step.posture.route_target,
                "active_direction": step.posture.active_direction,
            }
            if step.posture.api_weights:  # the report draws the API switch from these
                inputs["api_weights"] = dict(step.posture.api_weights)
            return inputs
        return {"hook": step.hook, "args": step.args(self.spec)}

    def _run_step(self, current: Transition, step: Step, context: HookContext) -> dict:
        if isinstance(step, ApplyStep):
            posture = applied_posture(
                step.posture, current.to_phase, self.store, self.service_clock
            )
            return self.applier.apply(
                current.to_phase, posture, step_label(current, step), step.environments
            )
        return self.hooks.run(step, self.spec, context)

    def _run_error_hooks(self, current: Transition, context: HookContext, run_id: str) -> None:
        for step in error_hooks(self.spec, current.name):
            try:
                self.hooks.run(step, self.spec, context)
                self.store.journal(run_id, "hook", "completed", step=step.id, when="error")
            except TurnoutError as problem:
                self.store.journal(
                    run_id, "hook", "failed", step=step.id, when="error", error=str(problem)
                )
