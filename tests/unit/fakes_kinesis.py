"""In-memory AWS fakes for the replicator's unit tests (fault injection).

One ``FakeAws`` holds both accounts: STS (issues expiring credentials), SSM
(the active-direction parameter per account), the target account's Kinesis
streams, the source account's DynamoDB ledger and CloudWatch. Its
``client_factory`` has the signature the replicator expects. Time is a
``FakeClock``: sleeps and call latency advance it, so backoff and deadlines
are exercised without waiting.

The fake Kinesis enforces the PutRecords limits (500 entries, request bytes,
record bytes) and only appends successful entries, in request order, so the
order a real stream would hold is what the tests check.
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

EPOCH = 1_700_000_000.0
SOURCE_ACCOUNT = "111111111111"
TARGET_ACCOUNT = "222222222222"
SOURCE_STREAM = "clicks"
TARGET_STREAM = "clicks-new"
SHARD_ID = "shardId-000000000007"
PARAMETER = "/turnout/clickstream/active-direction"
ROLE_ARN = f"arn:aws:iam::{TARGET_ACCOUNT}:role/turnout-writer-from-old"
EXTERNAL_ID = "ext-123"
DIRECTION = "old_to_new"
MIB = 1024 * 1024


def client_error(code: str, operation: str = "PutRecords", status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


class FakeClock:
    def __init__(self, start: float = EPOCH) -> None:
        self.start = start
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.start + self.elapsed

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.elapsed += seconds

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds


class FakeContext:
    """Lambda context whose remaining time follows the fake clock."""

    def __init__(self, clock: FakeClock, budget_ms: int = 60_000, request_id: str = "req") -> None:
        self._clock = clock
        self._deadline = clock.monotonic() + budget_ms / 1000.0
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self._deadline - self._clock.monotonic()) * 1000)


# ---------------------------------------------------------------- source side


@dataclass
class SourceRecord:
    index: int
    sequence_number: str
    partition_key: str
    data: bytes
    arrival: float

    def event_record(self, stream: str = SOURCE_STREAM, shard: str = SHARD_ID) -> dict:
        return {
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": self.partition_key,
                "sequenceNumber": self.sequence_number,
                "data": base64.b64encode(self.data).decode("ascii"),
                "approximateArrivalTimestamp": self.arrival,
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": f"{shard}:{self.sequence_number}",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": f"arn:aws:iam::{SOURCE_ACCOUNT}:role/replicator",
            "awsRegion": "eu-west-1",
            "eventSourceARN": f"arn:aws:kinesis:eu-west-1:{SOURCE_ACCOUNT}:stream/{stream}",
        }


def make_shard(
    count: int,
    keys: int,
    *,
    seed: int = 1,
    payload_bytes: int = 64,
    first_sequence: int = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136,
    arrival_start: float = EPOCH - 30.0,
) -> list[SourceRecord]:
    """Records of one shard in sequence order; payloads are unique (they embed the index)."""
    rng = random.Random(seed)
    records = []
    for index in range(count):
        key = f"key-{rng.randrange(keys)}"
        head = f"#{index}#".encode()
        body = rng.randbytes(max(0, payload_bytes - len(head)))
        records.append(
            SourceRecord(
                index=index,
                sequence_number=str(first_sequence + index * 1_000_003),
                partition_key=key,
                data=head + body,
                arrival=arrival_start + index * 0.001,
            )
        )
    return records


def make_event(records: Iterable[SourceRecord], stream: str = SOURCE_STREAM) -> dict:
    return {"Records": [r.event_record(stream) for r in records]}


# ---------------------------------------------------------------- the fake AWS


@dataclass
class Written:
    partition_key: str
    data: bytes
    call: int


@dataclass
class FakeAws:
    clock: FakeClock
    seed: int = 7
    params: dict[str, dict[str, str]] = field(
        default_factory=lambda: {"source": {PARAMETER: DIRECTION}, "target": {PARAMETER: DIRECTION}}
    )
    param_errors: dict[str, str | None] = field(
        default_factory=lambda: {"source": None, "target": None}
    )
    streams: dict[str, list[Written]] = field(default_factory=lambda: {TARGET_STREAM: []})
    max_record_bytes: int = MIB
    max_request_bytes: int = 5 * MIB
    # fault injection
    entry_failure_rate: float = 0.0
    entry_failure_codes: tuple[str, ...] = (
        "ProvisionedThroughputExceededException",
        "InternalFailure",
    )
    call_fault: Callable[[int], Exception | None] | None = None
    call_latency: float = 0.0
    session_seconds_cap: int = 3600
    sts_error: str | None = None
    ledger_error: str | None = None
    metrics_error: str | None = None
    # observations
    put_calls: list[list[str]] = field(default_factory=list)  # partition keys per call
    call_attempts: int = 0
    sts_calls: int = 0
    param_reads: dict[str, int] = field(default_factory=lambda: {"source": 0, "target": 0})
    credential_errors: int = 0
    entry_failures: int = 0
    ledger: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    metric_calls: list[dict] = field(default_factory=list)
    # credentials: access key -> expiry epoch; revoked keys
    issued: dict[str, float] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    # -- factory with the replicator's signature
    def client_factory(
        self, service: str, region_name: str | None = None, credentials: dict | None = None
    ) -> Any:
        if service == "sts":
            return FakeSts(self)
        if service == "ssm":
            return FakeSsm(self, "target" if credentials else "source", credentials)
        if service == "kinesis":
            return FakeKinesis(self, credentials)
        if service == "dynamodb":
            return FakeDynamoDb(self)
        if service == "cloudwatch":
            return FakeCloudWatch(self)
        raise AssertionError(f"unexpected service {service}")

    # -- helpers
    def check_credentials(self, credentials: dict | None, operation: str) -> None:
        if credentials is None:
            raise client_error("AccessDeniedException", operation)
        key = credentials["AccessKeyId"]
        if key in self.revoked or self.clock.time() >= self.issued.get(key, 0.0):
            self.credential_errors += 1
            raise client_error("ExpiredTokenException", operation)

    def revoke_all(self) -> None:
        self.revoked.update(self.issued)

    def target(self, stream: str = TARGET_STREAM) -> list[Written]:
        return self.streams[stream]

    def metric_sum(self, name: str) -> float:
        return sum(
            datum["Value"]
            for call in self.metric_calls
            for datum in call["MetricData"]
            if datum["MetricName"] == name
        )


class FakeSts:
    def __init__(self, aws: FakeAws) -> None:
        self.aws = aws

    def assume_role(self, RoleArn: str, RoleSessionName: str, ExternalId: str, **kw: Any) -> dict:
        aws = self.aws
        aws.sts_calls += 1
        if aws.sts_error:
            raise client_error(aws.sts_error, "AssumeRole", 403)
        if RoleArn != ROLE_ARN or ExternalId != EXTERNAL_ID:
            raise client_error("AccessDenied", "AssumeRole", 403)
        seconds = min(int(kw.get("DurationSeconds", 3600)), aws.session_seconds_cap)
        key = f"ASIA{aws.sts_calls:012d}"
        expires = aws.clock.time() + seconds
        aws.issued[key] = expires
        return {
            "Credentials": {
                "AccessKeyId": key,
                "SecretAccessKey": "secret-" + key,
                "SessionToken": "token-" + key,
                "Expiration": datetime.fromtimestamp(expires, UTC),
            }
        }


class FakeSsm:
    def __init__(self, aws: FakeAws, account: str, credentials: dict | None) -> None:
        self.aws = aws
        self.account = account
        self.credentials = credentials

    def get_parameter(self, Name: str) -> dict:
        aws = self.aws
        aws.param_reads[self.account] += 1
        if self.account == "target":
            aws.check_credentials(self.credentials, "GetParameter")
        if aws.param_errors[self.account]:
            raise client_error(aws.param_errors[self.account], "GetParameter")
        value = aws.params[self.account].get(Name)
        if value is None:
            raise client_error("ParameterNotFound", "GetParameter")
        return {"Parameter": {"Name": Name, "Value": value, "Type": "String"}}


class FakeKinesis:
    def __init__(self, aws: FakeAws, credentials: dict | None) -> None:
        self.aws = aws
        self.credentials = credentials

    def put_records(self, StreamName: str, Records: list[dict]) -> dict:
        aws = self.aws
        aws.call_attempts += 1
        aws.clock.advance(aws.call_latency)
        aws.check_credentials(self.credentials, "PutRecords")
        if aws.call_fault is not None:
            fault = aws.call_fault(aws.call_attempts)
            if fault is not None:
                raise fault
        if StreamName not in aws.streams:
            raise client_error("ResourceNotFoundException")
        if not 1 <= len(Records) <= 500:
            raise client_error("ValidationException")
        total = 0
        for entry in Records:
            size = len(entry["Data"]) + len(entry["PartitionKey"].encode())
            if size > aws.max_record_bytes:
                raise client_error("ValidationException")
            total += size
        if total > aws.max_request_bytes:
            raise client_error("InvalidArgumentException")
        stream = aws.streams[StreamName]
        call_number = len(aws.put_calls)
        aws.put_calls.append([entry["PartitionKey"] for entry in Records])
        results = []
        failed = 0
        for entry in Records:
            if aws.entry_failure_rate and aws.rng.random() < aws.entry_failure_rate:
                failed += 1
                aws.entry_failures += 1
                code = aws.rng.choice(aws.entry_failure_codes)
                results.append({"ErrorCode": code, "ErrorMessage": "injected"})
            else:
                stream.append(Written(entry["PartitionKey"], bytes(entry["Data"]), call_number))
                results.append({"SequenceNumber": str(len(stream)), "ShardId": "shardId-0"})
        return {"FailedRecordCount": failed, "Records": results}


class FakeDynamoDb:
    """Just enough UpdateItem for the ledger: SET/ADD and the OR-of-two condition."""

    def __init__(self, aws: FakeAws) -> None:
        self.aws = aws

    def update_item(self, **kw: Any) -> dict:
        aws = self.aws
        if aws.ledger_error:
            raise client_error(aws.ledger_error, "UpdateItem", 500)
        names = kw.get("ExpressionAttributeNames", {})
        values = kw["ExpressionAttributeValues"]
        key = kw["Key"]["shard_key"]["S"]
        item = aws.ledger.get(key, {"shard_key": {"S": key}})
        if not _condition_holds(kw["ConditionExpression"], item, names, values):
            raise client_error("ConditionalCheckFailedException", "UpdateItem")
        item = dict(item)
        set_part, add_part = kw["UpdateExpression"].split(" ADD ")
        for assignment in set_part.removeprefix("SET ").split(","):
            name, value = (part.strip() for part in assignment.split("="))
            item[names.get(name, name)] = values[value]
        for addition in add_part.split(","):
            name, value = addition.split()
            attribute = names.get(name, name)
            old = int(item.get(attribute, {"N": "0"})["N"])
            item[attribute] = {"N": str(old + int(values[value]["N"]))}
        aws.ledger[key] = item
        return {}


def _condition_holds(expression: str, item: dict, names: dict, values: dict) -> bool:
    for term in expression.split(" OR "):
        term = term.strip()
        match = re.fullmatch(r"attribute_not_exists\((\S+)\)", term)
        if match:
            if names.get(match[1], match[1]) not in item:
                return True
            continue
        match = re.fullmatch(r"(\S+) < (\S+)", term)
        assert match, f"unsupported condition {term!r}"
        attribute = names.get(match[1], match[1])
        if attribute in item and item[attribute]["S"] < values[match[2]]["S"]:
            return True
    return False


class FakeCloudWatch:
    def __init__(self, aws: FakeAws) -> None:
        self.aws = aws

    def put_metric_data(self, Namespace: str, MetricData: list[dict]) -> dict:
        if self.aws.metrics_error:
            raise client_error(self.aws.metrics_error, "PutMetricData", 500)
        self.aws.metric_calls.append({"Namespace": Namespace, "MetricData": MetricData})
        return {}


# ---------------------------------------------------------------- ESM simulation


@dataclass
class EsmRun:
    outcomes: list = field(default_factory=list)
    invocations: int = 0
    checkpoint: int = 0  # index of the next record Lambda will deliver


def run_esm(
    process: Callable[[dict, Any], Any],
    records: list[SourceRecord],
    *,
    batch_size: int,
    context_factory: Callable[[], Any],
    max_invocations: int = 1000,
) -> EsmRun:
    """Lambda's checkpoint semantics with ReportBatchItemFailures.

    Deliver ``records[checkpoint:checkpoint+batch_size]``; on
    ``batchItemFailures`` checkpoint just before the lowest failed sequence
    number and deliver again from there; on success move past the batch.
    ``process`` returns a BatchOutcome (its ``response()`` is what Lambda sees).
    """
    run = EsmRun()
    by_sequence = {r.sequence_number: r.index for r in records}
    while run.checkpoint < len(records):
        if run.invocations >= max_invocations:
            raise AssertionError(f"no progress after {max_invocations} invocations")
        batch = records[run.checkpoint : run.checkpoint + batch_size]
        outcome = process(make_event(batch), context_factory())
        run.invocations += 1
        run.outcomes.append(outcome)
        failures = outcome.response()["batchItemFailures"]
        if failures:
            lowest = min(by_sequence[f["itemIdentifier"]] for f in failures)
            assert run.checkpoint <= lowest < run.checkpoint + len(batch)
            run.checkpoint = lowest
        else:
            run.checkpoint += len(batch)
    return run


# ---------------------------------------------------------------- checks


@dataclass
class DeliveryReport:
    written: int
    distinct: int
    duplicates: int


def check_delivery(
    written: list[Written], records: list[SourceRecord], *, complete: bool = True
) -> DeliveryReport:
    """Bytes and keys intact; per key, no record lands before all its predecessors.

    Every write of a record must come after at least one write of every
    earlier record of the same key (a re-sent duplicate is fine, a gap is not).
    With ``complete``, every source record must be in the target.
    """
    by_payload = {r.data: r for r in records}
    rank: dict[int, int] = {}
    per_key_count: dict[str, int] = {}
    for r in records:
        rank[r.index] = per_key_count.get(r.partition_key, 0)
        per_key_count[r.partition_key] = rank[r.index] + 1
    written_prefix: dict[str, int] = {}
    seen: set[int] = set()
    for position, w in enumerate(written):
        source = by_payload.get(w.data)
        assert source is not None, f"target record {position} matches no source payload"
        assert w.partition_key == source.partition_key, "partition key changed"
        r = rank[source.index]
        prefix = written_prefix.get(w.partition_key, 0)
        assert r <= prefix, (
            f"order broken for {w.partition_key}: record #{source.index} (rank {r}) "
            f"written while only {prefix} earlier records of the key were"
        )
        if r == prefix:
            written_prefix[w.partition_key] = prefix + 1
        seen.add(source.index)
    if complete:
        missing = [r.index for r in records if r.index not in seen]
        assert not missing, f"{len(missing)} records lost, first {missing[:5]}"
    return DeliveryReport(
        written=len(written), distinct=len(seen), duplicates=len(written) - len(seen)
    )


# ---------------------------------------------------------------- wiring


def make_config(**tunables: Any) -> Any:
    from turnout.lambdas.replicator import ReplicatorConfig

    fields = {
        "direction": DIRECTION,
        "direction_parameter": PARAMETER,
        "target_role_arn": ROLE_ARN,
        "external_id": EXTERNAL_ID,
        "target_region": "eu-central-1",
        "stream_map": {SOURCE_STREAM: TARGET_STREAM},
        "ledger_table": "turnout-ledger-old-to-new",
        "metric_namespace": "Turnout/Replication",
    }
    fields.update(tunables)
    return ReplicatorConfig(**fields)


def make_replicator(aws: FakeAws, *, seed: int = 3, **tunables: Any) -> tuple[Any, list[str]]:
    """A Replicator wired to ``aws``; returns it and the list its log lines go to."""
    from turnout.lambdas.replicator import Replicator

    logs: list[str] = []
    replicator = Replicator(
        make_config(**tunables),
        client_factory=aws.client_factory,
        clock=aws.clock,
        rng=random.Random(seed),
        log_sink=logs.append,
    )
    return replicator, logs
