"""A KCL application's read-across instance in the sandbox, as a process: what the spec's
`read_across.start_command` and `stop_command` run there (docs/read-across.md).

    python -m turnout.sandbox.pipeline.kcl_instance start --endpoint URL --state-dir DIR \\
        --processed-table T --markers-table M [--lifetime SECONDS]
    python -m turnout.sandbox.pipeline.kcl_instance stop --state-dir DIR

`start` runs the sandbox's KCL-style worker (`kcl_worker`) in the background on what turnout
gives in the TURNOUT_READ_ACROSS_* variables (`turnout.kcl_read_across`): the application, the
new streams' ARNs, the role, the instance's own lease table and its initial position. It acts
only through that role: it assumes it with the emulator's STS, reads the new streams by ARN (the
emulator lets it only when their resource policy allows the role, as AWS does) and keeps its
leases and the items it processes in the old account's DynamoDB. `start` returns once the
instance has read every stream once, and fails with the instance's own error when it cannot
(a role the policy does not name: AccessDeniedException). Both commands are idempotent: a
running instance is left running, a stopped one stays stopped. The process is bounded in time
(`--lifetime`, default one day) and its PID is recorded in the state directory.

The same module runs the application itself on the old streams for a scenario (`--instance
main`, with `--application`, `--stream-arns`, `--region`, `--role-arn` and `--lease-table` in
place of the variables): the application's pause and resume commands.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from turnout.aws.credentials import refreshing_role_session, session_with
from turnout.aws.endpoint import BASE_CREDENTIALS, EMULATOR_CLIENT_CONFIG
from turnout.sandbox import http_headers
from turnout.sandbox.processes import BackgroundProcess

from .kcl_worker import INITIAL_POSITION, KclStyleWorker, WorkerConfig

MODULE = "turnout.sandbox.pipeline.kcl_instance"
PREFIX = "TURNOUT_READ_ACROSS_"
DEFAULT_LIFETIME_SECONDS = 86400.0
START_TIMEOUT_SECONDS = 60.0
SYNC_EVERY_PASSES = 10


class InstanceError(Exception):
    """A setting the instance cannot run with; the message names it."""


@dataclass(frozen=True)
class InstanceSettings:
    application: str
    stream_arns: tuple[str, ...]
    region: str
    role_arn: str
    lease_table: str

    @classmethod
    def from_environment(
        cls, environ: dict[str, str], given: dict[str, str | None] | None = None
    ) -> InstanceSettings:
        """From the TURNOUT_READ_ACROSS_* variables; a value in `given` (the command line's, by
        the variable's suffix) takes their place."""
        environ = {**environ, **{PREFIX + k: v for k, v in (given or {}).items() if v}}
        names = ("APPLICATION", "STREAM_ARNS", "REGION", "ROLE_ARN", "LEASE_TABLE")
        missing = [PREFIX + name for name in names if not environ.get(PREFIX + name)]
        if missing:
            raise InstanceError(
                f"{', '.join(missing)} not set: turnout sets the TURNOUT_READ_ACROSS_* variables "
                "when it runs a KCL application's read_across.start_command (or pass "
                + ", ".join(f"--{name.lower().replace('_', '-')}" for name in names)
                + ")"
            )
        position = environ.get(PREFIX + "INITIAL_POSITION", INITIAL_POSITION)
        if position != INITIAL_POSITION:
            raise InstanceError(
                f"{PREFIX}INITIAL_POSITION is {position!r}; the instance starts at "
                f"{INITIAL_POSITION} only"
            )
        return cls(
            application=environ[PREFIX + "APPLICATION"],
            stream_arns=tuple(environ[PREFIX + "STREAM_ARNS"].split(",")),
            region=environ[PREFIX + "REGION"],
            role_arn=environ[PREFIX + "ROLE_ARN"],
            lease_table=environ[PREFIX + "LEASE_TABLE"],
        )


def instance_process(state_dir: Path, application: str, instance: str) -> BackgroundProcess:
    return BackgroundProcess(f"kcl-{instance}-{application}", state_dir, MODULE)


def status_file(process: BackgroundProcess) -> Path:
    return process.directory / f"{process.name}.status.json"


# ---------------------------------------------------------------------- the process itself
def run(args: argparse.Namespace, settings: InstanceSettings, stop: threading.Event) -> int:
    """Read and process until stopped; the status file says how far it got."""
    status = status_file(instance_process(args.state_dir, settings.application, args.instance))
    passes = stored = 0
    try:
        worker = _worker(args, settings)
        worker.ensure_lease_table()
    except (ClientError, BotoCoreError) as problem:
        _write_status(status, {"pid": os.getpid(), "passes": 0, "error": _said(problem)})
        return 1
    while not stop.is_set():
        try:
            # Shards are listed every SYNC_EVERY_PASSES passes, not before every read (KCL too lists
            # them now and then): a resharding's children are found within that many passes.
            done = worker.process_once(sync=passes % SYNC_EVERY_PASSES == 0)
        except (ClientError, BotoCoreError) as problem:
            _write_status(status, {"pid": os.getpid(), "passes": passes, "error": _said(problem)})
            stop.wait(args.interval)
            continue
        passes, stored = passes + 1, stored + done
        _write_status(status, {"pid": os.getpid(), "passes": passes, "stored": stored})
        # Between two reads of a shard, busy or not, as KCL's polling consumer waits
        # (idleTimeBetweenReadsInMillis): the shard's five reads a second are shared.
        stop.wait(args.interval)
    return 0


def _worker(args: argparse.Namespace, settings: InstanceSettings) -> KclStyleWorker:
    base = session_with(Credentials(*BASE_CREDENTIALS), settings.region)
    session = refreshing_role_session(  # renewed before each role session expires
        base,
        settings.role_arn,
        f"kcl-{args.instance}-{settings.application}",
        settings.region,
        args.endpoint,
    )

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=args.endpoint, config=EMULATOR_CLIENT_CONFIG)

    config = WorkerConfig(
        application=settings.application,
        stream_arns=settings.stream_arns,
        lease_table=settings.lease_table,
        environment="old",
        processed_table=args.processed_table,
        markers_table=args.markers_table,
    )
    return KclStyleWorker(config, client("kinesis"), client("dynamodb"))


