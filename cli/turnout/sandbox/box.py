"""The sandbox: the whole system on one machine.

`up` starts the local AWS emulator on loopback (its PID recorded under the work dir) with the
spec's two account ids; for a spec with `apis:`, the sample HTTP API of each environment on a
free loopback port and the APIs' hosted zones (the health checks Terraform makes probe the new
API's port, which the sandbox puts into the spec it runs: `as_run`); then it plans and applies
both environments with real Terraform, creates the sample pipeline ("the user's existing
system": consumer tables, functions and event source mappings, made with boto3), and starts the
local Lambda runtime and the synthetic producer as background processes (PIDs under the work
dir). `status` reads what exists and the traffic figures; `report` says what was produced,
processed, lost, duplicated and reordered; `down` stops the producer, the runtime, the APIs and
the emulator, by PID, in that order.

The sandbox keeps both environments' Terraform state in the emulator's S3, exactly as on AWS: the
state bucket is bootstrapped there (`turnout state bootstrap`'s code) and every plan and apply
goes through the S3 backend and its lock file; no state file is written under the work dir. A
spec that chooses local state gets the emulator's S3 all the same in the sandbox.
Layout of the work dir: emulator/, terraform/ (Terraform's data directories and saved plans),
tfvars/, apis/ (the sample APIs' pid, log and port files), runtime/ (the Lambda runtime's
state, pid and logs), traffic/ (the producer's pid, log, events.ndjson and status),
sandbox.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from turnout import deploy
from turnout.aws.access import AwsAccess
from turnout.deploy.package import build_replicator_package
from turnout.deploy.render import render_environments
from turnout.deploy.state_bootstrap import bootstrap_state_bucket
from turnout.engine.factory import assemble_engine
from turnout.engine.runner import CutoverEngine
from turnout.errors import EmulatorError, TurnoutError
from turnout.inventory import environment_inventory
from turnout.project import Project
from turnout.sandbox.emulator.launcher import Emulator
from turnout.sandbox.emulator.profile import FidelityProfile
from turnout.sandbox.names import processed_table_name
from turnout.sandbox.pipeline.apis import (
    create_api_zones,
    recorded_ports,
    sandbox_apis,
    start_apis,
    stop_apis,
    with_sandbox_ports,
)
from turnout.sandbox.pipeline.create import consumer_mappings, create_pipeline
from turnout.sandbox.pipeline.datastores import create_data_stores
from turnout.sandbox.processes import BackgroundProcess, descendants
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec
from turnout.spec.phases import ENVIRONMENTS

Progress = Callable[[str], None]

DEFAULT_RATE = 200.0
PRODUCER_MODULE = "turnout.sandbox.pipeline.producer"
RUNTIME_MODULE = "turnout.sandbox.lambda_runtime"
STATE_FILE = "sandbox.json"
CLIENT_ENDPOINT_FILE = "client-endpoint.json"


@dataclass
class Sandbox:
    project: Project
    # The local Lambda runtime's pace (AWS polls a shard about once a second).
    runtime_poll_interval: float = 1.0
    runtime_refresh_interval: float = 2.0
    runtime_retry_backoff: float = 0.5
    runtime_max_retry_backoff: float = 10.0
    runtime_stop_grace: float = 10.0
    producer_stop_grace: float = 10.0
    # The fidelity profile of a newly started emulator (and its runtime): "aws" (default, or
    # $TURNOUT_SANDBOX_PROFILE), "fast", or a FidelityProfile. A running emulator keeps its own.
    profile: FidelityProfile | str | None = None
    _started_emulator: Emulator | None = field(default=None, init=False, repr=False)

    @property
    def work_dir(self):
        return self.project.work_dir / "sandbox"

    @property
    def terraform_project(self) -> Project:
        return Project(self.project.root, self.project.spec_path, self.work_dir / "terraform")

    @property
    def emulator_dir(self):
        return self.work_dir / "emulator"

    @property
    def runtime_dir(self) -> Path:
        return self.work_dir / "runtime"

    @property
    def api_dir(self) -> Path:
        """The sample APIs' pid, log and port files (one API per environment)."""
        return self.work_dir / "apis"

    @property
    def traffic_dir(self) -> Path:
        return self.work_dir / "traffic"

    @property
    def events_log(self) -> Path:
        """The producer's NDJSON log of accepted events (the report's ground truth)."""
        return self.traffic_dir / "events.ndjson"

    @property
    def producer_status_file(self) -> Path:
        return self.traffic_dir / "events.status.json"

    @property
    def producer(self) -> BackgroundProcess:
        return BackgroundProcess("producer", self.traffic_dir, PRODUCER_MODULE)

    @property
    def runtime(self) -> BackgroundProcess:
        return BackgroundProcess("runtime", self.runtime_dir, RUNTIME_MODULE)

    def spec(self) -> MigrationSpec:
        return self.as_run(load_spec(self.project.spec_path))

    def as_run(self, spec: MigrationSpec) -> MigrationSpec:
        """`spec` as this sandbox runs it: state in the emulator's S3, and every API's health
        check probing the sandbox's new API on its loopback port (chosen at `up`)."""
        return with_sandbox_ports(sandbox_spec(spec), recorded_ports(self.api_dir))

    # ------------------------------------------------------------------ client endpoint
    @property
    def client_endpoint_file(self) -> Path:
        return self.work_dir / CLIENT_ENDPOINT_FILE

    def route_clients_through(self, endpoint_url: str | None) -> None:
        """Point the clients started from now on (producer, runtime and its functions, the CLI's
        engine) at ``endpoint_url`` (a loopback proxy in front of the emulator; see
        turnout.sandbox.chaos.proxy) instead of the emulator itself; None: straight to the emulator."""
        if endpoint_url is None:
            with contextlib.suppress(FileNotFoundError):
                self.client_endpoint_file.unlink()
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.client_endpoint_file.write_text(json.dumps({"endpoint_url": endpoint_url}) + "\n")

    def client_endpoint_url(self, emulator: Emulator) -> str:
        try:
            return json.loads(self.client_endpoint_file.read_text())["endpoint_url"]
        except (OSError, ValueError, KeyError):
            return emulator.endpoint_url

    def client_emulator(self) -> Emulator | None:
        """The running emulator as the clients reach it (through the recorded client endpoint).
        Whether it runs is checked on the emulator itself, so a proxy outage does not hide it."""
        emulator = self._running_emulator()
        if emulator is None:
            return None
        url = urlsplit(self.client_endpoint_url(emulator))
        if url.port == emulator.port or url.hostname is None or url.port is None:
            return emulator
        proxied = Emulator(
            self.emulator_dir,
            old_account_id=emulator.old_account_id,
            new_account_id=emulator.new_account_id,
            region=emulator.region,
            host=url.hostname,
            port=url.port,
        )
        proxied._pid = emulator.pid
        proxied.profile = emulator.profile
        return proxied

    def require_client_emulator(self) -> Emulator:
        """`client_emulator()`, or a clear error when the sandbox is not running."""
        emulator = self.client_emulator()
        if emulator is None:
            raise EmulatorError(
                "the sandbox is not running; start it with `turnout sandbox up` (or `make demo`)."
            )
        return emulator

    def aws(self, emulator: Emulator | None = None) -> AwsAccess:
        """boto3 access to both environments of the running sandbox."""
        emulator = emulator or self.require_emulator()
        return AwsAccess.for_emulator(self.spec(), emulator)

    def client_aws(self, spec: MigrationSpec | None = None) -> AwsAccess:
        """AWS access as the sandbox's clients have it (through a chaos proxy when one is
        recorded), or a clear error when the sandbox is not running."""
        return AwsAccess.for_emulator(spec or self.spec(), self.require_client_emulator())

    def engine(self, progress: Progress, spec: MigrationSpec | None = None) -> CutoverEngine:
        """A cutover engine on the running sandbox: Terraform into its own state, AWS calls to
        the emulator as the clients reach it."""
        spec = self.as_run(spec) if spec is not None else self.spec()
        emulator = self.require_client_emulator()
        return assemble_engine(
            spec,
            AwsAccess.for_emulator(spec, emulator),
            self.terraform_project,
            self.project.root / "hooks",
            progress,
            endpoint_url=emulator.endpoint_url,
            work_dir=self.work_dir,
        )

    def up(
        self,
        progress: Progress = print,
        rate: float = DEFAULT_RATE,
        lifetime_seconds: float | None = None,
    ) -> dict:
        """Emulator, both environments (Terraform), the sample pipeline, the Lambda runtime and
        the producer (``rate`` events/s; 0 = no traffic). Idempotent: what runs is reused.

        ``lifetime_seconds`` bounds the runtime and the producer (SIGTERM at the end)."""
        spec = self.spec()
        emulator = self._running_emulator()
        if emulator is None:
            self._forget_pipeline()
            progress("starting the local AWS emulator on 127.0.0.1 ...")
            emulator = Emulator(
                self.emulator_dir,
                old_account_id=spec.environments.old.account_id,
                new_account_id=spec.environments.new.account_id,
                region=spec.environments.old.region,
                profile=self.profile,
            ).start()
            self._started_emulator = emulator  # its child handle: stop() can reap it
            progress(
                f"emulator up at {emulator.endpoint_url} (pid {emulator.pid}, "
                f"fidelity profile {emulator.profile.name})"
            )
        else:
            progress(
                f"reusing the running emulator at {emulator.endpoint_url} (pid {emulator.pid})"
            )
        if self._pipeline_state(emulator) is None:
            spec = self._ensure_apis(spec, emulator, progress, lifetime_seconds)
            self._apply_environments(spec, emulator, progress)
            progress("creating the sample pipeline (the user's existing consumers) ...")
            create_pipeline(spec, AwsAccess.for_emulator(spec, emulator), progress)
            create_data_stores(spec, AwsAccess.for_emulator(spec, emulator), progress)
            self._write_state({"emulator_pid": emulator.pid, "pipeline_created_at": time.time()})
        else:
            progress("both environments and the sample pipeline are already in place.")
            self._ensure_apis(spec, emulator, progress, lifetime_seconds)
        self._ensure_runtime(spec, emulator, progress, lifetime_seconds)
        if rate > 0:
            self.start_traffic(rate, progress=progress, lifetime_seconds=lifetime_seconds)
        return self.status(emulator)

    def _apply_environments(
        self, spec: MigrationSpec, emulator: Emulator, progress: Progress
    ) -> None:
        vars_dir = self.work_dir / "tfvars"
        vars_dir.mkdir(parents=True, exist_ok=True)
        package = build_replicator_package()
        rendered = render_environments(
            spec, self.project.terraform_dir, output_dir=vars_dir, package=package
        )
        for rendered_file in rendered:
            rendered_file.write()
        aws = AwsAccess.for_emulator(spec, emulator)
        bootstrap_state_bucket(spec, aws, progress)

        def apply(rendered_file) -> None:
            environment = rendered_file.environment
            summary = deploy.plan_and_apply(
                self.terraform_project,
                environment,
                aws_endpoint_url=emulator.endpoint_url,
                var_file=rendered_file.path,
                package=package,
                aws=aws,
                spec=spec,
            )
            progress(f"[{environment}] {summary.text().splitlines()[0]} Applied.")

        # The two environments have separate states and accounts (and the writer roles' trust
        # needs no ordering, docs/architecture.md): apply them side by side.
        progress("terraform plan + apply of both environments, side by side ...")
        with ThreadPoolExecutor(max_workers=len(rendered)) as pool:
            for future in [pool.submit(apply, rendered_file) for rendered_file in rendered]:
                future.result()

    def _ensure_apis(
        self,
        spec: MigrationSpec,
        emulator: Emulator,
        progress: Progress,
        lifetime_seconds: float | None,
    ) -> MigrationSpec:
        """The sample APIs running and their hosted zones made, before Terraform renders the
        health checks' port; returns the spec with that port (unchanged without `apis:`)."""
        if not spec.apis:
            return spec
        start_apis(self.api_dir, sys.executable, lifetime_seconds, progress)
        spec = self.spec()
        create_api_zones(spec, AwsAccess.for_emulator(spec, emulator), progress)
        return spec

    # ------------------------------------------------------------------ processes
    def _child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _ensure_runtime(
        self,
        spec: MigrationSpec,
        emulator: Emulator,
        progress: Progress,
        lifetime_seconds: float | None,
    ) -> None:
        pid = self.runtime.pid()
        if pid is not None:
            progress(f"the local Lambda runtime is running (pid {pid}).")
            return
        regions = sorted({getattr(spec.environments, env).region for env in ENVIRONMENTS})
        argv = [
            sys.executable,
            "-m",
            RUNTIME_MODULE,
            "--endpoint",
            self.client_endpoint_url(emulator),
            "--accounts",
            ",".join(emulator.account_ids[env] for env in ENVIRONMENTS),
            "--regions",
            ",".join(regions),
            "--state-dir",
            str(self.runtime_dir),
            "--pid-file",
            str(self.runtime_dir / "lambda-runtime.pid"),
            "--log-file",
            str(self.runtime_dir / "lambda-runtime.jsonl"),
            "--poll-interval",
            str(self.runtime_poll_interval),
            "--refresh-interval",
            str(self.runtime_refresh_interval),
            "--retry-backoff",
            str(self.runtime_retry_backoff),
            "--max-retry-backoff",
            str(self.runtime_max_retry_backoff),
            "--stop-grace",
            str(self.runtime_stop_grace),
            "--profile-file",
            str(emulator.profile_file),
        ]
        pid = self.runtime.start(argv, env=self._child_env(), lifetime_seconds=lifetime_seconds)
        progress(f"local Lambda runtime started (pid {pid}; log {self.runtime.log_file}).")

    def kill_runtime(self) -> int | None:
        """SIGKILL the local Lambda runtime and every process under it (its function workers),
        as a crash of the host would end them; returns the PID killed."""
        pid = self.runtime.pid()
        if pid is None:
            return None
        # The function workers run in sessions of their own: named, then killed with the rest.
        victims = [pid, *descendants(pid)]
        for victim in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.runtime.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        return pid

    def restart_runtime(
        self, progress: Progress = print, lifetime_seconds: float | None = None
    ) -> int | None:
        """Start the local Lambda runtime again if it is not running; returns its PID."""
        self._ensure_runtime(self.spec(), self.require_emulator(), progress, lifetime_seconds)
        return self.runtime.pid()

    def start_traffic(
        self,
        rate: float = DEFAULT_RATE,
        progress: Progress = print,
        lifetime_seconds: float | None = None,
        keys: int = 1000,
    ) -> int:
        """Start the producer (if it is not running); returns its PID."""
        pid = self.producer.pid()
        if pid is not None:
            progress(f"the producer is running (pid {pid}).")
            return pid
        emulator = self.require_emulator()
        spec = self.spec()
        route_env = getattr(spec.environments, spec.route.environment)
        argv = [
            sys.executable,
            "-m",
            PRODUCER_MODULE,
            "--endpoint",
            self.client_endpoint_url(emulator),
            "--route-account",
            route_env.account_id,
            "--region",
            route_env.region,
            "--route-parameter",
            spec.route.parameters[0],
            "--route-interval",
            str(spec.route.cache_seconds),
            "--log",
            str(self.events_log),
            "--status-file",
            str(self.producer_status_file),
            "--rate",
            str(rate),
            "--keys",
            str(keys),
            "--stop-grace",
            str(self.producer_stop_grace),
        ]
        if lifetime_seconds is not None:
            argv += ["--max-seconds", str(lifetime_seconds)]
        self.traffic_dir.mkdir(parents=True, exist_ok=True)
        previous = self.producer_status() or {}
        pid = self.producer.start(argv, env=self._child_env())
        self._wait_producer_running(pid, previous.get("updated_at"))
        progress(
            f"producer started (pid {pid}): {rate:g} events/s over {keys} keys, following "
            f"{spec.route.parameters[0]}; accepted events in {self.events_log}"
        )
        return pid

    def _wait_producer_running(self, pid: int, previous_update: float | None) -> None:
        """Until the new producer wrote its first status; fail with its log if it died."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status = self.producer_status() or {}
            if status.get("pid") == pid and status.get("updated_at") != previous_update:
                return
            if not self.producer.alive():
                try:
                    tail = "\n".join(self.producer.log_file.read_text().splitlines()[-20:])
                except OSError:
                    tail = "(no log)"
                raise TurnoutError(
                    f"the producer (pid {pid}) exited at start-up "
                    f"({self.producer.how_it_ended(pid)}); the end of "
                    f"{self.producer.log_file}:\n{tail or '(empty)'}"
                )
            time.sleep(0.1)

    def stop_traffic(self, progress: Progress = print) -> int | None:
        """Stop the producer (it sends what is pending first); returns the PID stopped."""
        pid = self.producer.stop(grace=self.producer_stop_grace + 10)
        progress(f"producer stopped (pid {pid})." if pid else "the producer is not running.")
        return pid

    def producer_status(self) -> dict | None:
        try:
            return json.loads(self.producer_status_file.read_text())
        except (OSError, ValueError):
            return None

    # ------------------------------------------------------------------ report
    def report(
        self, new_required: bool | None = None, old_reads_new_until: float | None = None
    ) -> dict:
        """The traffic report (turnout.sandbox.pipeline.report.build_report) of the running sandbox."""
        from turnout.sandbox.pipeline.report import build_report

        emulator = self.require_emulator()
        spec = self.spec()
        return build_report(
            spec,
            AwsAccess.for_emulator(spec, emulator),
            self.events_log,
            new_required=new_required,
            producer_status=self.producer_status(),
            old_reads_new_until=old_reads_new_until,
        )

    def wait_for_report(
        self,
        timeout: float = 60.0,
        new_required: bool | None = None,
        old_reads_new_until: float | None = None,
        progress: Progress | None = None,
        **options,
    ) -> dict:
        """Report until nothing is lost (or ``timeout``); returns the last. A report is built
        once the processed tables stop growing, or 15 s after the last one while they grow
        (``pipeline.report.wait_for_report``; ``progress`` hears their counts meanwhile).
        ``old_reads_new_until``: replication mode read-across (``compute_report``)."""
        from turnout.sandbox.pipeline.report import processed_counts, wait_for_report

        spec = self.spec()
        aws = self.aws()

        def marker() -> dict[str, int]:
            counts = processed_counts(spec, aws)
            if progress:
                progress(
                    f"waiting for consumers to settle: processed old {counts['old']:,}, "
                    f"new {counts['new']:,}"
                )
            return counts

        return wait_for_report(
            lambda: self.report(new_required, old_reads_new_until),
            timeout=timeout,
            progress_marker=marker,
            **options,
        )

    def drift(self, progress: Progress = print) -> dict[str, bool]:
        """Plan both environments again: True where the live sandbox differs from its vars."""
        emulator = self._running_emulator()
        if emulator is None:
            raise EmulatorError("the sandbox is not running; start it with `turnout sandbox up`.")
        changed = {}
        spec = self.spec()
        aws = AwsAccess.for_emulator(spec, emulator)
        for environment in ENVIRONMENTS:
            progress(f"terraform plan (drift check): {environment} environment ...")
            result = deploy.plan(
                self.terraform_project,
                environment,
                aws_endpoint_url=emulator.endpoint_url,
                var_file=self.work_dir / "tfvars" / f"{environment}.tfvars.json",
                aws=aws,
                spec=spec,
            )
            changed[environment] = result.summary.has_changes
            progress(result.summary.text())
        return changed

    def status(self, emulator: Emulator | None = None) -> dict:
        emulator = emulator or self._running_emulator()
        processes = self._process_status()
        if emulator is None:
            return {"running": False, "processes": processes}
        spec = self.spec()
        aws = AwsAccess.for_emulator(spec, emulator)
        return {
            "running": True,
            "endpoint_url": emulator.endpoint_url,
            "pid": emulator.pid,
            "processes": processes,
            "environments": {
                environment: environment_inventory(
                    spec,
                    environment,
                    emulator.session(getattr(spec.environments, environment).account_id),
                    emulator.endpoint_url,
                )
                for environment in ENVIRONMENTS
            },
            "traffic": self._traffic_status(spec, aws),
        }

    def _process_status(self) -> dict:
        return {
            "producer": {"pid": self.producer.pid(), "alive": self.producer.alive()},
            "runtime": {"pid": self.runtime.pid(), "alive": self.runtime.alive()},
            **{
                f"api-{environment}": {"pid": api.process.pid(), "alive": api.process.alive()}
                for environment, api in sandbox_apis(self.api_dir).items()
            },
        }

    def _traffic_status(self, spec: MigrationSpec, aws: AwsAccess) -> dict:
        producer = self.producer_status() or {}
        traffic: dict = {
            "route_environment": producer.get("route_environment"),
            "produced": producer.get("accepted", {}),
            "produced_total": producer.get("accepted_total", 0),
            "rate_recent": producer.get("rate_recent"),
            "pending": producer.get("pending"),
            "producer_state": producer.get("state"),
            "processed": {},
            "consumers": {},
        }
        for environment in ENVIRONMENTS:
            ddb = aws.client(environment, "dynamodb")
            try:
                table = ddb.describe_table(TableName=processed_table_name(spec, environment))
                traffic["processed"][environment] = table["Table"]["ItemCount"]
            except Exception:
                traffic["processed"][environment] = None
            try:
                states = sorted({m["state"] for m in consumer_mappings(spec, aws, environment)})
            except Exception:
                states = []
            traffic["consumers"][environment] = "/".join(states) or "none"
        return traffic

    def down(self, progress: Progress = print) -> dict[str, int | None]:
        """Stop the producer, the runtime, the sample APIs and the emulator, by PID, in that
        order."""
        stopped: dict[str, int | None] = {}
        for name, process, grace in (
            ("producer", self.producer, self.producer_stop_grace + 10),
            ("runtime", self.runtime, self.runtime_stop_grace + 10),
        ):
            pid = process.pid()
            if pid is not None:
                progress(f"stopping the {name} (pid {pid}) ...")
            stopped[name] = process.stop(grace=grace)
        for environment, pid in stop_apis(self.api_dir).items():
            stopped[f"api-{environment}"] = pid
            if pid is not None:
                progress(f"stopped the {environment} environment's API (pid {pid}).")
        emulator = self._running_emulator()
        if emulator is None:
            progress("the emulator is not running.")
            stopped["emulator"] = None
        else:
            progress(f"stopping the emulator (pid {emulator.pid}) ...")
            stopped["emulator"] = emulator.pid
            emulator.stop()
        self._started_emulator = None
        # The emulator's data lives only in its memory: the sandbox's state goes with it (the
        # producer's log stays for a look afterwards, until the next `up`).
        shutil.rmtree(self.work_dir / "terraform", ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (self.work_dir / STATE_FILE).unlink()
        self.route_clients_through(None)
        progress("sandbox stopped.")
        return stopped

    # ------------------------------------------------------------------ state
    def _pipeline_state(self, emulator: Emulator) -> dict | None:
        """The recorded pipeline, if it was created in this very emulator."""
        try:
            state = json.loads((self.work_dir / STATE_FILE).read_text())
        except (OSError, ValueError):
            return None
        return state if state.get("emulator_pid") == emulator.pid else None

    def _write_state(self, state: dict) -> None:
        path = self.work_dir / STATE_FILE
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
        os.replace(partial, path)

    def _forget_pipeline(self) -> None:
        """A new emulator starts empty: old checkpoints, traffic logs and state mean nothing."""
        for process in (self.producer, self.runtime):  # left behind by a crashed emulator
            process.stop(grace=10.0)
        stop_apis(self.api_dir)
        shutil.rmtree(self.api_dir, ignore_errors=True)
        shutil.rmtree(self.runtime_dir, ignore_errors=True)
        shutil.rmtree(self.traffic_dir, ignore_errors=True)
        shutil.rmtree(self.work_dir / "terraform", ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            (self.work_dir / STATE_FILE).unlink()
        self.route_clients_through(None)

    def require_emulator(self) -> Emulator:
        emulator = self._running_emulator()
        if emulator is None:
            raise EmulatorError("the sandbox is not running; start it with `turnout sandbox up`.")
        return emulator

    def _running_emulator(self) -> Emulator | None:
        started = self._started_emulator
        if started is not None and started.is_running():
            return started
        if not (self.emulator_dir / "emulator.json").is_file():
            return None
        try:
            emulator = Emulator.attach_work_dir(self.emulator_dir)
        except (EmulatorError, TurnoutError, RuntimeError):
            return None
        return emulator if emulator.is_running() else None


def sandbox_spec(spec: MigrationSpec) -> MigrationSpec:
    """The spec as the sandbox runs it: state in the emulator's S3 even when the spec chooses
    local state for its own experiments (every sandbox run exercises remote state)."""
    if spec.state is not None and spec.state.backend == "local":
        return spec.model_copy(update={"state": None})
    return spec
