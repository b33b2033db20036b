"""In-memory AWS fakes for the replicator's unit tests (fault injection).

One ``FakeAws`` holds both accounts: STS (issues expiring credentials), SSM
(the active-direction parameter per account), the target account's Kinesis
streams and the source account's DynamoDB ledger. Its ``client_factory`` has
the signature the replicator expects. Time is a ``FakeClock``: sleeps and call
latency advance it, so backoff and deadlines are exercised without waiting.
Metrics are the replicator's EMF log lines, read back with the local Lambda
runtime's extractor (``turnout.sandbox.lambda_runtime.emf``), as CloudWatch Logs
would.

The fake Kinesis has shards with hash key ranges (ListShards; a partition key
goes to the shard its MD5 falls in), enforces the PutRecords limits (500
entries, request bytes, record bytes) and only appends successful entries, in
request order with increasing per-shard sequence numbers, so the order a real
stream would hold is what the tests check.
"""

from __future__ import annotations

import base64
import hashlib
import json
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
    shard: str = "shardId-000000000000"
    at: float = 0.0  # fake monotonic time of arrival
    sequence: int = 0


MAX_HASH_KEY = 2**128 - 1


def even_shards(count: int) -> list[dict]:
    """ListShards entries of ``count`` open shards splitting the hash key space evenly."""
    step = (MAX_HASH_KEY + 1) // count
    return [
        {
            "ShardId": f"shardId-{index:012d}",
            "HashKeyRange": {
                "StartingHashKey": str(index * step),
                "EndingHashKey": str(
                    MAX_HASH_KEY if index == count - 1 else (index + 1) * step - 1
                ),
            },
            "SequenceNumberRange": {"StartingSequenceNumber": "1"},
        }
        for index in range(count)
    ]


def shard_for(shards: list[dict], partition_key: str, explicit_hash_key: str | None = None) -> str:
    """The open shard a record goes to: by its ExplicitHashKey when it has one, as Kinesis does."""
    if explicit_hash_key is not None:
        value = int(explicit_hash_key)
    else:
        value = int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")
    for shard in shards:
        hash_range = shard["HashKeyRange"]
        inside = int(hash_range["StartingHashKey"]) <= value <= int(hash_range["EndingHashKey"])
        if inside and "EndingSequenceNumber" not in shard["SequenceNumberRange"]:
            return shard["ShardId"]
    raise AssertionError("no open shard for the key")


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
    # (call attempt, position in the call, partition key) -> error code, for exact scenarios
    entry_fault: Callable[[int, int, str], str | None] | None = None
    # call attempts whose successful entries are stored in reverse request order
    reversed_calls: set[int] = field(default_factory=set)
    call_latency: float = 0.0
    latency_of: Callable[[int], float] | None = None  # call attempt -> seconds
    # call attempt -> an exception raised *after* the entries were stored (a lost answer)
    lost_answer: Callable[[int], Exception | None] | None = None
    ssm_latency: float = 0.0
    sts_latency: float = 0.0
    session_seconds_cap: int = 3600
    sts_error: str | None = None
    ledger_error: str | None = None
    ledger_error_times: int = -1  # how many UpdateItems fail with ledger_error (-1: all)
    ledger_latency: float = 0.0
    ledger_answers_lost: int = 0  # UpdateItems applied whose answer is then lost (a timeout)
    list_shards_error: str | None = None
    shard_layout: list[dict] = field(default_factory=lambda: even_shards(1))
    # observations
    put_calls: list[list[str]] = field(default_factory=list)  # partition keys per call
    call_attempts: int = 0
    sts_calls: int = 0
    param_reads: dict[str, int] = field(default_factory=lambda: {"source": 0, "target": 0})
    credential_errors: int = 0
    entry_failures: int = 0
    ledger: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    log_lines: list[str] = field(default_factory=list)  # the replicator's stdout
    list_shards_calls: int = 0
    sequence_counter: int = 0
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

    def metric_data(self) -> list[dict]:
        """Every datum CloudWatch Logs would extract from the replicator's EMF lines."""
        from turnout.sandbox.lambda_runtime.emf import metric_data

        return [datum for line in self.log_lines for datum in metric_data(line)]

    def metric_sum(self, name: str) -> float:
        return sum(d["Value"] for d in self.metric_data() if d["MetricName"] == name)

    def reshard(self, count: int) -> None:
        """Close every open shard and open ``count`` new ones (a resharding)."""
        for shard in self.shard_layout:
            shard["SequenceNumberRange"].setdefault("EndingSequenceNumber", "9" * 40)
        first = len(self.shard_layout)
        for index, shard in enumerate(even_shards(count)):
            shard["ShardId"] = f"shardId-{first + index:012d}"
            self.shard_layout.append(shard)


