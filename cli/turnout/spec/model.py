"""The migration spec: the one reviewed file that declares both environments and the desired phase.

The models only describe and validate; loading (YAML, line numbers, error wording) is in
`spec_loader`, and everything derived from a phase is in `phases`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from turnout.spec.datastores import DataStore, Decommission, data_store_problems
from turnout.spec.phases import (
    DIRECTIONS,
    ENVIRONMENTS,
    PHASES,
    Direction,
    Phase,
    direction_for_phase,
)

SPEC_FORMAT_VERSION = 1

AccountId = Annotated[str, Field(pattern=r"^\d{12}$", description="12-digit AWS account id")]
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region")]
StreamName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_.-]{1,128}$")]
LogicalName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
ParameterName = Annotated[str, Field(pattern=r"^/[a-zA-Z0-9_.\-/]{1,1010}$")]
RoleArn = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$")
]
MonitoredKclApplication = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
KmsKeyArn = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[a-f0-9-]{36}$")


class FieldProblem(ValueError):
    """A problem found by a whole-spec check, located at a field deeper than the check itself."""

    def __init__(self, location: tuple, message: str):
        super().__init__(message)
        self.location = location


class Strict(BaseModel):
    """Unknown keys are errors: a misspelt key must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Environment(Strict):
    account_id: AccountId
    region: Region
    name_prefix: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{0,32}$")] = ""
    deploy_role_arn: RoleArn | None = None


class Environments(Strict):
    old: Environment
    new: Environment

    @model_validator(mode="after")
    def _distinct(self) -> Environments:
        same_place = (self.old.account_id, self.old.region) == (
            self.new.account_id,
            self.new.region,
        )
        if same_place and self.old.name_prefix == self.new.name_prefix:
            raise ValueError(
                "old and new are the same account and region with the same name_prefix, so their "
                "resources would collide; give them different accounts, regions or name_prefix values"
            )
        return self


class ProvisionedCapacity(Strict):
    mode: Literal["provisioned"]
    shards: Annotated[int, Field(ge=1, le=10000)]


class OnDemandCapacity(Strict):
    mode: Literal["on_demand"]


class Stream(Strict):
    name: LogicalName
    old_name: StreamName | None = None
    new_name: StreamName | None = None
    capacity: Annotated[ProvisionedCapacity | OnDemandCapacity, Field(discriminator="mode")]
    retention_hours: Annotated[int, Field(ge=24, le=8760)] = 24
    encryption: str = "customer_managed"

    @field_validator("encryption")
    @classmethod
    def _encryption(cls, value: str) -> str:
        if value in ("customer_managed", "aws_managed") or KmsKeyArn.match(value):
            return value
        raise ValueError(
            "must be 'customer_managed' (turnout creates a KMS key), 'aws_managed' "
            "(alias/aws/kinesis) or a KMS key ARN (arn:aws:kms:<region>:<account>:key/<uuid>)"
        )

    def name_in(self, environment: str) -> str:
        explicit = self.old_name if environment == "old" else self.new_name
        return explicit or self.name


class LambdaConsumer(Strict):
    kind: Literal["lambda"]
    function_name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    streams: Annotated[list[LogicalName], Field(min_length=1)]
    drain_evidence: Literal["metrics", "markers"] = Field(
        default="metrics",
        description="How a drain is proven: CloudWatch metrics, or marker records the consumer acknowledges.",
    )


class KclConsumer(Strict):
    kind: Literal["kcl"]
    application: Annotated[str, Field(min_length=1, max_length=255)]
    lease_table: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_.-]{3,255}$")]
    streams: Annotated[list[LogicalName], Field(min_length=1)]
    pause_command: str | None = None
    resume_command: str | None = None


class CustomConsumer(Strict):
    kind: Literal["custom"]
    name: Annotated[str, Field(min_length=1, max_length=128)]
    hook: Annotated[str, Field(pattern=r"^[A-Za-z0-9_./-]+[.]py$")]
    args: dict[str, str | int | float | bool] = Field(default_factory=dict)
    streams: Annotated[list[LogicalName], Field(min_length=1)]


Consumer = Annotated[LambdaConsumer | KclConsumer | CustomConsumer, Field(discriminator="kind")]


class Consumers(Strict):
    old: list[Consumer] = Field(default_factory=list)
    new: list[Consumer] = Field(default_factory=list)


class Route(Strict):
    environment: Literal["old", "new"] = "old"
    parameters: Annotated[list[ParameterName], Field(min_length=1, max_length=20)]

    @field_validator("parameters")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        duplicates = sorted({name for name in value if value.count(name) > 1})
        if duplicates:
            raise ValueError(f"parameter names must be unique; repeated: {', '.join(duplicates)}")
        return value


