"""Records a Lambda consumer discarded: what its mappings' on-failure destinations received
during the migration.

A Kinesis event source mapping with finite MaximumRetryAttempts or MaximumRecordAgeInSeconds
gives up on a failing batch, sends one metadata message (`KinesisBatchInfo`: shard, first and
last sequence number, batchSize, streamArn) to its on-failure destination and moves on
(https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html). The drain
evidence then moves past the batch too (a marker after it is acknowledged, IteratorAge
settles): without this module a drain could say "drained" although records were skipped.

How a destination is read, without harming the user's queue:

- **count** (default). `GetQueueAttributes` (ApproximateNumberOfMessages, ...NotVisible,
  ...Delayed) compared with a **baseline**: the same sum recorded once per migration and queue
  (the cutover's `discard-baselines` step at baseline->switched, or else the first drain check
  that reads the queue), kept in the environment's markers table (item
  `discard-baseline/<migration>/<queue ARN>`, written only if absent). Receives nothing, so it
  neither hides a message from the queue's own readers nor raises its ApproximateReceiveCount
  (a receive counts towards a redrive policy's maxReceiveCount and can move the message to the
  queue's own dead-letter queue:
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html).
  The price: every new message counts, whichever stream or function sent it (a shared queue
  makes a drain fail for another consumer's discards: the safe side); one message is one batch,
  so the count is "at least N records"; the figures are approximate and may lag about a minute
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_GetQueueAttributes.html);
  and a queue that something else consumes can hide discards: fewer messages than at the
  baseline is `unknown`, never drained.
- **peek** (the operator opts in: hook argument `discards: peek`, `--peek-discards`).
  ReceiveMessage with a short visibility timeout, every message once: only metadata about this
  consumer's streams (and function, when named) sent after the baseline counts, by its
  `batchSize`, so the verdict names the exact number of records. It hides each message from the
  queue's readers for `PEEK_VISIBILITY_SECONDS` and adds one to its receive count.

SNS topics, S3 buckets and Kafka topics cannot be counted (a topic keeps no backlog; a bucket
holds one object per batch under keys turnout does not read): `unknown`, naming what to check
by hand. The verdicts are `DiscardVerdict`s, one per consumer and destination; a drain or a
verify that covers the consumer is not drained while one is not `drained`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import READ_ERRORS, error_code, error_message
from turnout.aws.mappings import arn_reads_stream, mappings_reading
from turnout.drain.verdicts import DiscardVerdict, Verdict
from turnout.errors import TurnoutError
from turnout.spec.names import names

MODES = ("count", "peek")
DEPTH_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
PEEK_VISIBILITY_SECONDS = 30
PEEK_LIMIT = 10_000  # messages read per check at most
ON_FAILURE_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html"
READ_PROBLEMS = (*READ_ERRORS, TurnoutError)  # a failed read or session: unknown


@dataclass(frozen=True)
class Destination:
    """One consumer's on-failure destination and the streams whose discards it receives."""

    environment: str
    consumer: str  # lambda:<function>
    function_name: str
    arn: str
    streams: tuple[tuple[str, str], ...]  # (logical name, stream ARN)
    mappings: tuple[str, ...]  # UUIDs

    @property
    def service(self) -> str:
        if self.arn.startswith("kafka://"):
            return "kafka"
        parts = self.arn.split(":")
        return parts[2] if len(parts) > 5 else ""

    @property
    def name(self) -> str:
        return self.arn.split(":")[5] if self.service == "sqs" else self.arn

    @property
    def stream_names(self) -> str:
        return ", ".join(logical for logical, _ in self.streams)


# --------------------------------------------------------------------------- destinations


def find_destinations(
    lambda_client: Any, spec: Any, environment: str, consumer: Any
) -> list[Destination]:
    """The on-failure destinations of a Lambda consumer's mappings on its spec streams, one per
    destination ARN (a queue shared by two mappings of the consumer is read once)."""
    place = names(spec, environment)
    arns = {logical: place.stream_arn(logical) for logical in consumer.streams}
    found: dict[str, list[tuple[str, dict]]] = {}
    for mapping in mappings_reading(lambda_client, consumer.function_name, arns.values()):
        arn = ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if not arn:
            continue
        source = mapping.get("EventSourceArn", "")
        logical = next(name for name, stream in arns.items() if arn_reads_stream(source, stream))
        found.setdefault(arn, []).append((logical, mapping))
    return [
        Destination(
            environment,
            f"lambda:{consumer.function_name}",
            consumer.function_name,
            arn,
            tuple(dict.fromkeys((logical, arns[logical]) for logical, _ in entries)),
            tuple(mapping.get("UUID", "") for _, mapping in entries),
        )
        for arn, entries in found.items()
    ]


