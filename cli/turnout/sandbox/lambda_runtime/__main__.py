"""``python -m turnout.sandbox.lambda_runtime --endpoint URL --accounts A,B --regions R --state-dir DIR``"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from turnout.sandbox import http_headers
from turnout.sandbox.emulator.profile import FAST, FidelityProfile

from .log import JsonFormatter, log_event
from .runtime import LocalLambdaRuntime

PID_FILE = "lambda-runtime.pid"


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def main(argv: list[str] | None = None) -> int:
    http_headers.install()
    parser = argparse.ArgumentParser(prog="python -m turnout.sandbox.lambda_runtime")
    parser.add_argument("--endpoint", required=True, help="the emulator's URL (loopback)")
    parser.add_argument("--accounts", required=True, type=_csv)
    parser.add_argument("--regions", required=True, type=_csv)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--pid-file", type=Path, help=f"default: STATE_DIR/{PID_FILE}")
    parser.add_argument("--log-file", type=Path, help="default: stderr")
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--refresh-interval", type=float, default=5.0)
    parser.add_argument("--retry-backoff", type=float, default=1.0)
    parser.add_argument("--max-retry-backoff", type=float, default=30.0)
    parser.add_argument("--stop-grace", type=float, default=10.0)
    parser.add_argument(
        "--metrics-interval",
        type=float,
        default=5.0,
        help="seconds between PutMetricData calls of the AWS/Lambda metrics",
    )
    parser.add_argument(
        "--profile-file",
        type=Path,
        help="the emulator's fidelity profile (JSON): its clock and mapping semantics; "
        "default: fast",
    )
    args = parser.parse_args(argv)

    handler: logging.Handler = (
        logging.FileHandler(args.log_file) if args.log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("turnout.sandbox.lambda_runtime")
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    args.state_dir.mkdir(parents=True, exist_ok=True)
    pid_file: Path = args.pid_file or args.state_dir / PID_FILE
    runtime = LocalLambdaRuntime(
        args.endpoint,
        args.accounts,
        args.regions,
        args.state_dir,
        poll_interval=args.poll_interval,
        refresh_interval=args.refresh_interval,
        retry_backoff=args.retry_backoff,
        max_retry_backoff=args.max_retry_backoff,
        stop_grace=args.stop_grace,
        metrics_interval=args.metrics_interval,
        profile=FidelityProfile.read(args.profile_file) if args.profile_file else FAST,
    )
    stop = threading.Event()

    def _signal(signum: int, frame: Any) -> None:
        log_event("signal", signal=signum)
        stop.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        runtime.start_in_thread()
        while not stop.wait(0.5):
            pass
        runtime.stop()
    finally:
        with contextlib.suppress(FileNotFoundError):
            if pid_file.read_text().strip() == str(os.getpid()):
                pid_file.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
