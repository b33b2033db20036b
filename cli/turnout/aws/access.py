"""boto3 access to the two environments, the same way for AWS and for the local emulator."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from turnout.spec.model import MigrationSpec

CLIENT_CONFIG = Config(
    retries={"max_attempts": 8, "mode": "adaptive"}, connect_timeout=5, read_timeout=30
)


@dataclass
class AwsAccess:
    """Sessions and clients per environment ("old"/"new").

    On AWS: the ambient credentials, or the environment's deploy role when the spec names one.
    On the emulator: credentials moto maps to the environment's account (`emulator.session`).
    """

    spec: MigrationSpec
    endpoint_url: str | None = None
    emulator: Any = None
    _sessions: dict[str, boto3.Session] = field(default_factory=dict)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_emulator(cls, spec: MigrationSpec, emulator: Any) -> AwsAccess:
        return cls(spec=spec, endpoint_url=emulator.endpoint_url, emulator=emulator)

    def account_id(self, environment: str) -> str:
        return getattr(self.spec.environments, environment).account_id

    def region(self, environment: str) -> str:
        return getattr(self.spec.environments, environment).region

    def session(self, environment: str) -> boto3.Session:
        with self._lock:
            if environment not in self._sessions:
                self._sessions[environment] = self._new_session(environment)
            return self._sessions[environment]

    def client(self, environment: str, service: str) -> Any:
        key = (environment, service)
        with self._lock:
            cached = self._clients.get(key)
        if cached is not None:
            return cached
        client = self.session(environment).client(
            service,
            region_name=self.region(environment),
            endpoint_url=self.endpoint_url,
            config=CLIENT_CONFIG,
        )
        with self._lock:
            return self._clients.setdefault(key, client)

    def pooled_client_factory(self, environment: str, pool_size: int) -> Callable[[str], Any]:
        """service -> a client of `environment` whose HTTP connection pool fits `pool_size`
        threads (botocore keeps 10 connections by default and drops the rest with a warning)."""
        config = CLIENT_CONFIG.merge(Config(max_pool_connections=pool_size))
        clients: dict[str, Any] = {}
        lock = threading.Lock()

        def client(service: str) -> Any:
            with lock:
                if service not in clients:
                    clients[service] = self.session(environment).client(
                        service,
                        region_name=self.region(environment),
                        endpoint_url=self.endpoint_url,
                        config=config,
                    )
                return clients[service]

        return client

    def _new_session(self, environment: str) -> boto3.Session:
        region = self.region(environment)
        if self.emulator is not None:
            return self.emulator.session(self.account_id(environment), region)
        role = getattr(self.spec.environments, environment).deploy_role_arn
        if not role:
            return boto3.Session(region_name=region)
        credentials = boto3.client("sts", region_name=region).assume_role(
            RoleArn=role, RoleSessionName=f"turnout-{environment}"
        )["Credentials"]
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name=region,
        )