def _said(problem: Exception) -> str:
    if isinstance(problem, ClientError):
        error = problem.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(problem).__name__}: {problem}"


def _write_status(path: Path, status: dict) -> None:
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps({**status, "updated_at": time.time()}))
    partial.replace(path)


# ---------------------------------------------------------------------- start and stop
def start(args: argparse.Namespace, settings: InstanceSettings) -> int:
    process = instance_process(args.state_dir, settings.application, args.instance)
    if process.alive():
        print(
            f"the read-across instance of {settings.application} is running (pid {process.pid()})"
        )
        return 0
    status = status_file(process)
    status.unlink(missing_ok=True)
    argv = [sys.executable, "-m", MODULE, "run", *_passed_on(args)]
    pid = process.start(argv, env=dict(os.environ), lifetime_seconds=args.lifetime)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        seen = _read_status(status)
        if seen.get("passes", 0) >= 1:
            print(f"{args.instance} instance of {settings.application} running (pid {pid})")
            return 0
        if seen.get("error") or not process.alive():
            process.stop(grace=5)
            print(
                f"the {args.instance} instance of {settings.application} could not read: "
                f"{seen.get('error') or 'it exited (see ' + str(process.log_file) + ')'}",
                file=sys.stderr,
            )
            return 1
        time.sleep(0.2)
    process.stop(grace=5)
    print(
        f"the {args.instance} instance of {settings.application} read nothing within "
        f"{START_TIMEOUT_SECONDS:.0f} s; stopped (see {process.log_file})",
        file=sys.stderr,
    )
    return 1


def stop(args: argparse.Namespace, application: str) -> int:
    pid = instance_process(args.state_dir, application, args.instance).stop(grace=15)
    print(
        f"{args.instance} instance of {application} stopped (pid {pid})"
        if pid
        else f"the {args.instance} instance of {application} is not running"
    )
    return 0


def _read_status(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _passed_on(args: argparse.Namespace) -> list[str]:
    return [
        "--endpoint",
        args.endpoint,
        "--state-dir",
        str(args.state_dir),
        "--processed-table",
        args.processed_table,
        "--markers-table",
        args.markers_table,
        "--interval",
        str(args.interval),
        "--instance",
        args.instance,
        *[
            part
            for name, value in _settings_given(args).items()
            if value
            for part in (f"--{name.lower().replace('_', '-')}", value)
        ],
    ]


def _settings_given(args: argparse.Namespace) -> dict[str, str | None]:
    return {
        "APPLICATION": args.application,
        "STREAM_ARNS": args.stream_arns,
        "REGION": args.region,
        "ROLE_ARN": args.role_arn,
        "LEASE_TABLE": args.lease_table,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m {MODULE}",
        description="The sandbox's KCL read-across instance (settings in TURNOUT_READ_ACROSS_*).",
        epilog=f"Example: python -m {MODULE} start --endpoint http://127.0.0.1:5000 "
        "--state-dir .work/sandbox/kcl --processed-table p --markers-table m",
    )
    parser.add_argument("action", choices=("start", "run", "stop"))
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--endpoint", help="the emulator's URL (loopback)")
    parser.add_argument("--processed-table")
    parser.add_argument("--markers-table")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between two reads")
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME_SECONDS)
    parser.add_argument(
        "--instance",
        default="read-across",
        help="which instance of the application: read-across (default), or e.g. main for the "
        "application itself on the old streams (its pause and resume commands)",
    )
    for name in ("application", "stream-arns", "region", "role-arn", "lease-table"):
        parser.add_argument(f"--{name}", help=f"instead of TURNOUT_READ_ACROSS_{name.upper()}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.action == "stop":
        application = args.application or os.environ.get(PREFIX + "APPLICATION")
        if not application:
            print(f"error: {PREFIX}APPLICATION not set (or pass --application)", file=sys.stderr)
            return 2
        return stop(args, application)
    try:
        settings = InstanceSettings.from_environment(dict(os.environ), _settings_given(args))
    except InstanceError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    for needed in ("endpoint", "processed_table", "markers_table"):
        if not getattr(args, needed):
            parser.error(f"--{needed.replace('_', '-')} is required to {args.action}")
    if not args.endpoint.startswith(("http://127.0.0.1:", "http://localhost:")):
        parser.error("--endpoint must be the local emulator on loopback, with a port")
    if args.action == "start":
        return start(args, settings)
    http_headers.install()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    return run(args, settings, stopping)


if __name__ == "__main__":
    sys.exit(main())