class FakeSts:
    def __init__(self, aws: FakeAws) -> None:
        self.aws = aws

    def assume_role(self, RoleArn: str, RoleSessionName: str, ExternalId: str, **kw: Any) -> dict:
        aws = self.aws
        aws.sts_calls += 1
        aws.clock.advance(aws.sts_latency)
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
        aws.clock.advance(aws.ssm_latency)
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

    def list_shards(self, StreamName: str | None = None, **kw: Any) -> dict:
        aws = self.aws
        aws.list_shards_calls += 1
        aws.check_credentials(self.credentials, "ListShards")
        if aws.list_shards_error:
            raise client_error(aws.list_shards_error, "ListShards")
        return {"Shards": [json.loads(json.dumps(shard)) for shard in aws.shard_layout]}

    def put_records(self, StreamName: str, Records: list[dict]) -> dict:
        aws = self.aws
        aws.call_attempts += 1
        attempt = aws.call_attempts
        aws.clock.advance(aws.latency_of(attempt) if aws.latency_of else aws.call_latency)
        aws.check_credentials(self.credentials, "PutRecords")
        if aws.call_fault is not None:
            fault = aws.call_fault(attempt)
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
        response = self._store(aws.streams[StreamName], Records, attempt)
        if aws.lost_answer is not None:
            fault = aws.lost_answer(attempt)
            if fault is not None:
                raise fault
        return response

    def _store(self, stream: list[Written], entries: list[dict], attempt: int) -> dict:
        aws = self.aws
        call_number = len(aws.put_calls)
        aws.put_calls.append([entry["PartitionKey"] for entry in entries])
        results: list[dict] = []
        accepted: list[int] = []
        for position, entry in enumerate(entries):
            code = (
                aws.entry_fault(attempt, position, entry["PartitionKey"])
                if aws.entry_fault
                else None
            )
            if (
                code is None
                and aws.entry_failure_rate
                and aws.rng.random() < aws.entry_failure_rate
            ):
                code = aws.rng.choice(aws.entry_failure_codes)
            if code:
                aws.entry_failures += 1
                results.append({"ErrorCode": code, "ErrorMessage": "injected"})
            else:
                accepted.append(position)
                results.append({})
        order = list(reversed(accepted)) if attempt in aws.reversed_calls else accepted
        for position in order:
            entry = entries[position]
            aws.sequence_counter += 1
            shard = shard_for(aws.shard_layout, entry["PartitionKey"], entry.get("ExplicitHashKey"))
            written = Written(
                entry["PartitionKey"],
                bytes(entry["Data"]),
                call_number,
                shard,
                aws.clock.monotonic(),
                aws.sequence_counter,
            )
            stream.append(written)
            results[position] = {"SequenceNumber": str(written.sequence), "ShardId": shard}
        return {"FailedRecordCount": len(entries) - len(accepted), "Records": results}


class FakeDynamoDb:
    """Just enough UpdateItem for the ledger: SET/ADD and the OR-of-two condition."""

    def __init__(self, aws: FakeAws) -> None:
        self.aws = aws

    def update_item(self, **kw: Any) -> dict:
        aws = self.aws
        aws.clock.advance(aws.ledger_latency)
        if aws.ledger_error and aws.ledger_error_times != 0:
            aws.ledger_error_times -= 1
            raise client_error(aws.ledger_error, "UpdateItem", 500)
        names = kw.get("ExpressionAttributeNames", {})
        values = kw["ExpressionAttributeValues"]
        key = kw["Key"]["shard_key"]["S"]
        item = aws.ledger.get(key, {"shard_key": {"S": key}})
        condition = kw.get("ConditionExpression")
        if condition and not _condition_holds(condition, item, names, values):
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
        if aws.ledger_answers_lost > 0:
            aws.ledger_answers_lost -= 1
            from botocore.exceptions import ReadTimeoutError

            raise ReadTimeoutError(endpoint_url="https://dynamodb.invalid")
        return {}


