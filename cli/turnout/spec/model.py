"""The migration spec: the one reviewed file that declares both environments and the desired phase.

The models only describe and validate; loading (YAML, line numbers, error wording) is in
`spec_loader`, and everything derived from a phase is in `phases`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from turnout.spec.apis import Api, api_problems
from turnout.spec.datastores import DataStore, Decommission, data_store_problems
from turnout.spec.discarding import discarding_settings
from turnout.spec.phases import (
    DIRECTIONS,
    ENVIRONMENTS,
    PHASES,
    Direction,
    Phase,
    direction_for_phase,
)
from turnout.spec.read_across import MODE_HELP, MODES, read_across_problems

SPEC_FORMAT_VERSION = 1

AccountId = Annotated[str, Field(pattern=r"^\d{12}$", description="12-digit AWS account id")]
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$", description="AWS region")]
StreamName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_.-]{1,128}$")]
LogicalName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
ParameterName = Annotated[str, Field(pattern=r"^/[a-zA-Z0-9_.\-/]{1,1010}$")]
RoleArn = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$")
]
ProfileName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@+=,:/-]{1,128}$")]
# S3 bucket naming rules (general purpose buckets):
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
BucketName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
StateKeyPrefix = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$", max_length=200)
]
MonitoredKclApplication = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
# A new on-demand stream has 4 shards' write capacity (4 MB/s, 4,000 records/s) and grows
# from there: https://docs.aws.amazon.com/streams/latest/dev/how-do-i-size-a-stream.html
ON_DEMAND_INITIAL_SHARDS = 4
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
    profile: ProfileName | None = Field(
        default=None,
        description="Named AWS profile whose credentials act in this environment (or assume "
        "deploy_role_arn, when both are given). On AWS one of the two is required.",
    )

    def credentials_declared(self) -> bool:
        return self.deploy_role_arn is not None or self.profile is not None


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
    # How the replicator keeps this stream's per-key order (docs/replicator.md, "Ordering"):
    # strict (first copies in source order) or relaxed (last copies in source order; for
    # idempotent, last-write-wins consumers; a hot key moves at the shard's write limit).
    ordering: Literal["strict", "relaxed"] = "strict"

    @property
    def initial_shards(self) -> int:
        """Its shards when created: the provisioned count, or on-demand's initial 4 (at least)."""
        if self.capacity.mode == "provisioned":
            return self.capacity.shards
        return ON_DEMAND_INITIAL_SHARDS

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


class ReadAcrossMapping(Strict):
    """The settings of an old Lambda consumer's mapping on the new streams (read-across mode):
    they must match how the function handles its batches, i.e. its own mappings' settings
    (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html)."""

    batch_size: Annotated[int, Field(ge=1, le=10000)] = 100
    batching_window_seconds: Annotated[int, Field(ge=0, le=300)] = 0
    # A function that answers batchItemFailures needs it: without it Lambda takes the answer
    # for success and moves past the records the function did not store.
    report_batch_item_failures: bool = False
    bisect_on_error: bool = False


class LambdaConsumer(Strict):
    kind: Literal["lambda"]
    function_name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    streams: Annotated[list[LogicalName], Field(min_length=1)]
    drain_evidence: Literal["metrics", "markers"] = Field(
        default="metrics",
        description="How a drain is proven: CloudWatch metrics, or marker records the consumer acknowledges.",
    )
    execution_role_arn: RoleArn | None = Field(
        default=None,
        description="The function's execution role; required for the old consumers in "
        "replication mode read-across (the new streams' policy lets it read them).",
    )
    read_across_mapping: ReadAcrossMapping = Field(
        default_factory=ReadAcrossMapping,
        description="Read-across mode: the settings of its mappings on the new streams, the "
        "same as its own mappings'.",
    )


class KclReadAcross(Strict):
    """Read-across mode: a second instance of the KCL application that reads the new streams
    from mirrored until the commit or the end of a rollback (docs/read-across.md). turnout runs
    `start_command` and `stop_command` (idempotent, bounded in time) with the instance's
    settings in TURNOUT_READ_ACROSS_* variables; the instance keeps its own lease table, whose
    checkpoints are the drain evidence of the new streams' tail."""

    role_arn: RoleArn = Field(
        description="The role the instance reads with, in the old account; the new streams' "
        "resource policy lets it read."
    )
    lease_table: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_.-]{3,255}$")] = Field(
        description="The instance's own lease table in the old account (not the application's)."
    )
    start_command: Annotated[str, Field(min_length=1)]
    stop_command: Annotated[str, Field(min_length=1)]


