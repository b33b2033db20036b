"""The target account: clients made from the writer role's credentials, cached and refreshed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .config import ReplicatorConfig
from .infra import ClientFactory, JsonLogger, call_seconds


def epoch_seconds(value: Any) -> float:
    """STS Expiration: a datetime from boto3, an ISO string from some emulators."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


class TargetAccount:
    """Clients for the target account, made from the writer role's credentials.

    The credentials are cached until ``credential_refresh_margin_seconds`` (at most half their
    lifetime) before they expire, and dropped at once by :meth:`invalidate` when a call says they
    are expired or unknown.
    """

    def __init__(
        self,
        config: ReplicatorConfig,
        sts_client: Any,
        client_factory: ClientFactory,
        clock: Any,
        logger: JsonLogger,
    ) -> None:
        self._config = config
        self._sts = sts_client
        self._factory = client_factory
        self._clock = clock
        self._log = logger
        self._credentials: Mapping[str, Any] | None = None
        self._refresh_at = 0.0
        self._clients: dict[str, Any] = {}
        self.assume_count = 0

    def kinesis(self) -> Any:
        return self._client("kinesis")

    def ssm(self) -> Any:
        return self._client("ssm")

    def refresh_seconds(self, after: float = 0.0) -> float:
        """How long getting a client may take `after` seconds from now: 0 with credentials still
        fresh then, else one AssumeRole (credentials fresh now can turn stale during the guard's
        reads, before the call fetches its client)."""
        stale = self._credentials is None or self._clock.time() + after >= self._refresh_at
        return call_seconds("sts") if stale else 0.0

    def invalidate(self, reason: str) -> None:
        if self._credentials is not None:
            self._log.warning("writer_credentials_dropped", reason=reason)
        self._credentials = None
        self._clients.clear()

    def _client(self, service: str) -> Any:
        if self._credentials is None or self._clock.time() >= self._refresh_at:
            self._assume_role()
        client = self._clients.get(service)
        if client is None:
            client = self._factory(
                service, region_name=self._config.target_region, credentials=self._credentials
            )
            self._clients[service] = client
        return client

    def _assume_role(self) -> None:
        cfg = self._config
        response = self._sts.assume_role(
            RoleArn=cfg.target_role_arn,
            RoleSessionName=cfg.role_session_name,
            ExternalId=cfg.external_id,
            DurationSeconds=cfg.credential_duration_seconds,
        )
        credentials = response["Credentials"]
        now = self._clock.time()
        expires_at = epoch_seconds(credentials["Expiration"])
        margin = min(cfg.credential_refresh_margin_seconds, max(expires_at - now, 0.0) / 2)
        self._credentials = credentials
        self._refresh_at = expires_at - margin
        self._clients.clear()
        self.assume_count += 1
        self._log.info(
            "writer_role_assumed",
            role_arn=cfg.target_role_arn,
            expires_in_s=round(expires_at - now, 1),
        )