# --------------------------------------------------------------------------- the baseline


@dataclass(frozen=True)
class Baseline:
    messages: int
    recorded_at: float  # epoch seconds

    @property
    def when(self) -> str:
        return datetime.fromtimestamp(self.recorded_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def baseline_key(spec: Any, destination_arn: str) -> str:
    return f"discard-baseline/{spec.migration}/{destination_arn}"


def read_baseline(dynamodb: Any, table: str, key: str) -> Baseline | None:
    item = dynamodb.get_item(
        TableName=table, Key={"marker_id": {"S": key}}, ConsistentRead=True
    ).get("Item")
    if item is None:
        return None
    return Baseline(int(item["messages"]["N"]), float(item["recorded_at"]["N"]))


def record_baseline(
    dynamodb: Any, table: str, key: str, messages: int, now: float
) -> tuple[Baseline, bool]:
    """Keep the first baseline of a queue for the whole migration: write only when none exists.
    Returns the baseline in force and whether this call wrote it."""
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                "marker_id": {"S": key},
                "kind": {"S": "discard-baseline"},
                "messages": {"N": str(messages)},
                "recorded_at": {"N": repr(float(now))},
            },
            ConditionExpression="attribute_not_exists(marker_id)",
        )
    except ClientError as problem:
        if error_code(problem) != "ConditionalCheckFailedException":
            raise
        existing = read_baseline(dynamodb, table, key)
        if existing is not None:
            return existing, False
        raise
    return Baseline(messages, float(now)), True


# --------------------------------------------------------------------------- SQS reads