class KclConsumer(Strict):
    kind: Literal["kcl"]
    application: Annotated[str, Field(min_length=1, max_length=255)]
    lease_table: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_.-]{3,255}$")]
    streams: Annotated[list[LogicalName], Field(min_length=1)]
    pause_command: str | None = None
    resume_command: str | None = None
    read_across: KclReadAcross | None = Field(
        default=None,
        description="Required for an old KCL consumer in replication mode read-across.",
    )


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
    # How long producers keep a route they read (the producer helper's max_age): a producer writes
    # where the route points at most this long after it changed (docs/producers.md).
    cache_seconds: Annotated[int, Field(ge=1, le=300)] = 5

    @field_validator("parameters")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        duplicates = sorted({name for name in value if value.count(name) > 1})
        if duplicates:
            raise ValueError(f"parameter names must be unique; repeated: {', '.join(duplicates)}")
        return value


# A producer's identity: an IAM role or user (Kinesis resource policies take no wildcard, service
# or federated principal: https://docs.aws.amazon.com/streams/latest/dev/controlling-access.html).
PrincipalArn = Annotated[
    str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[A-Za-z0-9_+=,.@/-]{1,512}$")
]
# Every principal is named in each stream's and the route table's resource policy (at most 20 KB).
MAX_PRODUCER_PRINCIPALS = 100


