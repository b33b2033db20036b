"""Drive the live phase to the desired one, one journaled, resumable step at a time.

For each transition on the path: record it as in progress, then run its steps in order. After
every step the state is written atomically with that step marked done; the live phase moves only
when the last step passed. A crashed or killed run is resumed by running again: checks done
earlier in the transition are measured again (a fact of a moment ago proves nothing now), done
actions and applies are skipped, and the first step not done is run.

What happens on failure is decided in one place, `compensation()`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from turnout import deploy
from turnout.engine.lock import CutoverLock
from turnout.engine.state import MigrationState, StateStore, TransitionProgress, new_run_id, now_iso
from turnout.engine.steps import (
    ApplyStep,
    HookStep,
    Step,
    Transition,
    error_hooks,
    path,
    transition,
)
from turnout.errors import TurnoutError
from turnout.hooks import HookContext, HookFailed, load_hook
from turnout.phases import ENVIRONMENTS
from turnout.project import Project
from turnout.render import render_environments
from turnout.spec import MigrationSpec

Progress = Callable[[str], None]


class CutoverFailed(TurnoutError):
    """A step failed; the message says where things stand and what to do next."""


@dataclass
class EngineSettings:
    terraform_project: Project
    aws: object
    hooks_dir: Path
    work_dir: Path
    endpoint_url: str | None = None
    progress: Progress = print
    drift_check: bool = True
    # Unit tests replace Terraform here to inject faults; everything else runs for real.
    applier: Callable[[Transition, ApplyStep], dict] | None = None


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


def control_tables(spec: MigrationSpec) -> tuple[str, str, str]:
    """(environment, state table, lock table) of the control plane."""
    environment = spec.control_plane.environment
    prefix = getattr(spec.environments, environment).name_prefix
    return environment, f"{prefix}turnout-state", f"{prefix}turnout-lock"


class CutoverEngine:
    def __init__(self, spec: MigrationSpec, settings: EngineSettings):
        self.spec = spec
        self.settings = settings
        environment, state_table, lock_table = control_tables(spec)
        dynamodb = settings.aws.client(environment, "dynamodb")
        self.store = StateStore(dynamodb, state_table, spec.migration)
        self.lock = CutoverLock(
            dynamodb, lock_table, spec.migration, ttl_seconds=spec.cutover.lock_ttl_seconds
        )
        self.progress = settings.progress

    # ------------------------------------------------------------------ planning
    def transitions_to(self, desired: str) -> tuple[MigrationState, list[Transition]]:
        state = self.store.load()
        if state.transition is not None:
            pending = state.transition
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
        for current in transitions:
            lines.append(f"transition {current.name}:")
            for step in current.steps:
                lines.append(f"  {step.id}: {self._step_text(step)}")
        return lines

    def _step_text(self, step: Step) -> str:
        if isinstance(step, ApplyStep):
            return f"terraform apply both environments ({step.posture.describe()}), then plan: no changes"
        args = step.args(self.spec)
        arguments = ", ".join(f"{key}={value!r}" for key, value in args.items())
        return f"{step.kind} {step.hook}({arguments})"

    def plan_summaries(self, desired: str) -> list[str]:
        """For a dry run: what the first apply of the path would change, per environment."""
        _, transitions = self.transitions_to(desired)
        for current in transitions:
            for step in current.steps:
                if isinstance(step, ApplyStep):
                    files = self._render(current, step)
                    return [
                        deploy.plan(
                            self.settings.terraform_project,
                            environment,
                            aws_endpoint_url=self.settings.endpoint_url,
                            var_file=files[environment],
                        ).summary.text()
                        for environment in ENVIRONMENTS
                    ]
        return []

    # ------------------------------------------------------------------ running
    def run(self, desired: str) -> RunReport:
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
            report = RunReport(run_id, state.phase, state.phase)
            for current in transitions:
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
        progress = state.transition
        resuming = progress is not None and (progress.from_phase, progress.to_phase) == (
            current.from_phase,
            current.to_phase,
        )
        if progress is not None and not resuming:
            self.store.journal(
                run_id,
                "transition",
                "abandoned",
                transition=f"{progress.from_phase}->{progress.to_phase}",
                completed=progress.completed_steps,
                replaced_by=current.name,
            )
        if not resuming:
            progress = TransitionProgress(current.from_phase, current.to_phase, run_id, now_iso())
            state.transition = progress
            state = self.store.save(state, state.version)
            self.store.journal(run_id, "transition", "started", transition=current.name)
        else:
            self.store.journal(
                run_id,
                "transition",
                "resumed",
                transition=current.name,
                completed=progress.completed_steps,
                first_run=progress.run_id,
            )
        self.progress(f"== {current.name}{' (resuming)' if resuming else ''}")
        context = self._context(current, progress)
        guarded_until = _last_done_side_effect(current, progress)
        for index, step in enumerate(current.steps, 1):
            self.lock.check()
            label = f"[{current.name} {index}/{len(current.steps)}] {step.id}"
            done = step.id in progress.completed_steps
            skip_reason = _skip_reason(step, done, index - 1 < guarded_until)
            if skip_reason:
                self.store.journal(
                    run_id,
                    "step",
                    "skipped",
                    transition=current.name,
                    step=step.id,
                    reason=skip_reason,
                )
                self.progress(f"{label}: skipped ({skip_reason})")
                report.steps.append(StepRecord(current.name, step.id, step.kind, "skipped", 0.0))
                continue
            if step.kind != "check" and step.id not in progress.started_side_effects:
                # Saved before the side effect: a run killed during it resumes at it, never
                # behind it (its preconditions may rightly be false once it has landed).
                progress.started_side_effects.append(step.id)
                state = self.store.save(state, state.version)
            started = time.monotonic()
            self.progress(f"{label}: {self._step_text(step)}")
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
                seconds = time.monotonic() - started
                self.store.journal(
                    run_id,
                    "step",
                    "failed",
                    transition=current.name,
                    step=step.id,
                    error=str(problem),
                    seconds=round(seconds, 3),
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
            report.steps.append(
                StepRecord(
                    current.name,
                    step.id,
                    step.kind,
                    "reverified" if done else "done",
                    round(seconds, 1),
                )
            )
        state.phase = current.to_phase
        state.transition = None
        state = self.store.save(state, state.version)
        self.store.journal(
            run_id, "transition", "completed", transition=current.name, phase=current.to_phase
        )
        self.progress(f"== live phase is now {current.to_phase}")
        return state

    def _context(self, current: Transition, progress: TransitionProgress) -> HookContext:
        return HookContext(
            spec=self.spec,
            aws=self.settings.aws,
            phase_from=current.from_phase,
            phase_to=current.to_phase,
            project_root=self.settings.hooks_dir.parent,
            results=dict(progress.step_results),
            progress=self.progress,
        )

    def _step_inputs(self, step: Step) -> dict:
        if isinstance(step, ApplyStep):
            return {
                "route_target": step.posture.route_target,
                "active_direction": step.posture.active_direction,
            }
        return {"hook": step.hook, "args": step.args(self.spec)}

    def _run_step(self, current: Transition, step: Step, context: HookContext) -> dict:
        if isinstance(step, ApplyStep):
            return (self.settings.applier or self._apply)(current, step)
        return self._run_hook(step, context)

    def _run_hook(self, step: HookStep, context: HookContext) -> dict:
        hook = load_hook(self.settings.hooks_dir, step.hook, step.args(self.spec))
        context.deadline = time.monotonic() + step.timeout_seconds if step.timeout_seconds else None
        if step.timeout_seconds is None:
            try:
                value = hook.run(context)
            except TurnoutError:
                raise
            except Exception as problem:
                raise HookFailed(
                    f"hook {step.hook} raised {type(problem).__name__}: {problem}"
                ) from None
            return _as_result(value, step.hook)
        outcome: dict = {}
        failure: list[BaseException] = []

        def target() -> None:
            try:
                outcome["value"] = hook.run(context)
            except BaseException as problem:  # handed back to the engine's thread below
                failure.append(problem)

        worker = threading.Thread(target=target, name=f"hook-{step.hook}", daemon=True)
        worker.start()
        worker.join(step.timeout_seconds)
        if worker.is_alive():
            raise HookFailed(
                f"hook {step.hook} did not finish within {step.timeout_seconds} s (its thread was abandoned)."
            )
        if failure:
            problem = failure[0]
            if isinstance(problem, TurnoutError):
                raise problem
            raise HookFailed(f"hook {step.hook} raised {type(problem).__name__}: {problem}")
        return _as_result(outcome.get("value"), step.hook)

    def _render(self, current: Transition, step: ApplyStep) -> dict[str, Path]:
        output = self.settings.work_dir / "cutover" / current.name.replace(">", "") / step.id
        output.mkdir(parents=True, exist_ok=True)
        files = render_environments(
            self.spec,
            self.settings.terraform_project.terraform_dir,
            phase=current.to_phase,
            output_dir=output,
            posture=step.posture,
        )
        for rendered in files:
            rendered.write()
        return {rendered.environment: rendered.path for rendered in files}

    def _apply(self, current: Transition, step: ApplyStep) -> dict:
        files = self._render(current, step)
        project = self.settings.terraform_project

        def apply(environment: str) -> dict:
            summary = deploy.plan_and_apply(
                project, environment, self.settings.endpoint_url, var_file=files[environment]
            )
            result = {"changes": summary.as_dict()["totals"]}
            if not summary.has_changes:
                result["drift"] = "none (the plan itself showed no changes)"
            elif self.settings.drift_check:
                again = deploy.plan(
                    project,
                    environment,
                    aws_endpoint_url=self.settings.endpoint_url,
                    var_file=files[environment],
                )
                if again.summary.has_changes:
                    raise CutoverFailed(
                        f"after applying the {environment} environment, terraform plan still shows "
                        f"changes: {again.summary.text()}"
                    )
                result["drift"] = "none"
            return result

        with ThreadPoolExecutor(max_workers=2) as pool:
            results = dict(zip(ENVIRONMENTS, pool.map(apply, ENVIRONMENTS), strict=True))
        return {"posture": step.posture.describe(), **results}

    def _run_error_hooks(self, current: Transition, context: HookContext, run_id: str) -> None:
        for step in error_hooks(self.spec, current.name):
            try:
                self._run_hook(step, context)
                self.store.journal(run_id, "hook", "completed", step=step.id, when="error")
            except TurnoutError as problem:
                self.store.journal(
                    run_id, "hook", "failed", step=step.id, when="error", error=str(problem)
                )


def _skip_reason(step: Step, done: bool, before_last_side_effect: bool) -> str | None:
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


def _last_done_side_effect(current: Transition, progress: TransitionProgress) -> int:
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
        return (
            f"{where} The rollback is recorded as in progress; replication is never stopped before "
            f"the new streams' tail has reached the old ones, so no record is lost. Fix the cause "
            f"and run `turnout rollback` again: done steps are not repeated, checks are re-measured."
        )
    if not applied:
        return (
            f"{where} Nothing was applied in this transition: producers, consumers and replication "
            f"are as they were in '{current.from_phase}', and no record was touched. Fix the cause "
            f"and run `turnout cutover` again."
        )
    rollback = (
        "or roll back with `turnout rollback`"
        if current.to_phase != "committed" or "stop-replication" not in applied
        else "(rollback is no longer possible: replication to the old environment was stopped)"
    )
    return (
        f"{where} Already applied in this transition: {', '.join(applied)}. Records are safe: "
        f"whatever the producers wrote stays in the streams (retention) until a consumer or the "
        f"replicator reads it. Run `turnout cutover` again to resume (checks are re-measured, "
        f"done steps are not repeated), {rollback}."
    )


def _as_result(value: object, hook: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HookFailed(
            f"hook {hook} returned a {type(value).__name__}; a hook's run() must return a dict "
            f"of results (or None)."
        )
    return value
