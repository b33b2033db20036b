"""Function hosts: fetch a function's deployed zip from the emulator and run it in a worker
subprocesses (a pool per function), speaking the JSON-lines protocol of ``worker.py``."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid as uuidlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .log import log_event

if TYPE_CHECKING:
    from .runtime import LocalLambdaRuntime

WORKER_SCRIPT = str(Path(__file__).with_name("worker.py"))
INIT_TIMEOUT_S = 10.0
_PASS_ENV = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "SYSTEMROOT")


@dataclass(frozen=True)
class FunctionConfig:
    function_arn: str
    function_name: str
    account_id: str
    region: str
    handler: str
    role: str
    timeout: int
    memory_size: int
    code_sha256: str
    environment: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_api(cls, cfg: dict[str, Any]) -> FunctionConfig:
        arn = cfg["FunctionArn"]
        parts = arn.split(":")
        return cls(
            function_arn=arn,
            function_name=cfg["FunctionName"],
            account_id=parts[4],
            region=parts[3],
            handler=cfg.get("Handler") or "",
            role=cfg.get("Role") or "",
            timeout=int(cfg.get("Timeout") or 3),
            memory_size=int(cfg.get("MemorySize") or 128),
            code_sha256=cfg.get("CodeSha256") or "",
            environment=tuple(
                sorted(((cfg.get("Environment") or {}).get("Variables") or {}).items())
            ),
        )


@dataclass
class InvokeResult:
    request_id: str
    ok: bool
    payload: Any = None
    error_type: str | None = None  # function errors: "Unhandled", timeouts and crashes too
    error_message: str | None = None
    duration_ms: int = 0
    kind: str = "ok"  # ok | error | timeout | crash | init_error | stopped
    extra: dict[str, Any] = field(default_factory=dict)


class CodeCache:
    """Unpacked function zips under ``<state_dir>/code/<sha256 hex>/``."""

    def __init__(self, runtime: LocalLambdaRuntime, root: Path) -> None:
        self.runtime = runtime
        self.root = root
        self._lock = threading.Lock()

    def get(self, cfg: FunctionConfig) -> Path:
        with self._lock:
            lam = self.runtime.client("lambda", cfg.account_id, cfg.region)
            info = lam.get_function(FunctionName=cfg.function_name)
            sha_b64 = info["Configuration"]["CodeSha256"]
            hexdigest = base64.b64decode(sha_b64).hex()
            target = self.root / hexdigest
            if target.is_dir():
                return target
            location = (info.get("Code") or {}).get("Location") or ""
            endpoint = urlsplit(self.runtime.endpoint_url)
            loc = urlsplit(location)
            if loc.scheme != endpoint.scheme or loc.netloc != endpoint.netloc:
                # Never fetch from anywhere but the emulator (moto without our launcher answers
                # with a fictitious S3 URL).
                raise RuntimeError(
                    f"the code of {cfg.function_name} is not served by the emulator "
                    f"(Code.Location {location!r}); start it with turnout.sandbox.emulator.server"
                )
            with urllib.request.urlopen(location, timeout=30) as resp:
                body = resp.read()
            digest = hashlib.sha256(body).digest()
            if base64.b64encode(digest).decode() != sha_b64:
                raise RuntimeError(f"the code of {cfg.function_name} does not match CodeSha256")
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=self.root))
            try:
                with zipfile.ZipFile(io.BytesIO(body)) as zf:
                    zf.extractall(tmp)
                os.replace(tmp, target)
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
                if not target.is_dir():
                    raise
            log_event(
                "function_code_fetched",
                function=cfg.function_arn,
                code_sha256=sha_b64,
                bytes=len(body),
            )
            return target


class _Worker:
    def __init__(self, proc: subprocess.Popen[bytes], config: FunctionConfig) -> None:
        self.proc = proc
        self.config = config
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True, name=f"worker-{proc.pid}")
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                self.lines.put(json.loads(raw))
            except ValueError:
                continue
        self.lines.put(None)  # EOF: the worker is gone

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(Exception):
                stream.close()  # type: ignore[union-attr]


class FunctionHost:
    """One function: its current configuration and a pool of workers.

    Like Lambda, invocations of one function run concurrently (one per shard being processed,
    up to ``max_concurrency``, the function's concurrency limit); each worker process handles
    one invocation at a time and is reused while the configuration is unchanged.
    """

    def __init__(
        self, runtime: LocalLambdaRuntime, config: FunctionConfig, max_concurrency: int = 10
    ) -> None:
        self.runtime = runtime
        self.config = config
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._slots = threading.BoundedSemaphore(max(1, max_concurrency))
        self._closed = False

    def update(self, config: FunctionConfig) -> None:
        if config != self.config:
            log_event(
                "function_config_changed",
                function=config.function_arn,
                code_changed=config.code_sha256 != self.config.code_sha256,
            )
            self.config = config  # stale workers are replaced before their next invocation

    def _start_worker(self, config: FunctionConfig) -> _Worker:
        code_dir = self.runtime.code_cache.get(config)
        creds = self.runtime.role_credentials(config.role, config.function_name, config.region)
        env = {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
        env.update(dict(config.environment))
        env.update(
            {
                "AWS_ENDPOINT_URL": self.runtime.endpoint_url,
                "AWS_REGION": config.region,
                "AWS_DEFAULT_REGION": config.region,
                "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                "AWS_SESSION_TOKEN": creds["SessionToken"],
                "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_size),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.function_name}",
                "AWS_EXECUTION_ENV": "AWS_Lambda_turnout_local",
                "LAMBDA_TASK_ROOT": str(code_dir),
                "_HANDLER": config.handler,
                "TZ": ":UTC",
                "PYTHONUNBUFFERED": "1",
            }
        )
        log_dir = self.runtime.state_dir / "function-logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{config.account_id}-{config.region}-{config.function_name}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [
                    self.runtime.python,
                    "-I",
                    WORKER_SCRIPT,
                    "--code-dir",
                    str(code_dir),
                    "--handler",
                    config.handler,
                    *self._clock_arguments(),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
                cwd=str(code_dir),
                start_new_session=True,
            )
        worker = _Worker(proc, config)
        log_event("worker_started", function=config.function_arn, pid=proc.pid)
        return worker

    def _clock_arguments(self) -> list[str]:
        """The sandbox clock for the function's ``time.time()`` (none when it is real time)."""
        profile = self.runtime.profile
        if profile.clock_rate == 1.0:
            return []
        return [
            "--clock-rate",
            repr(profile.clock_rate),
            "--clock-origin",
            repr(profile.clock_origin),
        ]

    def invoke(self, event: dict[str, Any]) -> InvokeResult:
        request_id = str(uuidlib.uuid4())
        with self._slots:
            with self._lock:
                if self._closed:
                    return InvokeResult(request_id, False, kind="stopped", error_type="Stopped")
                config = self.config
                worker = self._take_idle(config)
            start = time.monotonic()
            if worker is None:
                worker, failure = self._spawn(config, request_id)
                if failure is not None:
                    return failure
            assert worker is not None
            with self._lock:
                if self._closed:
                    worker.kill()
                    return InvokeResult(request_id, False, kind="stopped", error_type="Stopped")
                self._busy.add(worker)
            result, healthy = self._call(worker, config, event, request_id, start)
            with self._lock:
                self._busy.discard(worker)
                if healthy and not self._closed and worker.config == self.config:
                    self._idle.append(worker)
                else:
                    worker.kill()
            return result

    def _take_idle(self, config: FunctionConfig) -> _Worker | None:
        while self._idle:
            worker = self._idle.pop()
            if worker.config == config and worker.proc.poll() is None:
                return worker
            worker.kill()
        return None

    def _spawn(
        self, config: FunctionConfig, request_id: str
    ) -> tuple[_Worker | None, InvokeResult | None]:
        try:
            worker = self._start_worker(config)
        except Exception as exc:
            log_event("worker_start_failed", function=config.function_arn, error=str(exc))
            return None, InvokeResult(
                request_id, False, error_type="Unhandled", error_message=str(exc), kind="init_error"
            )
        first = self._next(worker, INIT_TIMEOUT_S)
        if first is None or first.get("type") != "ready":
            worker.kill()
            message = (first or {}).get("errorMessage", "worker did not start")
            log_event("worker_init_failed", function=config.function_arn)
            return None, InvokeResult(
                request_id, False, error_type="Unhandled", error_message=message, kind="init_error"
            )
        return worker, None

    def _call(
        self,
        worker: _Worker,
        config: FunctionConfig,
        event: dict[str, Any],
        request_id: str,
        start: float,
    ) -> tuple[InvokeResult, bool]:
        """Run one invocation on a worker; the flag says whether the worker can be reused."""
        deadline_ms = int(time.time() * 1000 + config.timeout * 1000)
        request = {
            "id": request_id,
            "event": event,
            "deadline_ms": deadline_ms,
            "context": {
                "function_name": config.function_name,
                "function_version": "$LATEST",
                "invoked_function_arn": config.function_arn,
                "memory_limit_in_mb": config.memory_size,
                "aws_request_id": request_id,
                "log_group_name": f"/aws/lambda/{config.function_name}",
                "log_stream_name": f"local/{worker.proc.pid}",
            },
        }
        try:
            assert worker.proc.stdin is not None
            worker.proc.stdin.write((json.dumps(request) + "\n").encode())
            worker.proc.stdin.flush()
        except OSError:
            crashed = InvokeResult(
                request_id,
                False,
                error_type="Unhandled",
                error_message="worker crashed",
                kind="crash",
            )
            return crashed, False
        reply = self._next(worker, config.timeout + 0.5, request_id)
        duration = int((time.monotonic() - start) * 1000)
        if reply is None:
            timed_out = worker.proc.poll() is None
            if timed_out:
                message, kind = f"Task timed out after {config.timeout:.2f} seconds", "timeout"
            else:
                message, kind = "Runtime exited", "crash"
            failed = InvokeResult(
                request_id,
                False,
                error_type="Unhandled",
                kind=kind,
                error_message=message,
                duration_ms=duration,
            )
            return failed, False
        if reply.get("type") == "result":
            return InvokeResult(
                request_id, True, payload=reply.get("payload"), duration_ms=duration
            ), True
        errored = InvokeResult(
            request_id,
            False,
            error_type="Unhandled",
            kind="error",
            error_message=f"{reply.get('errorType')}: {reply.get('errorMessage')}",
            duration_ms=duration,
        )
        return errored, True

    @staticmethod
    def _next(
        worker: _Worker, timeout: float, request_id: str | None = None
    ) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                msg = worker.lines.get(timeout=remaining)
            except queue.Empty:
                return None
            if msg is None:
                return None
            if request_id is None or msg.get("id") == request_id:
                return msg

    def kill_worker(self) -> None:
        """Kill every worker now (used on stop to abandon in-flight invocations)."""
        with self._lock:
            workers = [*self._busy, *self._idle]
            self._idle.clear()
        for worker in workers:
            worker.kill()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.kill_worker()


def python_executable() -> str:
    return sys.executable