def _condition_holds(expression: str, item: dict, names: dict, values: dict) -> bool:
    for term in expression.split(" OR "):
        term = term.strip()
        match = re.fullmatch(r"attribute_not_exists\((\S+)\)", term)
        if match:
            if names.get(match[1], match[1]) not in item:
                return True
            continue
        match = re.fullmatch(r"(\S+) (<|<>) (\S+)", term)
        assert match, f"unsupported condition {term!r}"
        attribute = names.get(match[1], match[1])
        if attribute not in item:
            continue
        mine, theirs = item[attribute]["S"], values[match[3]]["S"]
        if (mine < theirs) if match[2] == "<" else (mine != theirs):
            return True
    return False


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
    inversions: int


def check_delivery(
    written: list[Written],
    records: list[SourceRecord],
    *,
    complete: bool = True,
    order: str = "first",
) -> DeliveryReport:
    """Bytes and keys intact; per key, the records in source order, and the inversions.

    ``order="first"`` (strict mode): every write of a record comes after at least one write of
    every earlier record of its key (a re-sent duplicate is fine, a gap is not).
    ``order="last"`` (relaxed mode): the last copies of a key's records are in source order.
    Inversions (both modes): copies written ahead of the last copy of an earlier record of
    their key, counted from the target alone. With ``complete``, every source record must be
    in the target.
    """
    by_payload = {r.data: r for r in records}
    rank: dict[int, int] = {}
    per_key_count: dict[str, int] = {}
    for r in records:
        rank[r.index] = per_key_count.get(r.partition_key, 0)
        per_key_count[r.partition_key] = rank[r.index] + 1
    copies_by_key: dict[str, list[int]] = {}  # key -> ranks, in target order
    seen: set[int] = set()
    for position, w in enumerate(written):
        source = by_payload.get(w.data)
        assert source is not None, f"target record {position} matches no source payload"
        assert w.partition_key == source.partition_key, "partition key changed"
        copies_by_key.setdefault(w.partition_key, []).append(rank[source.index])
        seen.add(source.index)
    inversions = 0
    for key, ranks in copies_by_key.items():
        if order == "first":
            _check_first_copies(key, ranks)
        else:
            _check_last_copies(key, ranks)
        inversions += count_inversions(ranks)
    if complete:
        missing = [r.index for r in records if r.index not in seen]
        assert not missing, f"{len(missing)} records lost, first {missing[:5]}"
    return DeliveryReport(
        written=len(written),
        distinct=len(seen),
        duplicates=len(written) - len(seen),
        inversions=inversions,
    )


def _check_first_copies(key: str, ranks: list[int]) -> None:
    prefix = 0
    for r in ranks:
        assert r <= prefix, (
            f"order broken for {key}: rank {r} written while only {prefix} earlier records of "
            "the key were"
        )
        if r == prefix:
            prefix += 1


def _check_last_copies(key: str, ranks: list[int]) -> None:
    last = {r: position for position, r in enumerate(ranks)}
    in_target_order = sorted(last, key=last.__getitem__)
    assert in_target_order == sorted(last), f"last copies of {key} out of order"


def count_inversions(ranks: list[int]) -> int:
    """Copies that lie before the last copy of a lower rank (right to left, O(n))."""
    last = {r: position for position, r in enumerate(ranks)}
    lowest_after = None  # the lowest rank whose last copy lies after the current position
    inversions = 0
    for position in range(len(ranks) - 1, -1, -1):
        r = ranks[position]
        if last[r] == position:
            lowest_after = r if lowest_after is None else min(lowest_after, r)
        elif lowest_after is not None and lowest_after < r:
            inversions += 1
    return inversions


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


def make_replicator(
    aws: FakeAws, *, seed: int = 3, rng: random.Random | None = None, **tunables: Any
) -> tuple[Any, list[str]]:
    """A Replicator wired to ``aws``; returns it and the list its log lines go to."""
    from turnout.lambdas.replicator import Replicator

    logs: list[str] = []

    def sink(line: str) -> None:
        logs.append(line)
        aws.log_lines.append(line)

    replicator = Replicator(
        make_config(**tunables),
        client_factory=aws.client_factory,
        clock=aws.clock,
        rng=rng or random.Random(seed),
        log_sink=sink,
    )
    return replicator, logs
