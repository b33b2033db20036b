"""The real CLI driven through a transition on the sandbox, killed and run again.

Shared by the chaos suite and ``tests/integration/test_cutover_sandbox.py``: the command lines
and environment of the CLI, the journal queries, and :func:`drive_with_random_kills` (SIGKILL of
the CLI and its Terraform children at seeded random moments, then runs until the phase is
reached; a run that fails on its own - e.g. the emulator unreachable - is run again too).
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from turnout.aws.access import AwsAccess
from turnout.engine.factory import assemble_engine
from turnout.engine.runner import CutoverEngine
from turnout.project import Project
from turnout.sandbox.box import Sandbox
from turnout.spec.loader import load_spec


def cli_command(spec_path: Path, target: str) -> list[str]:
    turnout = [sys.executable, "-m", "turnout.cli"]
    if target == "rolled-back":
        return [*turnout, "rollback", "--sandbox", "--yes", "--spec", str(spec_path)]
    return [*turnout, "cutover", "--sandbox", "--to", target, "--yes", "--spec", str(spec_path)]


def cli_env(project: Project) -> dict[str, str]:
    return {**os.environ, "TURNOUT_WORK_DIR": str(project.work_dir), "PYTHONUNBUFFERED": "1"}


def started_steps(engine: CutoverEngine, transition_name: str, since: str) -> set[str]:
    return {
        entry["details"]["step"]
        for entry in engine.store.read_journal(limit=40)
        if entry["kind"] == "step"
        and entry["action"] == "started"
        and entry["details"].get("transition") == transition_name
        and entry["at"] > since
    }


def side_effects_completed(engine: CutoverEngine) -> list[tuple[str, str]]:
    return [
        (entry["details"]["transition"], entry["details"]["step"])
        for entry in engine.store.read_journal(newest_first=False)
        if entry["kind"] == "step"
        and entry["action"] == "completed"
        and entry["details"].get("step_kind") in ("action", "apply")
    ]


def observer_engine(project: Project) -> CutoverEngine:
    """An engine that reads the sandbox's state straight from the emulator (never through a
    chaos proxy): the harness's view, for journal and phase queries only."""
    sandbox = Sandbox(project)
    spec = load_spec(project.spec_path)
    emulator = sandbox.require_emulator()
    return assemble_engine(
        spec,
        AwsAccess.for_emulator(spec, emulator),
        sandbox.terraform_project,
        project.root / "hooks",
        progress=lambda message: None,
        endpoint_url=emulator.endpoint_url,
        work_dir=sandbox.work_dir,
    )


def _failed_step(output: str) -> str:
    """The step a failed run names (``error: step 'x' of a->b failed``), else "an unhandled
    error" (a traceback)."""
    found = re.search(r"step '([^']+)' of (\S+) failed", output)
    return f"{found.group(2)}/{found.group(1)}" if found else "an unhandled error"


def last_started_step(engine: CutoverEngine) -> str | None:
    for entry in engine.store.read_journal(limit=20):
        if entry["kind"] == "step" and entry["action"] == "started":
            return f"{entry['details'].get('transition')}/{entry['details'].get('step')}"
    return None


class CutoverStuck(RuntimeError):
    """The CLI failed more often than allowed; ``result`` holds what happened until then."""

    def __init__(self, message: str, result: DriveResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class DriveResult:
    target: str
    kills: list[dict] = field(default_factory=list)  # {after_seconds, step}
    failed_runs: list[dict] = field(default_factory=list)  # {rc, tail}
    runs: int = 0
    seconds: float = 0.0


def drive_with_random_kills(
    project: Project,
    target: str,
    rng: random.Random,
    kills: int,
    kill_after: tuple[float, float],
    logs: Path,
    progress: Callable[[str], None] = print,
    max_failed_runs: int = 6,
    run_timeout: float = 1500.0,
    retry_pause: float = 5.0,
) -> DriveResult:
    """Run the CLI to ``target``; SIGKILL the first ``kills`` runs after a random delay (if they
    are still running), then run it until the phase is reached. A run that fails by itself is
    run again after ``retry_pause``; more than ``max_failed_runs`` failures in a row at the same
    step raise :class:`CutoverStuck`."""
    engine = observer_engine(project)
    result = DriveResult(target)
    started = time.monotonic()
    same, last_failed_at = 0, None
    logs.mkdir(parents=True, exist_ok=True)
    while True:
        if engine.store.load().phase == target:
            break
        result.runs += 1
        log_path = logs / f"{target}-run{result.runs}.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                cli_command(project.spec_path, target),
                env=cli_env(project),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            if len(result.kills) < kills:
                delay = rng.uniform(*kill_after)
                try:
                    process.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    step = last_started_step(engine)
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=30)
                    result.kills.append({"after_seconds": round(delay, 1), "step": step})
                    progress(f"chaos: cutover to {target} killed after {delay:.1f} s in {step}")
                    continue
            else:
                process.wait(timeout=run_timeout)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        if process.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-8:])
            result.failed_runs.append({"rc": process.returncode, "tail": tail})
            progress(f"chaos: cutover to {target} exited {process.returncode}; run again")
            failed_at = _failed_step(tail)
            same = same + 1 if failed_at == last_failed_at else 1
            last_failed_at = failed_at
            if same > max_failed_runs:
                result.seconds = round(time.monotonic() - started, 1)
                raise CutoverStuck(
                    f"the cutover to {target} failed {same} times in a row at {failed_at}; "
                    f"last:\n{tail}",
                    result,
                )
            time.sleep(retry_pause)
    result.seconds = round(time.monotonic() - started, 1)
    return result
