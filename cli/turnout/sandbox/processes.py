"""Background processes of the sandbox, started and stopped by PID.

A process is described by its pid file and a marker string that its command line must contain
(``/proc/<pid>/cmdline``), so a stale pid file never makes us signal somebody else's process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not alive.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def start_ticks(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, /proc/<pid>/stat field 22): with the PID,
    it names one process for good, as PIDs are reused once the counter wraps."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children in their own sessions included), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[-1].split()[1])
        parents.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


@dataclass(frozen=True)
class BackgroundProcess:
    """One named background process: ``<dir>/<name>.pid`` (its PID and start time) and
    ``<dir>/<name>.log``."""

    name: str
    directory: Path
    marker: str  # must appear in the command line, e.g. "turnout.sandbox.pipeline.producer"

    @property
    def pid_file(self) -> Path:
        return self.directory / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.directory / f"{self.name}.log"

    def pid(self) -> int | None:
        """The recorded PID if that process is alive and is ours; else None."""
        try:
            pid_and_start = self.pid_file.read_text().split()
            pid = int(pid_and_start[0])
        except (OSError, ValueError, IndexError):
            return None
        if len(pid_and_start) > 1 and start_ticks(pid) not in (None, pid_and_start[1]):
            return None  # the PID was reused, maybe by another sandbox's process of this kind
        started_here = _reapers.get(pid)
        if started_here is not None and any(self.marker in str(a) for a in started_here.args):
            # Our own child: its Popen knows for sure (no /proc reading that a busy machine or a
            # process being set up could make look empty).
            return pid if started_here.poll() is None else None
        if not pid_alive(pid):
            return None
        command = cmdline(pid)
        if command is not None and not any(self.marker in part for part in command):
            return None  # the PID was reused by another program
        return pid

    def alive(self) -> bool:
        return self.pid() is not None

    def how_it_ended(self, pid: int) -> str:
        """How a process this Python process started ended: its exit code or the signal that
        killed it ("unknown" for one started elsewhere or still running)."""
        process = _reapers.get(pid)
        code = process.poll() if process is not None else None
        if code is None:
            return "exit status unknown"
        if code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
            return f"killed by signal {-code}"
        return f"exit code {code}"

    def start(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        lifetime_seconds: float | None = None,
    ) -> int:
        """Start ``argv`` in its own session, output to the log file, PID in the pid file.

        With ``lifetime_seconds`` the process runs under coreutils ``timeout`` (SIGTERM at the end
        of its lifetime), so nothing outlives a forgotten ``down``."""
        self.directory.mkdir(parents=True, exist_ok=True)
        command = list(argv)
        if lifetime_seconds is not None:
            timeout = shutil.which("timeout")
            if timeout is None:
                raise RuntimeError("coreutils `timeout` is needed for a bounded lifetime")
            command = [
                timeout,
                "--signal=TERM",
                "--kill-after=30",
                f"{lifetime_seconds:.0f}",
                *command,
            ]
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.pid_file.write_text(f"{process.pid} {start_ticks(process.pid) or ''}".rstrip() + "\n")
        # Popen objects are not kept: the process outlives this Python process (CLI `up`). Reap it
        # in the background if it exits while we are still around, so it does not linger as a
        # zombie that still answers kill(pid, 0).
        _reapers[process.pid] = process
        return process.pid

    def stop(self, grace: float = 15.0) -> int | None:
        """SIGTERM the recorded PID, SIGKILL after ``grace`` seconds; returns the PID stopped."""
        pid = self.pid()
        if pid is None:
            with contextlib.suppress(FileNotFoundError):
                self.pid_file.unlink()
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not self._wait_exit(pid, grace):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self._wait_exit(pid, 5.0)
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        return pid

    def _wait_exit(self, pid: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            process = _reapers.get(pid)
            if process is not None and process.poll() is not None:
                _reapers.pop(pid, None)
                return True
            if not pid_alive(pid):
                return True
            time.sleep(0.05)
        return not pid_alive(pid)


_reapers: dict[int, subprocess.Popen] = {}
