"""The user's shell commands that turnout runs (a KCL consumer's pause and resume, a KCL
application's read-across instance): bounded in time, their output kept short."""

from __future__ import annotations

import os
import subprocess
from typing import Any


def run_command(
    command: str, cwd: Any, timeout_seconds: float, env: dict[str, str] | None = None
) -> dict:
    """A shell command bounded in time (`env`: variables added to this process's):
    exit code and the tails of its output."""
    try:
        completed = subprocess.run(
            command,
            shell=True,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            check=False,
            env={**os.environ, **env} if env else None,
        )
    except subprocess.TimeoutExpired:
        return {"command": command, "exit_code": None, "timed_out": True}
    return {
        "command": command,
        "exit_code": completed.returncode,
        "stdout_tail": completed.stdout[-2000:],
        "stderr_tail": completed.stderr[-2000:],
    }


def command_failure(label: str, outcome: dict, timeout_seconds: float) -> str | None:
    """What went wrong with a command `run_command` ran, in one line naming `label`; None
    when it exited 0."""
    command = outcome["command"]
    if outcome.get("timed_out"):
        return f"{label}: `{command}` did not finish within {timeout_seconds:.0f} s"
    if outcome["exit_code"] == 0:
        return None
    stderr = outcome["stderr_tail"].strip().splitlines()
    return f"{label}: `{command}` exited with {outcome['exit_code']}" + (
        f" ({stderr[-1]})" if stderr else ""
    )