def queue_url(sqs: Any, arn: str) -> str:
    _, _, _, _, account, name = arn.split(":", 5)
    return sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def queue_depth(sqs: Any, url: str) -> int:
    """Messages in the queue: visible, in flight and delayed (all were sent and not deleted)."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(DEPTH_ATTRIBUTES))
    values = attributes.get("Attributes", {})
    return sum(int(values.get(name, 0)) for name in DEPTH_ATTRIBUTES)


def peek_messages(sqs: Any, url: str, seen: dict[str, dict], limit: int = PEEK_LIMIT) -> None:
    """Read every message of the queue once into `seen` (MessageId -> message). Each receive
    hides the message for PEEK_VISIBILITY_SECONDS, so a page never repeats within one peek;
    two empty pages in a row end it (SQS samples its servers: one empty page proves little)."""
    empty = 0
    while empty < 2 and len(seen) < limit:
        page = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=PEEK_VISIBILITY_SECONDS,
            WaitTimeSeconds=0,
            AttributeNames=["SentTimestamp"],
        ).get("Messages", [])
        fresh = [message for message in page if message["MessageId"] not in seen]
        empty = 0 if fresh else empty + 1
        for message in fresh:
            seen[message["MessageId"]] = message


def discarded_batches(messages: list[dict], destination: Destination, since: float) -> list[dict]:
    """The KinesisBatchInfo of messages about the destination's streams (and function, when the
    message names one) sent at or after `since`. Anything else in the queue is ignored."""
    batches = []
    for message in messages:
        sent = int(message.get("Attributes", {}).get("SentTimestamp", "0")) / 1000
        try:
            body = json.loads(message.get("Body", ""))
        except ValueError:
            continue
        info = body.get("KinesisBatchInfo") if isinstance(body, dict) else None
        if not isinstance(info, dict) or sent < since:
            continue
        stream_arn = str(info.get("streamArn", ""))
        if not any(arn_reads_stream(stream_arn, arn) for _, arn in destination.streams):
            continue
        function = str((body.get("requestContext") or {}).get("functionArn", ""))
        if function and not _names_function(function, destination.function_name):
            continue
        batches.append(info)
    return batches


def _names_function(function_arn: str, function_name: str) -> bool:
    parts = function_arn.split(":")
    return len(parts) >= 7 and parts[6] == function_name


# --------------------------------------------------------------------------- the watch


class DiscardWatch:
    """One consumer's on-failure destinations in one environment: `prepare()` records the
    baselines (idempotent), `check()` is a fresh verdict per destination."""

    def __init__(
        self,
        consumer: Any,
        spec: Any,
        environment: str,
        client: Callable[[str], Any],
        clock: Callable[[], float],
        mode: str = "count",
        dry_run: bool = False,
    ) -> None:
        self.consumer, self.spec, self.environment = consumer, spec, environment
        self.client, self.clock, self.mode, self.dry_run = client, clock, mode, dry_run
        self.table = names(spec, environment).markers_table
        self.label = f"lambda:{consumer.function_name}"
        self.peeked: dict[str, dict[str, dict]] = {}  # destination ARN -> MessageId -> message

    def destinations(self) -> list[Destination]:
        return find_destinations(self.client("lambda"), self.spec, self.environment, self.consumer)

    def prepare(self) -> list[dict]:
        """Record the baseline of every SQS destination that has none yet (not in a dry run);
        never raises: a failed read shows in `check()`."""
        recorded = []
        try:
            for destination in self.destinations():
                if destination.service == "sqs" and not self.dry_run:
                    baseline, fresh = self._baseline(destination)
                    assert baseline is not None  # only a dry run records none
                    recorded.append(
                        {"destination": destination.arn, "since": baseline.when, "new": fresh}
                    )
        except READ_PROBLEMS as problem:
            recorded.append({"consumer": self.label, "unread": str(problem)})
        return recorded

    def check(self) -> list[DiscardVerdict]:
        try:
            destinations = self.destinations()
        except READ_PROBLEMS as problem:
            return [self._unread("its event source mappings", problem, "")]
        return [self._judge(destination) for destination in destinations]

    def _judge(self, destination: Destination) -> DiscardVerdict:
        if destination.service != "sqs":
            return uncountable(destination)
        try:
            return self._judge_queue(destination)
        except READ_PROBLEMS as problem:
            return self._unread(f"its on-failure queue {destination.arn}", problem, destination.arn)

    def _baseline(self, destination: Destination) -> tuple[Baseline | None, bool]:
        """The baseline in force, recorded now when there is none (None in a dry run)."""
        dynamodb = self.client("dynamodb")
        key = baseline_key(self.spec, destination.arn)
        existing = read_baseline(dynamodb, self.table, key)
        if existing is not None or self.dry_run:
            return existing, False
        depth = queue_depth(self.client("sqs"), queue_url(self.client("sqs"), destination.arn))
        return record_baseline(dynamodb, self.table, key, depth, self.clock())

    def _judge_queue(self, destination: Destination) -> DiscardVerdict:
        baseline, fresh = self._baseline(destination)
        if baseline is None:
            return DiscardVerdict(
                self.label,
                destination.arn,
                Verdict.UNKNOWN,
                f"dry run: no baseline of {destination.arn} is recorded yet (a dry run records "
                "none), so what it received during the migration cannot be counted",
            )
        sqs = self.client("sqs")
        url = queue_url(sqs, destination.arn)
        depth = queue_depth(sqs, url)
        detail = {
            "mode": self.mode,
            "mappings": list(destination.mappings),
            "streams": [logical for logical, _ in destination.streams],
            "baseline_messages": baseline.messages,
            "baseline_at": baseline.when,
            "baseline_recorded_now": fresh,
            "messages_now": depth,
        }
        if self.mode == "peek":
            seen = self.peeked.setdefault(destination.arn, {})
            peek_messages(sqs, url, seen)
            batches = discarded_batches(list(seen.values()), destination, baseline.recorded_at)
            return judge_peeked(destination, baseline, depth, batches, detail, self.label)
        return judge_counted(destination, baseline, depth, detail, self.label)

    def _unread(self, what: str, problem: Exception, destination: str) -> DiscardVerdict:
        if isinstance(problem, ClientError):
            cause = f"{error_code(problem)}: {error_message(problem)}"
        else:
            cause = f"{type(problem).__name__}: {problem}"
        return DiscardVerdict(
            self.label,
            destination,
            Verdict.UNKNOWN,
            f"could not read {what} in {self.environment} ({cause}): records it may have "
            "discarded cannot be counted",
        )


# --------------------------------------------------------------------------- verdicts


def judge_counted(
    destination: Destination, baseline: Baseline, depth: int, detail: dict, label: str
) -> DiscardVerdict:
    new = depth - baseline.messages
    where = f"{destination.arn} (streams {destination.stream_names})"
    if new > 0:
        return DiscardVerdict(
            label,
            destination.arn,
            Verdict.NOT_DRAINED,
            f"not drained: at least {new} records discarded to {destination.name}: {new} new "
            f"message(s) in {where} since {baseline.when}, each the metadata of one discarded "
            "batch (shard and sequence range to re-drive while in retention; read them, or "
            "check again with peeking allowed for the exact count)",
            {**detail, "new_messages": new},
        )
    if new < 0:
        return DiscardVerdict(
            label,
            destination.arn,
            Verdict.UNKNOWN,
            f"{where} holds {depth} message(s), fewer than the {baseline.messages} of "
            f"{baseline.when}: something consumes it, so new discards cannot be told apart; "
            "allow peeking, or look in that queue's consumer for KinesisBatchInfo messages "
            f"about {destination.stream_names} since then",
            detail,
        )
    return DiscardVerdict(
        label,
        destination.arn,
        Verdict.DRAINED,
        f"on-failure destination {where} read: nothing new since {baseline.when} "
        f"({depth} message(s) then and now)",
        {**detail, "new_messages": 0},
    )


def judge_peeked(
    destination: Destination,
    baseline: Baseline,
    depth: int,
    batches: list[dict],
    detail: dict,
    label: str,
) -> DiscardVerdict:
    records = sum(int(info.get("batchSize", 0)) for info in batches)
    detail = {
        **detail,
        "discarded_batches": [
            {key: info.get(key) for key in ("shardId", "startSequenceNumber", "endSequenceNumber")}
            | {"batchSize": info.get("batchSize")}
            for info in batches[:20]
        ],
        "discarded_records": records,
    }
    if batches:
        return DiscardVerdict(
            label,
            destination.arn,
            Verdict.NOT_DRAINED,
            f"not drained: {records} records discarded to {destination.name} "
            f"({len(batches)} batch(es) of {destination.stream_names} since {baseline.when}; "
            f"{destination.arn})",
            detail,
        )
    if depth < baseline.messages:
        return judge_counted(destination, baseline, depth, detail, label)
    return DiscardVerdict(
        label,
        destination.arn,
        Verdict.DRAINED,
        f"on-failure destination {destination.arn} read (peeked): nothing about "
        f"{destination.stream_names} since {baseline.when}",
        detail,
    )


def uncountable(destination: Destination) -> DiscardVerdict:
    """SNS, S3 and Kafka destinations keep no backlog turnout can count: unknown, never drained."""
    where = {
        "sns": "an SNS topic: it keeps no backlog to count; look in what its subscriptions "
        "deliver to (a queue, a mailbox)",
        "s3": "an S3 bucket: Lambda writes one object per discarded batch; list the bucket's "
        "objects written",
        "kafka": "a Kafka topic: read it",
    }.get(destination.service, "a destination turnout cannot read; look in it")
    return DiscardVerdict(
        destination.consumer,
        destination.arn,
        Verdict.UNKNOWN,
        f"on-failure destination {destination.arn} is {where} since the migration started for "
        f"metadata about {destination.stream_names} ({ON_FAILURE_DOC}); turnout cannot count "
        "it, so this consumer is never proven drained while the mapping sends there (use an "
        "SQS queue, or remove the destination and keep retries at -1)",
        {"mappings": list(destination.mappings), "service": destination.service},
    )


# --------------------------------------------------------------------------- several consumers


def watches_for(
    spec: Any,
    environment: str,
    client: Callable[[str], Any],
    clock: Callable[[], float],
    mode: str = "count",
    dry_run: bool = False,
) -> list[DiscardWatch]:
    """A watch for every Lambda consumer of `consumers.<environment>`."""
    return [
        DiscardWatch(consumer, spec, environment, client, clock, mode, dry_run)
        for consumer in getattr(spec.consumers, environment)
        if consumer.kind == "lambda"
    ]


def check_environments(
    spec: Any, aws: Any, environments: list[str], clock: Callable[[], float], mode: str = "count"
) -> list[DiscardVerdict]:
    """Every Lambda consumer's discard verdicts in these environments (for `turnout verify`)."""
    verdicts = []
    for environment in environments:

        def client(service: str, environment: str = environment) -> Any:
            return aws.client(environment, service)

        for watch in watches_for(spec, environment, client, clock, mode):
            verdicts += watch.check()
    return verdicts
