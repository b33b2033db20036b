"""boto3 access to the two environments, the same way for AWS and for the local emulator.

Each environment's session is made once (turnout.aws.credentials): the spec's profile and/or
deploy role, refreshed before its sessions expire, and checked with GetCallerIdentity against
the environment's account before any other call. On AWS the spec must name a role or a profile
for both environments (`require_declared_credentials`); on an emulator an environment without
either acts through the emulator's own role in its account.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from turnout.aws.client_config import CLIENT_CONFIG
from turnout.aws.credentials import (
    CredentialsError,
    credential_problem,
    refreshing_role_session,
    session_with,
    source_session,
    verify_account,
)
from turnout.aws.endpoint import BASE_CREDENTIALS
from turnout.errors import SpecError
from turnout.spec.model import MigrationSpec


def require_declared_credentials(spec: MigrationSpec) -> None:
    """On AWS, each environment names its own credentials: two environments on the same ambient
    credentials could read the wrong account without noticing (stream names may be equal)."""
    missing = [
        environment
        for environment in ("old", "new")
        if not getattr(spec.environments, environment).credentials_declared()
    ]
    if missing:
        fields = " and ".join(
            f"environments.{env}.deploy_role_arn or environments.{env}.profile" for env in missing
        )
        raise SpecError(
            f"the spec gives no credentials for the {' and '.join(missing)} environment"
            f"{'s' if len(missing) > 1 else ''}: on AWS each environment needs its own, so set "
            f"{fields} (a role of that environment's account to assume, or a named AWS profile "
            f"acting there). Nothing was changed."
        )


@dataclass
class AwsAccess:
    """Sessions and clients per environment ("old"/"new").

    On AWS: the environment's profile and/or deploy role (required). On an emulator
    (`endpoint_url` with `emulator`, anything with `session(account_id, region)`): the same when
    the spec names them, otherwise the emulator's own session in the environment's account.
    """

    spec: MigrationSpec
    endpoint_url: str | None = None
    emulator: Any = None
    # False for review-only work with read-only credentials (`turnout plan --read-only`): the
    # credentials at hand act as they are, no deploy role is assumed (the account check stays).
    assume_roles: bool = True
    _sessions: dict[str, boto3.Session] = field(default_factory=dict)
    _callers: dict[str, str] = field(default_factory=dict)  # environment -> verified caller ARN
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def for_emulator(cls, spec: MigrationSpec, emulator: Any) -> AwsAccess:
        return cls(spec=spec, endpoint_url=emulator.endpoint_url, emulator=emulator)

    def clock(self) -> float:
        """Now on the services' clock, the one Kinesis stamps ApproximateArrivalTimestamp with:
        this machine's on AWS (within its sync; readers allow CLOCK_MARGIN_SECONDS), an
        emulator's own when it keeps one (the sandbox's, which a rehearsal accelerates)."""
        own = getattr(self.emulator, "clock", None)
        return own() if callable(own) else time.time()

    def account_id(self, environment: str) -> str:
        return getattr(self.spec.environments, environment).account_id

    def region(self, environment: str) -> str:
        return getattr(self.spec.environments, environment).region

    def session(self, environment: str) -> boto3.Session:
        """The environment's session, made and verified (GetCallerIdentity) on first use."""
        with self._lock:
            if environment not in self._sessions:
                self._sessions[environment] = self._verified_session(environment)
            return self._sessions[environment]

    def caller(self, environment: str) -> str:
        """The ARN GetCallerIdentity named for the environment's session (made on first use)."""
        self.session(environment)
        return self._callers.get(environment, "")

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

    def describe(self, environment: str) -> str:
        """The environment's credentials in the spec's words, for messages."""
        place = getattr(self.spec.environments, environment)
        parts = []
        if place.profile:
            parts.append(f"profile '{place.profile}' (environments.{environment}.profile)")
        if place.deploy_role_arn:
            parts.append(
                f"role {place.deploy_role_arn} (environments.{environment}.deploy_role_arn)"
            )
        if not self.assume_roles:
            parts = ["the credentials at hand (--read-only: no role is assumed)"]
        if not parts:
            parts.append("the emulator's role in its account")
        return f"the {environment} environment, {' assumed from '.join(reversed(parts))}"

    def role_session(self, environment: str, role_arn: str, purpose: str) -> boto3.Session:
        """A refreshing session in `role_arn` (e.g. the state role), assumed from the
        environment's source credentials (its profile, or the default chain; the emulator's
        base keys), and checked to act in the role's account."""
        region = self.region(environment)
        who = f"role {role_arn} ({purpose}), assumed from {self.describe(environment)}"
        try:
            session = refreshing_role_session(
                self._source(environment),
                role_arn,
                f"turnout-{environment}-{purpose.split()[0]}",
                region,
                self.endpoint_url,
            )
        except (BotoCoreError, ClientError) as problem:
            raise CredentialsError(credential_problem(problem, who)) from None
        verify_account(session, who, role_arn.split(":")[4], {}, self.endpoint_url)
        return session

    def _verified_session(self, environment: str) -> boto3.Session:
        if self.emulator is None:
            require_declared_credentials(self.spec)
        who = self.describe(environment)
        try:
            session = self._new_session(environment)
        except (BotoCoreError, ClientError) as problem:  # no credentials, expired, refused ...
            raise CredentialsError(credential_problem(problem, who)) from None
        others = {
            self.account_id(other): f"the {other} environment's account"
            for other in ("old", "new")
            if other != environment and self.account_id(other) != self.account_id(environment)
        }
        self._callers[environment] = verify_account(
            session, who, self.account_id(environment), others, self.endpoint_url
        )
        return session

    def _new_session(self, environment: str) -> boto3.Session:
        place = getattr(self.spec.environments, environment)
        if self.emulator is not None and not place.credentials_declared():
            return self.emulator.session(place.account_id, place.region)
        source = self._source(environment)
        if place.deploy_role_arn is None or not self.assume_roles:
            return source
        return refreshing_role_session(
            source, place.deploy_role_arn, f"turnout-{environment}", place.region, self.endpoint_url
        )

    def _source(self, environment: str) -> boto3.Session:
        """The credentials roles are assumed from: the profile, the default chain, or on an
        emulator (without a profile) its base keys, as any client there has. A read-only run
        (no roles assumed) uses the credentials at hand, not the spec's profile."""
        place = getattr(self.spec.environments, environment)
        if place.profile is not None and self.assume_roles:
            return source_session(place.profile, place.region)
        if self.emulator is not None:
            return session_with(Credentials(*BASE_CREDENTIALS), place.region)
        return source_session(None, place.region)


def service_clock(aws: Any) -> Callable[[], float]:
    """`aws.clock` for an AwsAccess; this machine's clock for the stand-ins of unit tests."""
    return getattr(aws, "clock", time.time)
