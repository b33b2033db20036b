"""The consumers' on-failure destinations in the drain verdicts, on in-process fakes: records
discarded to an SQS queue since the migration's baseline make a consumer not drained at once
(counted from the queue's attributes, or exactly by peeking, where only metadata about the
drained streams counts); an unchanged queue is read and holds nothing new; a queue emptied by
someone else, an unreadable one and SNS/S3 destinations are unknown, never drained."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fakes_drain import PHYSICAL, STREAM, FakeClock, FakeLambda, client_error, make_spec

from turnout.drain.base import DrainPredicate, wait_until_drained, watch_discards
from turnout.drain.discarded import PEEK_VISIBILITY_SECONDS, baseline_key
from turnout.drain.scope import DrainScope
from turnout.drain.verdicts import ShardVerdict, Verdict
from turnout.spec.names import names
from turnout.verify.run import problems_text, with_discards

FUNCTION = "clicks-fn"
QUEUE = "clicks-failures"
QUEUE_ARN = f"arn:aws:sqs:eu-west-1:111111111111:{QUEUE}"
STREAM_ARN = f"arn:aws:kinesis:eu-west-1:111111111111:stream/{PHYSICAL}"
OTHER_STREAM_ARN = "arn:aws:kinesis:eu-west-1:111111111111:stream/orders-old"
FUNCTION_ARN = f"arn:aws:lambda:eu-west-1:111111111111:function:{FUNCTION}"


class FakeSqs:
    """One queue: messages with their SentTimestamp; receives hide nothing here but count."""

    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.receives = 0
        self.visibility: list[int] = []
        self.fail: str | None = None

    def send(self, body: Any, sent_at: float) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        self.messages.append(
            {
                "MessageId": f"m{len(self.messages)}",
                "Body": text,
                "Attributes": {"SentTimestamp": str(int(sent_at * 1000))},
            }
        )

    def get_queue_url(self, QueueName: str, QueueOwnerAWSAccountId: str) -> dict:
        if self.fail:
            raise client_error(self.fail, "GetQueueUrl")
        assert (QueueName, QueueOwnerAWSAccountId) == (QUEUE, "111111111111")
        return {"QueueUrl": f"https://sqs.local/111111111111/{QueueName}"}

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict:
        return {
            "Attributes": {
                "ApproximateNumberOfMessages": str(len(self.messages)),
                "ApproximateNumberOfMessagesNotVisible": "0",
                "ApproximateNumberOfMessagesDelayed": "0",
            }
        }

    def receive_message(self, QueueUrl: str, MaxNumberOfMessages: int, **kwargs: Any) -> dict:
        self.receives += 1
        self.visibility.append(kwargs["VisibilityTimeout"])
        start = (self.receives - 1) * MaxNumberOfMessages
        page = self.messages[start : start + MaxNumberOfMessages]
        return {"Messages": [dict(message) for message in page]} if page else {}


class FakeMarkersTable:
    def __init__(self) -> None:
        self.items: dict[str, dict] = {}
        self.puts = 0

    def get_item(self, TableName: str, Key: dict, ConsistentRead: bool = False) -> dict:
        item = self.items.get(Key["marker_id"]["S"])
        return {"Item": item} if item else {}

    def put_item(self, TableName: str, Item: dict, ConditionExpression: str) -> dict:
        assert ConditionExpression == "attribute_not_exists(marker_id)"
        self.puts += 1
        if Item["marker_id"]["S"] in self.items:
            raise client_error("ConditionalCheckFailedException", "PutItem")
        self.items[Item["marker_id"]["S"]] = Item
        return {}


def batch_info(stream_arn: str = STREAM_ARN, size: int = 3, function: str = FUNCTION_ARN):
    return {
        "requestContext": {"functionArn": function, "condition": "RetryAttemptsExhausted"},
        "KinesisBatchInfo": {
            "shardId": "shardId-000000000000",
            "startSequenceNumber": "1",
            "endSequenceNumber": "3",
            "batchSize": size,
            "streamArn": stream_arn,
        },
    }


class AlwaysDrained(DrainPredicate):
    """The consumer's own evidence says drained (a marker after the discarded batch was
    acknowledged): only the destination can tell otherwise."""

    kind, evidence = "lambda", "markers"

    def check(self):
        shard = ShardVerdict(STREAM, "shardId-000000000000", Verdict.DRAINED, "marker acked")
        return self._verdict([shard])


class World:
    def __init__(self, destination: str = QUEUE_ARN, dry_run: bool = False) -> None:
        self.clock = FakeClock()
        self.sqs, self.table, self.lambda_ = FakeSqs(), FakeMarkersTable(), FakeLambda()
        self.spec = make_spec([{"kind": "lambda", "function_name": FUNCTION, "streams": [STREAM]}])
        self.lambda_.add("esm-1", FUNCTION, STREAM_ARN)
        self.lambda_.mappings["esm-1"]["DestinationConfig"] = {
            "OnFailure": {"Destination": destination}
        }
        clients = {"sqs": self.sqs, "dynamodb": self.table, "lambda": self.lambda_}
        self.scope = DrainScope(
            spec=self.spec,
            environment="old",
            client=clients.__getitem__,
            reader=None,  # type: ignore[arg-type]  # nothing reads shards here
            clock=self.clock.time,
            dry_run=dry_run,
        )

    def predicate(self, mode: str = "count") -> DrainPredicate:
        predicate = AlwaysDrained(self.spec.consumers.old[0], self.scope)
        watch_discards([predicate], mode)
        return predicate


def test_records_discarded_since_the_baseline_make_a_drained_consumer_not_drained():
    world = World()
    world.sqs.send(batch_info(), world.clock.time() - 3600)  # an old discard, before the migration
    predicate = world.predicate()
    prepared = predicate.start()
    assert prepared["discard_baselines"][0]["destination"] == QUEUE_ARN
    world.clock.sleep(60)
    world.sqs.send(batch_info(), world.clock.time())
    world.sqs.send(batch_info(), world.clock.time())
    verdict = predicate.verdict()
    assert verdict.verdict is Verdict.NOT_DRAINED and verdict.final
    (discard,) = verdict.discards
    assert discard.reason.startswith(f"not drained: at least 2 records discarded to {QUEUE}")
    assert QUEUE_ARN in discard.reason
    assert discard.detail["baseline_messages"] == 1 and discard.detail["messages_now"] == 3
    assert world.sqs.receives == 0, "counting receives nothing from the user's queue"
    assert any("records discarded to" in line for line in verdict.problems())


def test_an_unchanged_queue_is_read_and_holds_nothing_new():
    world = World()
    world.sqs.send(batch_info(), world.clock.time() - 3600)
    predicate = world.predicate()
    predicate.start()
    verdict = predicate.verdict()
    assert verdict.verdict is Verdict.DRAINED
    (discard,) = verdict.discards
    assert discard.verdict is Verdict.DRAINED
    assert f"on-failure destination {QUEUE_ARN} (streams {STREAM}) read: nothing new" in (
        discard.reason
    )
    assert verdict.to_dict()["discards"][0]["verdict"] == "drained"


def test_the_first_baseline_is_kept_for_the_whole_migration():
    world = World()
    world.predicate().start()  # the discard-baselines step at baseline->switched
    key = baseline_key(world.spec, QUEUE_ARN)
    assert world.table.items[key]["messages"]["N"] == "0"
    world.sqs.send(batch_info(), world.clock.time() + 1)  # discarded while the old ones drain
    world.clock.sleep(5)
    later = world.predicate()  # the drain hook, in a later run
    later.start()
    assert world.table.items[key]["messages"]["N"] == "0", "a later check moves no baseline"
    assert later.verdict().verdict is Verdict.NOT_DRAINED
    assert names(world.spec, "old").markers_table.endswith("turnout-markers")


def test_a_queue_emptied_by_its_own_reader_is_unknown_never_drained():
    world = World()
    world.sqs.send(batch_info(), world.clock.time() - 10)
    world.sqs.send(batch_info(), world.clock.time() - 5)
    predicate = world.predicate()
    predicate.start()
    world.sqs.messages.clear()  # an on-call redrive deleted them; a new discard would hide here
    verdict = predicate.verdict()
    assert verdict.verdict is Verdict.UNKNOWN
    assert "fewer than the 2" in verdict.discards[0].reason


@pytest.mark.parametrize(
    ("destination", "service", "hint"),
    [
        ("arn:aws:sns:eu-west-1:111111111111:clicks-failed", "sns", "subscriptions deliver to"),
        ("arn:aws:s3:::clicks-failed-batches", "s3", "one object per discarded batch"),
    ],
)
def test_a_topic_or_bucket_destination_is_unknown_naming_what_to_check_by_hand(
    destination, service, hint
):
    world = World(destination)
    predicate = world.predicate()
    predicate.start()
    verdict = predicate.verdict()
    assert verdict.verdict is Verdict.UNKNOWN and not verdict.final
    (discard,) = verdict.discards
    assert discard.destination == destination and discard.detail["service"] == service
    assert hint in discard.reason and "never proven drained" in discard.reason
    assert world.table.puts == 0, "nothing to baseline"


def test_peeking_counts_only_records_of_this_consumers_streams_sent_since_the_baseline():
    world = World()
    world.sqs.send(batch_info(size=7), world.clock.time() - 60)  # before the migration
    predicate = world.predicate("peek")
    predicate.start()
    world.clock.sleep(30)
    now = world.clock.time()
    world.sqs.send(batch_info(size=3), now)  # ours
    world.sqs.send(batch_info(OTHER_STREAM_ARN, size=5), now)  # another stream shares the queue
    other_function = FUNCTION_ARN.replace(FUNCTION, "audit-fn")
    world.sqs.send(batch_info(size=11, function=other_function), now)  # another consumer
    world.sqs.send("not json", now)
    world.sqs.send({"hello": "world"}, now)
    verdict = predicate.verdict()
    (discard,) = verdict.discards
    assert discard.verdict is Verdict.NOT_DRAINED
    assert discard.reason.startswith(f"not drained: 3 records discarded to {QUEUE} (1 batch(es)")
    assert discard.detail["discarded_records"] == 3
    assert set(world.sqs.visibility) == {PEEK_VISIBILITY_SECONDS}


def test_peeking_a_queue_with_only_other_streams_messages_stays_drained():
    world = World()
    predicate = world.predicate("peek")
    predicate.start()
    world.clock.sleep(30)
    world.sqs.send(batch_info(OTHER_STREAM_ARN, size=5), world.clock.time())
    verdict = predicate.verdict()
    assert verdict.verdict is Verdict.DRAINED
    assert "read (peeked): nothing about clicks" in verdict.discards[0].reason
    # counting alone would have blamed this consumer for the other stream's discard
    counted = world.predicate("count")
    assert counted.verdict().verdict is Verdict.NOT_DRAINED


def test_waiting_for_a_drain_stops_at_the_first_discard():
    world = World()
    predicate = world.predicate()
    predicate.start()
    world.sqs.send(batch_info(), world.clock.time() + 1)
    outcome = wait_until_drained(
        [predicate],
        what="x",
        timeout_seconds=600,
        poll_seconds=10,
        clock=world.clock.time,
        sleep=world.clock.sleep,
        progress=lambda message: None,
    )
    assert not outcome.drained and outcome.discarded and outcome.rounds == 1
    assert outcome.to_dict()["records_discarded"] is True


def test_an_unreadable_queue_is_unknown_naming_the_queue_and_the_error():
    world = World()
    world.sqs.fail = "AccessDenied"
    predicate = world.predicate()
    assert predicate.start()["discard_baselines"][0]["consumer"] == f"lambda:{FUNCTION}"
    verdict = predicate.verdict()
    assert verdict.verdict is Verdict.UNKNOWN
    reason = verdict.discards[0].reason
    assert f"could not read its on-failure queue {QUEUE_ARN} in old (AccessDenied" in reason


def test_a_dry_run_records_no_baseline_and_proves_nothing():
    world = World(dry_run=True)
    predicate = world.predicate()
    predicate.start()
    assert world.table.puts == 0
    verdict = predicate.verdict()
    assert verdict.verdict is Verdict.UNKNOWN
    assert verdict.discards[0].reason.startswith("dry run: no baseline")


def test_a_consumer_without_an_on_failure_destination_is_judged_by_its_shards_alone():
    world = World()
    del world.lambda_.mappings["esm-1"]["DestinationConfig"]
    predicate = world.predicate()
    predicate.start()
    verdict = predicate.verdict()
    assert verdict.verdict is Verdict.DRAINED and verdict.discards == []


def test_verify_fails_when_a_consumer_discarded_and_names_the_queue():
    document = {"passed": True, "streams": {}}
    discard = {
        "consumer": f"lambda:{FUNCTION}",
        "destination": QUEUE_ARN,
        "verdict": "not_drained",
        "reason": f"not drained: at least 2 records discarded to {QUEUE}",
    }
    failed = with_discards(document, [discard])
    assert failed["passed"] is False
    assert f"lambda:{FUNCTION}: not drained: at least 2 records discarded to {QUEUE}" in (
        problems_text(failed)
    )
    quiet = with_discards(document, [{**discard, "verdict": "drained", "reason": "read"}])
    assert quiet["passed"] is True and problems_text(quiet) == ""


def test_without_reading_the_on_failure_queue_a_consumer_that_discarded_is_called_drained():
    """Issue #14, check 2 with its reading disabled: the consumer's finite retries discarded two
    batches (5 records) to its queue after the shard moved past them. A drain check that does
    not read the queue (no `watch_discards`) says drained while they are gone; the one the
    cutover runs says not drained, naming the queue and the count."""
    world = World()
    blind = AlwaysDrained(world.spec.consumers.old[0], world.scope)
    watching = world.predicate("peek")
    blind.start()
    watching.start()
    world.clock.sleep(30)
    world.sqs.send(batch_info(size=2), world.clock.time())
    world.sqs.send(batch_info(size=3), world.clock.time())

    unread = blind.verdict()
    assert unread.verdict is Verdict.DRAINED and unread.discards == []
    read = watching.verdict()
    assert read.verdict is Verdict.NOT_DRAINED and read.final
    (discard,) = read.discards
    assert discard.reason.startswith(f"not drained: 5 records discarded to {QUEUE} (2 batch(es)")
    assert discard.detail["discarded_records"] == 5
