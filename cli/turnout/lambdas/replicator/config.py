"""The replicator's configuration: the function's environment variables and the tunables."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigurationError

DIRECTIONS = ("old_to_new", "new_to_old")
ORDERINGS = ("strict", "relaxed")
DEFAULT_METRIC_NAMESPACE = "Turnout/Replication"
DEFAULT_MAX_REQUEST_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_RECORD_BYTES = 1024 * 1024
MAX_RECORDS_PER_CALL = 500
# Per-shard write limits of a Kinesis data stream (provisioned and on-demand alike):
# https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html
SHARD_RECORDS_PER_SECOND = 1000
SHARD_BYTES_PER_SECOND = 1024 * 1024


@dataclass(frozen=True)
class StreamRoute:
    """Where one source stream goes and with which order rule."""

    target: str
    ordering: str = "strict"  # strict | relaxed (docs/replicator.md, "Ordering")

    @property
    def relaxed(self) -> bool:
        return self.ordering == "relaxed"


def stream_route(source: str, value: Any) -> StreamRoute:
    """A TURNOUT_STREAM_MAP value: a target name (strict order) or {"target", "ordering"}."""
    if isinstance(value, StreamRoute):
        return value
    if isinstance(value, str) and value:
        return StreamRoute(value)
    if isinstance(value, Mapping) and set(value) <= {"target", "ordering"}:
        target, ordering = value.get("target"), value.get("ordering", "strict")
        if isinstance(target, str) and target and ordering in ORDERINGS:
            return StreamRoute(target, ordering)
    raise ConfigurationError(
        f"TURNOUT_STREAM_MAP[{source!r}] must be a target stream name or an object "
        f'{{"target": <name>, "ordering": "strict" | "relaxed"}}, got {value!r}'
    )


@dataclass(frozen=True)
class ReplicatorConfig:
    """Everything the replicator needs; the first block comes from the environment."""

    direction: str
    direction_parameter: str
    target_role_arn: str
    external_id: str
    target_region: str
    stream_map: Mapping[str, Any]  # source name -> StreamRoute (a plain name is accepted)
    ledger_table: str
    metric_namespace: str = DEFAULT_METRIC_NAMESPACE
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    # Tunables (constructor only).
    backoff_step_seconds: float = 0.004  # additive step, times the failed fraction of a call
    backoff_call_seconds: float = 0.05  # first delay after a whole call failed
    backoff_cap_seconds: float = 2.0
    prefix_window: int = MAX_RECORDS_PER_CALL  # records past the first unwritten one
    shard_records_per_second: int = SHARD_RECORDS_PER_SECOND
    shard_bytes_per_second: int = SHARD_BYTES_PER_SECOND
    shard_map_max_age_seconds: float = 300.0
    direction_cache_seconds: float = 5.0
    credential_duration_seconds: int = 3600
    credential_refresh_margin_seconds: float = 300.0
    role_session_name: str = "turnout-replicator"
    default_remaining_ms: int = 60_000
    routes: Mapping[str, StreamRoute] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ConfigurationError(
                f"TURNOUT_DIRECTION must be one of {DIRECTIONS}, got {self.direction!r}"
            )
        if not self.stream_map:
            raise ConfigurationError("TURNOUT_STREAM_MAP maps no stream")
        if self.max_record_bytes <= 0:
            raise ConfigurationError("TURNOUT_MAX_RECORD_BYTES must be positive")
        if self.direction_cache_seconds > 5.0:
            raise ConfigurationError("the direction parameters may be cached 5 s at most")
        if self.prefix_window < 1:
            raise ConfigurationError("prefix_window must be at least 1")
        routes = {source: stream_route(source, value) for source, value in self.stream_map.items()}
        object.__setattr__(self, "routes", routes)

    def route(self, source_stream: str) -> StreamRoute | None:
        return self.routes.get(source_stream)

    @property
    def max_request_bytes(self) -> int:
        """PutRecords request limit (data + partition keys of all entries).

        5 MiB for standard streams; a stream whose maximum record size was raised above that
        must at least accept one maximal record per call.
        """
        return max(DEFAULT_MAX_REQUEST_BYTES, self.max_record_bytes)

    @classmethod
    def from_environment(cls, env: Mapping[str, str], **tunables: Any) -> ReplicatorConfig:
        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigurationError(f"environment variable {name} is not set")
            return value

        try:
            stream_map = json.loads(required("TURNOUT_STREAM_MAP"))
        except ValueError as exc:
            raise ConfigurationError(f"TURNOUT_STREAM_MAP is not JSON: {exc}") from exc
        if not isinstance(stream_map, dict) or not all(isinstance(k, str) for k in stream_map):
            raise ConfigurationError("TURNOUT_STREAM_MAP must be a JSON object keyed by names")
        try:
            max_record_bytes = int(env.get("TURNOUT_MAX_RECORD_BYTES") or DEFAULT_MAX_RECORD_BYTES)
        except ValueError as exc:
            raise ConfigurationError("TURNOUT_MAX_RECORD_BYTES must be an integer") from exc
        return cls(
            direction=required("TURNOUT_DIRECTION"),
            direction_parameter=required("TURNOUT_DIRECTION_PARAMETER"),
            target_role_arn=required("TURNOUT_TARGET_ROLE_ARN"),
            external_id=required("TURNOUT_EXTERNAL_ID"),
            target_region=required("TURNOUT_TARGET_REGION"),
            stream_map=stream_map,
            ledger_table=required("TURNOUT_LEDGER_TABLE"),
            metric_namespace=env.get("TURNOUT_METRIC_NAMESPACE") or DEFAULT_METRIC_NAMESPACE,
            max_record_bytes=max_record_bytes,
            **tunables,
        )
