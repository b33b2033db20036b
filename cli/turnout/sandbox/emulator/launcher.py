"""The local AWS emulator: moto's server on loopback, with two account ids.

``Emulator`` starts ``python -m turnout.sandbox.emulator.server`` (see that module for what it changes in
moto) as a subprocess bound to 127.0.0.1, records its PID, waits until it answers, and stops it
by PID. ``session(account_id)`` returns a boto3 session whose calls moto attributes to that
account: the session holds credentials from ``sts:AssumeRole`` into
``arn:aws:iam::<account>:role/turnout-emulator-admin`` (moto maps an assumed role's access key to
the role's account and does not require the role to exist).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3

from turnout import errors
from turnout.aws.credentials import session_with
from turnout.aws.endpoint import (
    DEFAULT_REGION,
    EMULATOR_CLIENT_CONFIG,
    assume_role_credentials,
    refreshing_credentials,
    role_arn,
)
from turnout.sandbox.emulator.profile import (
    PROFILE_FILE,
    FidelityProfile,
    ProfileError,
    resolve_profile,
)
from turnout.sandbox.processes import start_ticks

DEFAULT_OLD_ACCOUNT_ID = "111111111111"
DEFAULT_NEW_ACCOUNT_ID = "222222222222"
SERVER_MODULE = "turnout.sandbox.emulator.server"
STATE_FILE = "emulator.json"
PID_FILE = "emulator.pid"
LOG_FILE = "emulator.log"


class EmulatorError(errors.EmulatorError):
    """The emulator could not be started, reached or stopped."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pid_is_emulator(pid: int) -> bool:
    """True if ``pid`` runs our server module (guards against PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return _pid_alive(pid)  # no /proc: trust the pid file
    return SERVER_MODULE.encode() in cmdline


class Emulator:
    """moto server on loopback, started and stopped by PID, with per-account sessions."""

    def __init__(
        self,
        work_dir: str | os.PathLike[str],
        *,
        old_account_id: str = DEFAULT_OLD_ACCOUNT_ID,
        new_account_id: str = DEFAULT_NEW_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
        host: str = "127.0.0.1",
        port: int | None = None,
        startup_timeout: float = 30.0,
        python: str = sys.executable,
        profile: FidelityProfile | str | None = None,
        session_seconds: int | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise EmulatorError("the emulator binds loopback only")
        self.work_dir = Path(work_dir)
        self.old_account_id = old_account_id
        self.new_account_id = new_account_id
        self.region = region
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.python = python
        # The fidelity profile (default: $TURNOUT_SANDBOX_PROFILE or "aws"); its clock starts
        # when the server starts.
        self.profile = resolve_profile(profile)
        # AssumeRole sessions end after this long, as on AWS (None: never, moto's default).
        if session_seconds is not None and self.profile.clock_rate != 1.0:
            raise EmulatorError(
                f"session_seconds ({session_seconds}) needs the sandbox clock at real time, "
                f"but the profile's clock_rate is {self.profile.clock_rate}: sessions would end "
                "on the sandbox clock while turnout's own clients renew them on this machine's "
                "clock. Leave session_seconds unset (sessions never end) or use clock_rate 1."
            )
        self.session_seconds = session_seconds
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._started_at_tick: str | None = None  # from an attached pid file: PID reuse guard
        self._owned = False
        self._creds: dict[str, dict[str, str]] = {}
        self._refreshing: dict[str, Any] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ paths and facts
    @property
    def log_path(self) -> Path:
        return self.work_dir / LOG_FILE

    @property
    def pid_file(self) -> Path:
        return self.work_dir / PID_FILE

    @property
    def state_file(self) -> Path:
        return self.work_dir / STATE_FILE

    @property
    def profile_file(self) -> Path:
        """The running server's profile (JSON): the Lambda runtime reads the same one."""
        return self.work_dir / PROFILE_FILE

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def endpoint_url(self) -> str:
        if self.port is None:
            raise EmulatorError("the emulator is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def account_ids(self) -> dict[str, str]:
        return {"old": self.old_account_id, "new": self.new_account_id}

    def account_id(self, env_or_id: str) -> str:
        """``"old"``/``"new"`` or an account id -> account id."""
        return self.account_ids.get(env_or_id, env_or_id)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Emulator:
        if self._pid is not None and self.is_running():
            return self
        self.work_dir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self.port is not None else 3
        last_error: Exception | None = None
        for _ in range(attempts):
            port = self.port if self.port is not None else free_port(self.host)
            try:
                self._launch(port)
                return self
            except EmulatorError as exc:  # e.g. the port was taken between probe and bind
                last_error = exc
        assert last_error is not None
        raise last_error

    def _launch(self, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        env["PYTHONUNBUFFERED"] = "1"
        self.profile = self.profile.started_now()
        self.profile.write(self.work_dir)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            limit = (
                []
                if self.session_seconds is None
                else ["--session-seconds", str(self.session_seconds)]
            )
            proc = subprocess.Popen(
                [
                    self.python,
                    *("-m", SERVER_MODULE, "--host", self.host, "--port", str(port)),
                    *("--profile-file", str(self.profile_file)),
                    *limit,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        finally:
            log.close()
        self._proc, self._pid, self.port, self._owned = proc, proc.pid, port, True
        self.pid_file.write_text(f"{proc.pid} {start_ticks(proc.pid) or ''}".rstrip() + "\n")
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._forget_process()
                raise EmulatorError(
                    f"the emulator exited with code {proc.returncode} during start-up; "
                    f"log tail ({self.log_path}):\n{self.log_tail()}"
                )
            if self._healthy(timeout=1.0):
                self._write_state()
                return
            time.sleep(0.1)
        self.stop()
        raise EmulatorError(
            f"the emulator did not answer on {self.host}:{port} within "
            f"{self.startup_timeout:.0f}s; log tail ({self.log_path}):\n{self.log_tail()}"
        )

    def _write_state(self) -> None:
        state = {
            "endpoint_url": self.endpoint_url,
            "pid": self._pid,
            "old_account_id": self.old_account_id,
            "new_account_id": self.new_account_id,
            "region": self.region,
        }
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.state_file)

    def _forget_process(self) -> None:
        self._proc = None
        self._pid = None
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.state_file.unlink()

    @classmethod
    def attach(
        cls,
        endpoint_url: str,
        pid_file: str | os.PathLike[str],
        *,
        old_account_id: str = DEFAULT_OLD_ACCOUNT_ID,
        new_account_id: str = DEFAULT_NEW_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
    ) -> Emulator:
        """Use an emulator started earlier (e.g. by the sandbox). Leaving a ``with`` block does
        not stop it; an explicit ``stop()`` does (by the PID in ``pid_file``)."""
        from urllib.parse import urlsplit

        parts = urlsplit(endpoint_url)
        if not parts.hostname or not parts.port:
            raise EmulatorError(f"bad endpoint URL {endpoint_url!r}")
        pid_path = Path(pid_file)
        try:
            profile = FidelityProfile.read(pid_path.parent / PROFILE_FILE)
        except ProfileError:
            profile = resolve_profile("fast")  # started without a profile file: moto as it is
        emu = cls(
            pid_path.parent,
            old_account_id=old_account_id,
            new_account_id=new_account_id,
            region=region,
            host=parts.hostname,
            port=parts.port,
            profile=profile,
        )
        try:
            pid_and_start = pid_path.read_text().split()
            emu._pid = int(pid_and_start[0])
            emu._started_at_tick = pid_and_start[1] if len(pid_and_start) > 1 else None
        except (OSError, ValueError, IndexError) as exc:
            raise EmulatorError(f"cannot read the emulator's pid file {pid_path}: {exc}") from exc
        if not emu.is_running():
            raise EmulatorError(f"no emulator answers at {endpoint_url} with pid {emu._pid}")
        return emu

    @classmethod
    def attach_work_dir(cls, work_dir: str | os.PathLike[str]) -> Emulator:
        """Attach to the emulator whose state file (``emulator.json``) is in ``work_dir``."""
        state_path = Path(work_dir) / STATE_FILE
        try:
            state = json.loads(state_path.read_text())
        except (OSError, ValueError) as exc:
            raise EmulatorError(f"no emulator state in {state_path}: {exc}") from exc
        return cls.attach(
            state["endpoint_url"],
            Path(work_dir) / PID_FILE,
            old_account_id=state["old_account_id"],
            new_account_id=state["new_account_id"],
            region=state["region"],
        )

    def _healthy(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://{self.host}:{self.port}/_turnout/health", timeout=timeout
            ) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def is_running(self) -> bool:
        if self._pid is None or self.port is None:
            return False
        if self._proc is not None and self._proc.poll() is not None:
            return False
        return _pid_alive(self._pid) and self._healthy()

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM by PID, SIGKILL after ``grace`` seconds."""
        pid = self._pid
        if pid is None:
            return
        reused = self._started_at_tick not in (None, start_ticks(pid))
        if self._proc is None and (reused or not _pid_is_emulator(pid)):
            self._forget_process()  # stale pid file: the process is gone or is someone else
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and not self._exited(pid):
            time.sleep(0.05)
        if not self._exited(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            end = time.monotonic() + 5
            while time.monotonic() < end and not self._exited(pid):
                time.sleep(0.05)
        self._forget_process()
        self._creds.clear()
        self._refreshing.clear()

    def _exited(self, pid: int) -> bool:
        if self._proc is not None:
            return self._proc.poll() is not None
        return not _pid_alive(pid)

    def __enter__(self) -> Emulator:
        return self.start() if not self._pid else self

    def __exit__(self, *exc: object) -> None:
        if self._owned:
            self.stop()

    # ------------------------------------------------------------------ accounts
    def credentials(self, account_id: str) -> dict[str, str]:
        account_id = self.account_id(account_id)
        with self._lock:
            creds = self._creds.get(account_id)
            if creds is None:
                creds = assume_role_credentials(
                    self.endpoint_url,
                    role_arn(account_id),
                    session_name=f"turnout-emulator-{account_id}",
                    region=self.region,
                )
                self._creds[account_id] = creds
            return creds

    def session(self, account_id: str, region: str | None = None) -> boto3.Session:
        """A boto3 session acting in ``account_id`` (or ``"old"``/``"new"``), whose role session
        is renewed before it expires (an emulator started with ``session_seconds`` ends them)."""
        account_id = self.account_id(account_id)
        with self._lock:
            credentials = self._refreshing.get(account_id)
            if credentials is None:
                credentials = refreshing_credentials(
                    self.endpoint_url, account_id, self.region, f"turnout-emulator-{account_id}"
                )
                self._refreshing[account_id] = credentials
        return session_with(credentials, region or self.region)

    def client(self, service: str, account_id: str, region: str | None = None) -> Any:
        return self.session(account_id, region).client(
            service, endpoint_url=self.endpoint_url, config=EMULATOR_CLIENT_CONFIG
        )

    def status(self) -> dict[str, Any]:
        """The server's counters (see ``turnout.sandbox.emulator.server``)."""
        with urllib.request.urlopen(f"{self.endpoint_url}/_turnout/status", timeout=5) as resp:
            return json.loads(resp.read())

    def clock(self) -> float:
        """Now on the sandbox clock (the profile's, shared with the server and the Lambda
        runtime): what record arrival times, retention and iterator ages run on."""
        return self.profile.now()

    def fidelity(self) -> dict[str, Any]:
        """The server's profile, its clock (``now``) and what it throttled or trimmed."""
        with urllib.request.urlopen(f"{self.endpoint_url}/_turnout/profile", timeout=5) as resp:
            return json.loads(resp.read())

    def set_latency(self, latency: dict[str, dict[str, float]]) -> dict[str, Any]:
        """Raise (or lower) the latency of operations, e.g. ``{"kinesis PutRecords":
        {"median_ms": 200, "p99_ms": 800}}``; returns the latency now in force."""
        request = urllib.request.Request(
            f"{self.endpoint_url}/_turnout/latency",
            data=json.dumps(latency).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read())

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])
