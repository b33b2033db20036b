"""What differs between a run on AWS and a run on the local emulator, and nothing else.

AWS: clients from the current credentials through each environment's deploy role, the producer
through its own role, no endpoint; Lambda runs the functions. The emulator: started here with
the spec's two accounts, clients through it, the producer's role in a third account, and the
local Lambda runtime (as a background process) to run the consumers and the replicators.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from turnout.aws.access import AwsAccess
from turnout.sandbox.e2e.settings import E2eSettings
from turnout.sandbox.processes import BackgroundProcess
from turnout.spec.model import MigrationSpec

PRODUCER_CLIENT_CONFIG = Config(
    retries={"total_max_attempts": 1}, connect_timeout=3, read_timeout=10, max_pool_connections=8
)
RUNTIME_MODULE = "turnout.sandbox.lambda_runtime"


class AwsPlace:
    """Real AWS: nothing to start; credentials come from the environment (profile, SSO, ...)."""

    endpoint_url: str | None = None

    def __init__(self, settings: E2eSettings) -> None:
        self.settings = settings

    def start(self, work_dir: Path, progress) -> None:
        progress(f"running on {self.settings.describe()}")

    def attach(self, work_dir: Path) -> None:
        """A kept run: nothing runs locally."""

    def access(self, spec: MigrationSpec) -> AwsAccess:
        return AwsAccess(spec)

    def producer_session(self) -> boto3.Session:
        """The producer's role, assumed from the current credentials."""
        credentials = boto3.client("sts", region_name=self.settings.region).assume_role(
            RoleArn=self.settings.producer_role_arn, RoleSessionName="turnout-e2e-producer"
        )["Credentials"]
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=self.settings.region,
        )

    def after_pipeline(self, spec: MigrationSpec, progress) -> None:
        """AWS runs the Lambda functions itself."""

    def stop(self, progress) -> None:
        """Nothing was started here."""


@dataclass
class EmulatorPlace:
    """The local emulator (moto server on loopback) and the local Lambda runtime."""

    settings: E2eSettings
    emulator: Any = None
    runtime: BackgroundProcess | None = None
    _work_dir: Path = field(default=Path("."))

    @property
    def endpoint_url(self) -> str:
        return self.emulator.endpoint_url

    def start(self, work_dir: Path, progress) -> None:
        from turnout.sandbox.emulator.launcher import Emulator

        self._work_dir = work_dir
        self.emulator = Emulator(
            work_dir / "emulator",
            old_account_id=self.settings.old_account,
            new_account_id=self.settings.new_account,
            region=self.settings.region,
        ).start()
        progress(f"running on {self.settings.describe()} at {self.emulator.endpoint_url}")

    def attach(self, work_dir: Path) -> None:
        """A kept run: its emulator and runtime, still running from the run."""
        from turnout.sandbox.emulator.launcher import Emulator

        self._work_dir = work_dir
        self.emulator = Emulator.attach_work_dir(work_dir / "emulator")
        self.runtime = BackgroundProcess("runtime", work_dir / "runtime", RUNTIME_MODULE)

    def access(self, spec: MigrationSpec) -> AwsAccess:
        return AwsAccess.for_emulator(spec, self.emulator)

    def producer_session(self) -> boto3.Session:
        """The producer's role in the third account: moto serves it from that account."""
        from turnout.aws.endpoint import assume_role_credentials, session_from_credentials

        credentials = assume_role_credentials(
            self.emulator.endpoint_url,
            self.settings.producer_role_arn,
            "turnout-e2e-producer",
            self.settings.region,
        )
        return session_from_credentials(credentials, self.settings.region)

    def after_pipeline(self, spec: MigrationSpec, progress) -> None:
        directory = self._work_dir / "runtime"
        self.runtime = BackgroundProcess("runtime", directory, RUNTIME_MODULE)
        argv = [
            sys.executable,
            "-m",
            RUNTIME_MODULE,
            "--endpoint",
            self.emulator.endpoint_url,
            "--accounts",
            f"{self.settings.old_account},{self.settings.new_account}",
            "--regions",
            self.settings.region,
            "--state-dir",
            str(directory),
            "--pid-file",
            str(directory / "lambda-runtime.pid"),
            "--log-file",
            str(directory / "lambda-runtime.jsonl"),
            "--refresh-interval",
            "2.0",
        ]
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        pid = self.runtime.start(argv, env=environment, lifetime_seconds=7200)
        progress(f"local Lambda runtime started (pid {pid}): it runs what AWS Lambda would")

    def stop(self, progress) -> None:
        if self.runtime is not None:
            progress(f"local Lambda runtime stopped (pid {self.runtime.stop(grace=20)})")
        if self.emulator is not None:
            self.emulator.stop()
            progress("emulator stopped")


def place_for(settings: E2eSettings) -> AwsPlace | EmulatorPlace:
    return EmulatorPlace(settings) if settings.emulator else AwsPlace(settings)


def producer_clients(place: AwsPlace | EmulatorPlace, session: boto3.Session):
    """(kinesis_for(account, region), dynamodb client factory) of the producer's identity: one
    identity writes both environments' streams, each by its ARN."""
    clients: dict[tuple[str, str], Any] = {}

    def client(service: str, region: str) -> Any:
        if (service, region) not in clients:
            clients[(service, region)] = session.client(
                service,
                region_name=region,
                endpoint_url=place.endpoint_url,
                config=PRODUCER_CLIENT_CONFIG,
            )
        return clients[(service, region)]

    return (lambda account, region: client("kinesis", region)), client