class ControlPlane(Strict):
    environment: Literal["old", "new"] = "old"


class Retry(Strict):
    maximum_attempts: Annotated[int, Field(ge=-1, le=10000)] = -1
    maximum_record_age_seconds: int = -1
    bisect_on_error: bool = True

    @field_validator("maximum_record_age_seconds")
    @classmethod
    def _record_age(cls, value: int) -> int:
        if value == -1 or 60 <= value <= 604800:
            return value
        raise ValueError("must be -1 (until the record expires) or between 60 and 604800 seconds")


class Replication(Strict):
    external_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$")]
    # 2,000: the per-key order rule fills a call with at most one record per key, so a bigger
    # batch (more distinct keys pending at once) means fuller calls (docs/replicator.md).
    batch_size: Annotated[int, Field(ge=1, le=10000)] = 2000
    batching_window_seconds: Annotated[int, Field(ge=0, le=300)] = 1
    parallelization_factor: Annotated[int, Field(ge=1, le=10)] = 1
    retry: Retry = Field(default_factory=Retry)
    starting_position: Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"] = "TRIM_HORIZON"
    starting_position_timestamp: datetime | None = None
    reserved_concurrency: Annotated[int, Field(ge=1, le=1000)] = 10
    timeout_seconds: Annotated[int, Field(ge=10, le=900)] = 120
    memory_mb: Annotated[int, Field(ge=128, le=10240)] = 256
    enhanced_fanout: bool = False
    log_retention_days: Literal[
        1,
        3,
        5,
        7,
        14,
        30,
        60,
        90,
        120,
        150,
        180,
        365,
        400,
        545,
        731,
        1096,
        1827,
        2192,
        2557,
        2922,
        3288,
        3653,
    ] = 365
    enabled_directions: list[Direction] | None = Field(
        default=None,
        description="Override of the phase's replication direction: [] halts replication.",
    )

    @model_validator(mode="after")
    def _timestamp_with_at_timestamp(self) -> Replication:
        if (self.starting_position == "AT_TIMESTAMP") != (
            self.starting_position_timestamp is not None
        ):
            raise ValueError(
                "starting_position_timestamp is required with starting_position AT_TIMESTAMP "
                "and not allowed with TRIM_HORIZON or LATEST"
            )
        return self

    @field_validator("enabled_directions")
    @classmethod
    def _at_most_one_direction(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) > 1:
            raise ValueError(
                "both replication directions are enabled: old_to_new and new_to_old together "
                "would copy every record back to where it came from, forever; enable at most one"
            )
        return value


TransitionName = Literal[
    "baseline->switched",
    "switched->mirrored",
    "mirrored->new-live",
    "new-live->committed",
    "rollback",
    "any",
]


class UserHook(Strict):
    """A hook of the user's, run at a point of a transition."""

    transition: TransitionName
    when: Literal["pre", "post", "error"] = "pre"
    hook: Annotated[
        str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="file hooks/<hook>.py")
    ]
    args: dict[str, str | int | float | bool | list[str]] = Field(default_factory=dict)
    timeout_seconds: Annotated[int, Field(ge=1, le=86400)] = 600
    blocking: bool = True


class Cutover(Strict):
    """Waits and thresholds of the cutover's checks."""

    quiet_seconds: Annotated[int, Field(ge=1, le=3600)] = 30
    unrouted_timeout_seconds: Annotated[int, Field(ge=1, le=86400)] = 900
    drain_timeout_seconds: Annotated[int, Field(ge=1, le=604800)] = 3600
    max_replication_lag_seconds: Annotated[int, Field(ge=1, le=86400)] = 60
    lock_ttl_seconds: Annotated[int, Field(ge=30, le=3600)] = 120


SnsTopicArn = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$")
]


class AlarmTopics(Strict):
    """SNS topics an environment's alarms notify (same region as the environment)."""

    alarm: Annotated[list[SnsTopicArn], Field(max_length=5)] = Field(default_factory=list)
    ok: Annotated[list[SnsTopicArn], Field(max_length=5)] = Field(default_factory=list)


class MonitoringTopics(Strict):
    old: AlarmTopics = Field(default_factory=AlarmTopics)
    new: AlarmTopics = Field(default_factory=AlarmTopics)


