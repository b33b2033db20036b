"""The sandbox's small HTTP API, one per environment, on loopback.

Run as ``python -m turnout.sandbox.api_server --environment new --port-file F [--port N]
[--unhealthy]``: binds 127.0.0.1 on a free port, or on port N (written to the port file once
listening) and answers
``GET /health`` with 200 (503 with ``--unhealthy``: an endpoint whose health check never turns
healthy) and any other GET with ``{"environment": ...}``, so a caller sees which environment's
endpoint Route 53 chose. `SandboxApi` starts it as a background process with a bounded lifetime
and stops it by PID.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from turnout.sandbox.processes import BackgroundProcess, pid_alive

MODULE = "turnout.sandbox.api_server"


def handler_for(environment: str, healthy: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/health"):
                status = 200 if healthy else 503
                body = {"healthy": healthy}
            else:
                status, body = 200, {"environment": environment}
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args) -> None:
            return

    return Handler


@dataclass(frozen=True)
class SandboxApi:
    """One environment's API process: ``<directory>/api-<environment>.{pid,log,port}``."""

    environment: str
    directory: Path

    @property
    def process(self) -> BackgroundProcess:
        return BackgroundProcess(f"api-{self.environment}", self.directory, MODULE)

    @property
    def port_file(self) -> Path:
        return self.directory / f"api-{self.environment}.port"

    def start(
        self, python: str, lifetime_seconds: float, healthy: bool = True, port: int = 0
    ) -> int:
        """Start it (bounded lifetime) and return its port once it listens; ``port`` 0: a free
        one."""
        self.port_file.unlink(missing_ok=True)
        argv = [python, "-m", MODULE, "--environment", self.environment, "--port", str(port)]
        argv += ["--port-file", str(self.port_file)] + ([] if healthy else ["--unhealthy"])
        pid = self.process.start(argv, lifetime_seconds=lifetime_seconds)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.port_file.is_file() and self.port_file.read_text().strip():
                return int(self.port_file.read_text())
            if not pid_alive(pid):  # not alive(): before exec its command line is not yet ours
                break
            time.sleep(0.05)
        self.process.stop()
        raise RuntimeError(
            f"the sandbox API of the {self.environment} environment did not start within 30 s; "
            f"see {self.process.log_file}"
        )

    def stop(self) -> int | None:
        return self.process.stop(grace=5.0)

    def recorded_port(self) -> int | None:
        """The port it listens (or last listened) on, from its port file."""
        try:
            return int(self.port_file.read_text())
        except (OSError, ValueError):
            return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__.split("\n\n")[0])
    parser.add_argument("--environment", required=True, choices=("old", "new"))
    parser.add_argument("--port-file", required=True, type=Path)
    parser.add_argument("--port", type=int, default=0, help="0 (default): a free port")
    parser.add_argument("--unhealthy", action="store_true")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port), handler_for(args.environment, not args.unhealthy)
    )
    partial = args.port_file.with_name(args.port_file.name + ".partial")
    partial.write_text(str(server.server_address[1]))
    partial.replace(args.port_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
