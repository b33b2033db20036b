"""Worker process of the local Lambda runtime: runs one function's handler.

Executed as a script (``python -I worker.py --code-dir DIR --handler mod.func``), with only the
standard library and the interpreter's site-packages (boto3, like AWS's Python runtime) besides
the unpacked function zip, which is first on ``sys.path``.

On AWS a function's clock agrees with the services'. With ``--clock-rate R --clock-origin T``
(a sandbox clock that runs R times faster than this machine's from T) the function's
``time.time()`` and ``time.time_ns()`` read that clock, so what it stamps (log times, EMF
``_aws.Timestamp``, ages such as the replicator's ``ReplicationLagMs``) agrees with the record
arrival times and the metrics it is compared with. ``datetime.now()`` and monotonic time stay on
this machine's clock; the invocation deadline is kept on it too.

Protocol (JSON lines). The host writes one request per line on stdin::

    {"id": "...", "event": {...}, "context": {...}, "deadline_ms": <epoch ms>}

The worker answers on its protocol channel (the original stdout; the function's own ``print``
goes to stderr, i.e. the function log)::

    {"type": "ready"}                                  once, after the handler was imported
    {"type": "init_error", "errorType": ..., "errorMessage": ..., "stackTrace": [...]}
    {"type": "result", "id": "...", "payload": <JSON value>}
    {"type": "error", "id": "...", "errorType": ..., "errorMessage": ..., "stackTrace": [...]}
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

_machine_time = time.time


class LambdaContext:
    """The subset of AWS's Python context object that functions commonly use."""

    def __init__(self, ctx: dict[str, Any], deadline_ms: int) -> None:
        self.function_name: str = ctx.get("function_name", "")
        self.function_version: str = ctx.get("function_version", "$LATEST")
        self.invoked_function_arn: str = ctx.get("invoked_function_arn", "")
        self.memory_limit_in_mb: int = int(ctx.get("memory_limit_in_mb", 128))
        self.aws_request_id: str = ctx.get("aws_request_id", "")
        self.log_group_name: str = ctx.get("log_group_name", "")
        self.log_stream_name: str = ctx.get("log_stream_name", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - _machine_time() * 1000))


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(type(exc), exc, exc.__traceback__),
    }


def run_on_the_sandbox_clock(origin: float, rate: float) -> None:
    """``time.time`` and ``time.time_ns`` read origin + (now - origin) * rate from now on."""
    machine_ns = time.time_ns
    origin_ns = int(origin * 1e9)

    def sandbox_time() -> float:
        return origin + (_machine_time() - origin) * rate

    def sandbox_time_ns() -> int:
        return origin_ns + int((machine_ns() - origin_ns) * rate)

    time.time = sandbox_time
    time.time_ns = sandbox_time_ns


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--code-dir", required=True)
    parser.add_argument("--handler", required=True)
    parser.add_argument("--clock-rate", type=float, default=1.0)
    parser.add_argument("--clock-origin", type=float, default=0.0)
    args = parser.parse_args()
    if args.clock_rate != 1.0:
        run_on_the_sandbox_clock(args.clock_origin, args.clock_rate)

    # The protocol channel is a private copy of stdout; fd 1 becomes stderr so that the
    # function's prints land in its log instead of corrupting the protocol.
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1, encoding="utf-8", closefd=False)

    def send(message: dict[str, Any]) -> None:
        proto.write(json.dumps(message, separators=(",", ":")) + "\n")
        proto.flush()

    sys.path.insert(0, args.code_dir)
    os.chdir(args.code_dir)
    try:
        module_name, func_name = args.handler.rsplit(".", 1)
        module = importlib.import_module(module_name.replace("/", "."))
        handler = getattr(module, func_name)
    except Exception as exc:  # an init error, reported like Runtime.ImportModuleError
        send({"type": "init_error", **_error(exc)})
        return 1
    send({"type": "ready"})

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        context = LambdaContext(request.get("context", {}), int(request["deadline_ms"]))
        try:
            payload = handler(request["event"], context)
            text = json.dumps(
                {"type": "result", "id": request["id"], "payload": payload},
                separators=(",", ":"),
            )
        except Exception as exc:
            send({"type": "error", "id": request["id"], **_error(exc)})
            continue
        proto.write(text + "\n")
        proto.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