class Monitoring(Strict):
    """Thresholds of the CloudWatch alarms (modules/monitoring) and who they notify."""

    period_seconds: Annotated[int, Field(ge=60, le=86400, multiple_of=60)] = 60
    evaluation_periods: Annotated[int, Field(ge=1, le=100)] = 3
    replication_lag_seconds: Annotated[int, Field(ge=1, le=86400)] = 60
    replicator_throttles: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    consumer_iterator_age_seconds: Annotated[int, Field(ge=1, le=604800)] = 300
    notify: MonitoringTopics = Field(default_factory=MonitoringTopics)

    @model_validator(mode="after")
    def _at_most_a_day(self) -> Monitoring:
        if self.period_seconds * self.evaluation_periods > 86400:
            raise FieldProblem(
                ("monitoring", "evaluation_periods"),
                f"{self.evaluation_periods} periods of {self.period_seconds} s exceed one day, "
                "the longest window a CloudWatch alarm evaluates; lower evaluation_periods "
                "or period_seconds",
            )
        return self


class MigrationSpec(Strict):
    version: Literal[1]
    migration: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")]
    phase: Phase
    environments: Environments
    streams: Annotated[list[Stream], Field(min_length=1, max_length=100)]
    consumers: Consumers = Field(default_factory=Consumers)
    route: Route
    control_plane: ControlPlane = Field(default_factory=ControlPlane)
    replication: Replication
    cutover: Cutover = Field(default_factory=Cutover)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    hooks: list[UserHook] = Field(default_factory=list)
    data_stores: Annotated[list[DataStore], Field(max_length=100)] = Field(default_factory=list)
    decommission: Decommission = Field(default_factory=Decommission)
    tags: dict[
        Annotated[str, Field(pattern=r"^[A-Za-z0-9_ .:/=+@-]{1,128}$")],
        Annotated[str, Field(max_length=256)],
    ] = Field(default_factory=dict)

    @field_validator("streams")
    @classmethod
    def _unique_stream_names(cls, streams: list[Stream]) -> list[Stream]:
        for label, names in (
            ("name", [stream.name for stream in streams]),
            ("old_name", [stream.name_in("old") for stream in streams]),
            ("new_name", [stream.name_in("new") for stream in streams]),
        ):
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(
                    f"stream {label} values must be unique; repeated: {', '.join(repeated)}"
                )
        return streams

    @model_validator(mode="after")
    def _cross_references(self) -> MigrationSpec:
        declared = {stream.name for stream in self.streams}
        for environment in ENVIRONMENTS:
            for index, consumer in enumerate(getattr(self.consumers, environment)):
                unknown = [name for name in consumer.streams if name not in declared]
                if unknown:
                    raise FieldProblem(
                        ("consumers", environment, index, "streams"),
                        f"reads undeclared stream(s) {', '.join(unknown)}; declared streams: "
                        f"{', '.join(sorted(declared))}",
                    )
                if consumer.kind == "kcl" and not MonitoredKclApplication.match(
                    consumer.application
                ):
                    raise FieldProblem(
                        ("consumers", environment, index, "application"),
                        "must be 1-200 characters of [A-Za-z0-9_.-]: it names the consumer's "
                        "CloudWatch alarm and the metric namespace KCL publishes to",
                    )
        for environment in ENVIRONMENTS:
            region = getattr(self.environments, environment).region
            topics = getattr(self.monitoring.notify, environment)
            for kind in ("alarm", "ok"):
                for index, arn in enumerate(getattr(topics, kind)):
                    if arn.split(":")[3] != region:
                        raise FieldProblem(
                            ("monitoring", "notify", environment, kind, index),
                            f"{arn} is in region {arn.split(':')[3]}, but CloudWatch alarms "
                            f"notify only SNS topics in their own region, {region} (the "
                            f"{environment} environment's)",
                        )
        for location, message in data_store_problems(self.data_stores):
            raise FieldProblem(location, message)
        enabled = self.replication.enabled_directions
        expected = direction_for_phase(self.phase)
        if enabled and enabled[0] != expected:
            raise FieldProblem(
                ("replication", "enabled_directions"),
                f"{enabled} contradicts phase '{self.phase}', whose "
                f"replication direction is '{expected}'; use [] to halt replication or remove the key",
            )
        return self

    def active_direction(self, phase: str | None = None) -> str:
        """The replication direction the reviewed spec asks for in `phase` (default: its own)."""
        if self.replication.enabled_directions == []:
            return "none"
        return direction_for_phase(phase or self.phase)


__all__ = ["DIRECTIONS", "PHASES", "SPEC_FORMAT_VERSION", "MigrationSpec", "Stream"]
