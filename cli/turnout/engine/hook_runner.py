"""Run one hook step: load the hook file, validate its arguments, run it within its time limit,
and return its result as data. Every failure becomes a TurnoutError (HookFailed/HookError)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from turnout.engine.steps import HookStep
from turnout.errors import TurnoutError
from turnout.hooks import HookContext, HookFailed, load_hook
from turnout.spec.model import MigrationSpec


class HookRunner:
    """The engine's hook collaborator: hooks are files `<hooks_dir>/<name>.py`."""

    def __init__(self, hooks_dir: Path, work_dir: Path | None = None) -> None:
        self.hooks_dir = hooks_dir
        self.work_dir = work_dir  # where hooks may keep files (data store manifests)

    @property
    def project_root(self) -> Path:
        return self.hooks_dir.parent

    def run(self, step: HookStep, spec: MigrationSpec, context: HookContext) -> dict:
        hook = load_hook(self.hooks_dir, step.hook, step.args(spec))
        timeout = step.timeout_seconds
        context.deadline = time.monotonic() + timeout if timeout else None
        if timeout is None:
            try:
                value = hook.run(context)
            except TurnoutError:
                raise
            except Exception as problem:
                raise HookFailed(
                    f"hook {step.hook} raised {type(problem).__name__}: {problem}"
                ) from None
            return _as_result(value, step.hook)
        return _as_result(_run_bounded(hook, context, step.hook, timeout), step.hook)


def _run_bounded(hook, context: HookContext, name: str, timeout: float) -> object:
    """hook.run(context) on a thread, waited for at most `timeout` seconds."""
    outcome: dict = {}
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome["value"] = hook.run(context)
        except BaseException as problem:  # handed back to the engine's thread below
            failure.append(problem)

    worker = threading.Thread(target=target, name=f"hook-{name}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise HookFailed(
            f"hook {name} did not finish within {timeout} s (its thread was abandoned)."
        )
    if failure:
        problem = failure[0]
        if isinstance(problem, TurnoutError):
            raise problem
        raise HookFailed(f"hook {name} raised {type(problem).__name__}: {problem}")
    return outcome.get("value")


def _as_result(value: object, hook: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise HookFailed(
            f"hook {hook} returned a {type(value).__name__}; a hook's run() must return a dict "
            f"of results (or None)."
        )
    return value