class Producer(Strict):
    """An identity that writes the streams from wherever it runs, maybe another account."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
    account_id: AccountId
    principal_arns: Annotated[list[PrincipalArn], Field(min_length=1, max_length=20)]
    streams: list[LogicalName] | None = Field(
        default=None, description="The logical streams it writes (default: every stream)."
    )

    @model_validator(mode="after")
    def _principals_of_its_account(self) -> Producer:
        elsewhere = [arn for arn in self.principal_arns if arn.split(":")[4] != self.account_id]
        if elsewhere:
            raise ValueError(
                f"principal_arns must belong to account_id {self.account_id}; "
                f"{', '.join(elsewhere)} belong(s) to another account (declare a producer per account)"
            )
        repeated = sorted(
            {arn for arn in self.principal_arns if self.principal_arns.count(arn) > 1}
        )
        if repeated:
            raise ValueError(f"principal_arns must be unique; repeated: {', '.join(repeated)}")
        return self

    def writes(self, logical: str) -> bool:
        return self.streams is None or logical in self.streams


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
    # copy: the replicator copies the new streams back to the old ones; read-across: the old
    # Lambda consumers read the new streams themselves (docs/read-across.md).
    mode: str = "copy"
    external_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_+=,.@:/-]{2,1224}$")]
    # 2,000: the per-key order rule fills a call with at most one record per key, so a bigger
    # batch (more distinct keys pending at once) means fuller calls (docs/replicator.md).
    batch_size: Annotated[int, Field(ge=1, le=10000)] = 2000
    batching_window_seconds: Annotated[int, Field(ge=0, le=300)] = 1
    parallelization_factor: Annotated[int, Field(ge=1, le=10)] = 1
    retry: Retry = Field(default_factory=Retry)
    starting_position: Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"] = "TRIM_HORIZON"
    starting_position_timestamp: datetime | None = None
    reserved_concurrency: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        default=None,
        description="Concurrency reserved for the replicator; none: it shares the account's "
        "unreserved pool. When set, at least one per shard and parallelization factor.",
    )
    # At least 30: the replicator starts no step it cannot finish, and a cold invocation needs
    # about 25 s of worst cases for one guarded PutRecords call and its ledger update.
    timeout_seconds: Annotated[int, Field(ge=30, le=900)] = 120
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

    @field_validator("mode")
    @classmethod
    def _known_mode(cls, value: str) -> str:
        if value not in MODES:
            raise ValueError(f"{value!r}: {MODE_HELP}")
        return value

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

    @model_validator(mode="after")
    def _never_discards(self) -> Replication:
        problems = discarding_settings(self)
        if problems:
            location, message = problems[0]
            raise FieldProblem(location, message)
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
    plan_after_apply: bool = Field(
        default=True,
        description="After each apply step, plan both environments again and require no "
        "changes (the applied configuration converged; docs/cutover.md). false saves one plan "
        "per environment per apply step and gives up that proof: for runs whose modules and "
        "postures were already proven so, such as repeated rehearsals.",
    )
    planned_window_hours: Annotated[int, Field(ge=1, le=8760)] | None = Field(
        default=None,
        description="The planned time from the switch to the commit, in hours. While it runs, "
        "the streams buffer what a paused consumer has not read: the preflight fails when it "
        "plus retention_margin_hours exceeds a stream's retention_hours (docs/preflight.md).",
    )
    retention_margin_hours: Annotated[int, Field(ge=0, le=8760)] = Field(
        default=6,
        description="Hours of retention kept beyond the planned window: a commit that runs "
        "late, consumers catching up once enabled, a rollback's drain.",
    )
    raise_retention_hours: Annotated[int, Field(ge=24, le=8760)] | None = Field(
        default=None,
        description="The retention, in hours, both environments' streams keep from the switch "
        "(applied before producers are routed to new) until the commit (or rollback) has "
        "finished; then each stream returns to its retention_hours. At least every stream's "
        "retention_hours. Extended retention is billed per shard-hour (docs/spec.md).",
    )


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


class State(Strict):
    """Where Terraform keeps each environment's state (docs/state.md): one S3 object per
    environment, `<key_prefix>/<env>.tfstate`, locked with the S3 lock file beside it; or, for
    experiments only, a local file per environment in the work directory."""

    backend: Literal["s3", "local"] = "s3"
    bucket: BucketName | None = None
    region: Region | None = None
    key_prefix: StateKeyPrefix | None = None
    role_arn: RoleArn | None = Field(
        default=None,
        description="Role assumed (from each environment's credentials) to read and write the "
        "state; none: each environment reaches the bucket with its own credentials.",
    )

    @model_validator(mode="after")
    def _complete_for_its_backend(self) -> State:
        if self.backend == "local":
            given = [
                name
                for name in ("bucket", "region", "key_prefix", "role_arn")
                if getattr(self, name)
            ]
            if given:
                raise FieldProblem(
                    ("state", given[0]),
                    "backend local keeps each environment's state in the work directory and "
                    "takes no bucket, region, key_prefix or role_arn; remove it, or use "
                    "backend s3",
                )
            return self
        for name in ("bucket", "region"):
            if getattr(self, name) is None:
                raise FieldProblem(
                    ("state", name),
                    "required with backend s3 (the default): the bucket that holds the state "
                    "and its region (create the bucket with `turnout state bootstrap`)",
                )
        assert self.bucket is not None
        if ".." in self.bucket or re.fullmatch(r"\d+\.\d+\.\d+\.\d+", self.bucket):
            raise FieldProblem(
                ("state", "bucket"),
                f"{self.bucket!r} is not a valid S3 bucket name (no two adjacent periods, not an "
                "IP address): 3-63 lower-case letters, digits, '.' or '-'",
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
    producers: Annotated[list[Producer], Field(max_length=50)] = Field(default_factory=list)
    data_stores: Annotated[list[DataStore], Field(max_length=100)] = Field(default_factory=list)
    decommission: Decommission = Field(default_factory=Decommission)
    apis: Annotated[list[Api], Field(max_length=50)] = Field(default_factory=list)
    tags: dict[
        Annotated[str, Field(pattern=r"^[A-Za-z0-9_ .:/=+@-]{1,128}$")],
        Annotated[str, Field(max_length=256)],
    ] = Field(default_factory=dict)
    state: State | None = Field(
        default=None,
        description="Where Terraform keeps the state; required on AWS (docs/state.md).",
    )

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
    def _producers_reach_their_streams(self) -> MigrationSpec:
        check_producers(self)
        return self

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
        for location, message in (
            data_store_problems(self.data_stores)
            + api_problems(self.apis)
            + read_across_problems(self)
        ):
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

    @model_validator(mode="after")
    def _raised_retention_covers_every_stream(self) -> MigrationSpec:
        raised = self.cutover.raise_retention_hours
        longest = max(self.streams, key=lambda stream: stream.retention_hours)
        if raised is not None and raised < longest.retention_hours:
            raise FieldProblem(
                ("cutover", "raise_retention_hours"),
                f"{raised} h is less than the {longest.retention_hours} h stream {longest.name} "
                "keeps (its retention_hours): the option raises retention during the cutover "
                f"and never lowers it; set at least {longest.retention_hours} (and at most 8760), "
                "or remove it to keep each stream's own retention",
            )
        return self

    def retention_during_cutover(self, stream: Stream) -> int:
        """A stream's retention from the switch until the commit's end: raised when asked."""
        return max(stream.retention_hours, self.cutover.raise_retention_hours or 0)

    @model_validator(mode="after")
    def _credentials_act_in_their_environment(self) -> MigrationSpec:
        for environment in ENVIRONMENTS:
            place = getattr(self.environments, environment)
            role = place.deploy_role_arn
            if role is not None and role.split(":")[4] != place.account_id:
                raise FieldProblem(
                    ("environments", environment, "deploy_role_arn"),
                    f"{role} is a role in account {role.split(':')[4]}, but the {environment} "
                    f"environment is account {place.account_id}: its deploy role must be a role "
                    f"of that account",
                )
        return self

    @model_validator(mode="after")
    def _reserved_concurrency_covers_every_shard(self) -> MigrationSpec:
        reserved = self.replication.reserved_concurrency
        if reserved is None:
            return self
        factor = self.replication.parallelization_factor
        shards = {stream.name: stream.initial_shards for stream in self.streams}
        needed = sum(shards.values()) * factor
        if reserved < needed:
            listed = ", ".join(
                f"{name} {count}{' (on-demand, at least)' if stream.capacity.mode == 'on_demand' else ''}"
                for stream, (name, count) in zip(self.streams, shards.items(), strict=True)
            )
            raise FieldProblem(
                ("replication", "reserved_concurrency"),
                f"{reserved} is fewer than the replicator's concurrent invocations: Lambda runs "
                f"one per shard and parallelization factor, and its streams have {sum(shards.values())} "
                f"shards ({listed}) x parallelization_factor {factor} = {needed} "
                f"(https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html#kinesis-polling-and-batching); set at least "
                f"{needed}, or remove it so the function shares the account's unreserved pool",
            )
        return self

    def active_direction(self, phase: str | None = None) -> str:
        """The replication direction the reviewed spec asks for in `phase` (default: its own)."""
        if self.replication.enabled_directions == [] or self.replication.mode == "read-across":
            return "none"
        return direction_for_phase(phase or self.phase)


def check_producers(spec: MigrationSpec) -> None:
    """The producers' path (docs/producers.md): declared streams, keys another account may use,
    resource policies within their size, and a quiet window longer than the route cache."""
    declared = {stream.name: index for index, stream in enumerate(spec.streams)}
    names = [producer.name for producer in spec.producers]
    principals = [arn for producer in spec.producers for arn in producer.principal_arns]
    if len(set(names)) < len(names) or len(set(principals)) < len(principals):
        raise FieldProblem(
            ("producers",),
            "producer names and principal ARNs must be unique across producers; repeated: "
            + ", ".join(
                sorted({x for x in names + principals if (names + principals).count(x) > 1})
            ),
        )
    if len(principals) > MAX_PRODUCER_PRINCIPALS:
        raise FieldProblem(
            ("producers",),
            f"{len(principals)} principal ARNs; at most {MAX_PRODUCER_PRINCIPALS} fit the 20 KB "
            "resource policy of each stream and of the route table",
        )
    for index, producer in enumerate(spec.producers):
        unknown = [name for name in producer.streams or [] if name not in declared]
        if unknown:
            raise FieldProblem(
                ("producers", index, "streams"),
                f"writes undeclared stream(s) {', '.join(unknown)}; declared streams: "
                f"{', '.join(sorted(declared))}",
            )
        _keys_admit(spec, producer, declared)
    if spec.cutover.quiet_seconds <= spec.route.cache_seconds:
        raise FieldProblem(
            ("cutover", "quiet_seconds"),
            f"{spec.cutover.quiet_seconds} s is not longer than route.cache_seconds "
            f"({spec.route.cache_seconds} s): a producer may write the old target for that long "
            "after the switch, so the streams could look quiet while it still writes; make "
            "quiet_seconds longer (twice the cache time is a safe margin)",
        )


def _keys_admit(spec: MigrationSpec, producer: Producer, declared: dict[str, int]) -> None:
    """An AWS managed key (alias/aws/kinesis) cannot be used from another account."""
    for environment in ENVIRONMENTS:
        if getattr(spec.environments, environment).account_id == producer.account_id:
            continue
        for name, index in declared.items():
            if producer.writes(name) and spec.streams[index].encryption == "aws_managed":
                raise FieldProblem(
                    ("streams", index, "encryption"),
                    f"is aws_managed, but producer {producer.name} (account "
                    f"{producer.account_id}) writes stream {name} in the {environment} "
                    f"environment's account, and an AWS managed key cannot be used from another "
                    "account; use customer_managed (turnout adds the producer to the key policy) "
                    "or a key ARN whose policy admits the producer",
                )


__all__ = ["DIRECTIONS", "PHASES", "SPEC_FORMAT_VERSION", "MigrationSpec", "Stream"]
