"""The consumers' on-failure destinations in the drain verdict, on the emulator: a real Lambda
consumer (run by the local Lambda runtime) whose mapping gives up on a poison record after one
retry and sends the batch's metadata to a real SQS queue. Its markers are acknowledged (the
shard moved on past the discarded batch), so only the queue shows the loss: the drain fails
naming the queue and the count. The same set-up without the poison record drains, saying the
queue was read and held nothing new. The baseline comes from the cutover's discard-baselines
step (hook record_discard_baselines), recorded before the records were written."""

from __future__ import annotations

import json
import time

import pytest
from hooks_kit import (
    MARKER_CONSUMER,
    context,
    create_streams,
    create_table,
    make_spec,
    put_to_shard,
    run_hook,
    shard_ids,
)

from turnout.aws.access import AwsAccess
from turnout.drain.acknowledge import acknowledge, standings
from turnout.drain.base import predicate_for, watch_discards
from turnout.drain.discarded import baseline_key, check_environments
from turnout.drain.scope import scope_from_context
from turnout.drain.verdicts import Verdict
from turnout.errors import TurnoutError
from turnout.hooks import HookFailed
from turnout.spec.names import names

pytestmark = pytest.mark.integration

ARGS = {"environment": "old", "timeout_seconds": 60, "poll_seconds": 0.5, "reads_per_second": 5}


def discarding_consumer(emulator, lambda_kit):
    """A markers-evidence consumer whose mapping discards after 1 retry to an SQS queue."""
    consumer = {
        "kind": "lambda",
        "function_name": lambda_kit.name("fn"),
        "streams": ["events"],
        "drain_evidence": "markers",
    }
    spec = make_spec(emulator, consumers_old=[consumer])
    stream_arn = create_streams(emulator, spec, "old")["events"]
    markers = create_table(emulator, "old", names(spec, "old").markers_table, "marker_id")
    function = lambda_kit.function(
        table=lambda_kit.table(), env={"MARKERS_TABLE": markers}, source=MARKER_CONSUMER
    )
    queue_url, queue_arn = lambda_kit.queue("old")
    lambda_kit.mapping(
        "old",
        function,
        stream_arn,
        BatchSize=10,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    ctx = context(emulator, spec)
    baselines = run_hook("record_discard_baselines", {}, ctx)  # as at baseline->switched
    (recorded,) = baselines["baselines"]["old"]
    assert recorded["destination"] == queue_arn and recorded["new"] is True
    return spec, ctx, queue_url, queue_arn


def write(emulator, spec, records: list[str]) -> None:
    name = spec.streams[0].name_in("old")
    first = shard_ids(emulator, "old", name)[0]
    for data in records:
        put_to_shard(emulator, "old", name, first, data)


def test_a_consumer_that_discarded_a_poison_batch_is_not_drained_naming_the_queue_and_count(
    emulator, lambda_kit
):
    spec, ctx, queue_url, queue_arn = discarding_consumer(emulator, lambda_kit)
    write(emulator, spec, ["ok-1", "FAIL-poison", "ok-2"])
    lambda_kit.runtime().start_in_thread()
    with pytest.raises(HookFailed) as failed:
        run_hook("verify_consumers_drained", ARGS, ctx)
    queue_name = queue_arn.rsplit(":", 1)[1]
    message = str(failed.value)
    assert "discarded records during the migration" in message
    assert f"not drained: at least 1 records discarded to {queue_name}" in message
    data = failed.value.data  # type: ignore[attr-defined]
    assert data["records_discarded"] is True and data["drained"] is False
    (consumer,) = data["consumers"]
    assert consumer["verdict"] == "not_drained"
    (discard,) = consumer["discards"]
    assert discard["destination"] == queue_arn
    assert discard["detail"]["new_messages"] == 1
    # The queue was only counted: its message is still there, never received by turnout.
    attributes = emulator.client("sqs", "old").get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"

    # The markers alone would call it drained: the shard moved on past the discarded batch.
    predicate = predicate_for(spec.consumers.old[0], scope_from_context(ctx, "old", workers=1))
    watch_discards([predicate])
    predicate.start()
    lambda_kit.wait_for(lambda: predicate.check().verdict is Verdict.DRAINED, timeout=30)
    verdict = predicate.verdict()
    assert verdict.verdict is Verdict.NOT_DRAINED and verdict.final


def test_the_same_consumer_without_a_discard_drains_and_says_the_queue_held_nothing_new(
    emulator, lambda_kit
):
    spec, ctx, _queue_url, queue_arn = discarding_consumer(emulator, lambda_kit)
    write(emulator, spec, ["ok-1", "ok-2", "ok-3"])
    lambda_kit.runtime().start_in_thread()
    data = run_hook("verify_consumers_drained", ARGS, ctx)
    assert data["drained"] is True and data["records_discarded"] is False
    (consumer,) = data["consumers"]
    (discard,) = consumer["discards"]
    assert discard["verdict"] == "drained"
    assert (
        f"on-failure destination {queue_arn} (streams events) read: nothing new"
        in (discard["reason"])
    )


def _batch_info(stream_arn: str, first: str) -> str:
    """The metadata message a Kinesis mapping sends for a batch it gave up on."""
    return json.dumps(
        {
            "requestContext": {"condition": "RetryAttemptsExhausted"},
            "KinesisBatchInfo": {
                "shardId": "shardId-000000000000",
                "startSequenceNumber": first,
                "endSequenceNumber": first,
                "batchSize": 1,
                "streamArn": stream_arn,
            },
        }
    )


def test_discards_re_driven_and_acknowledged_no_longer_hold_the_drain_and_keep_their_history(
    emulator, lambda_kit
):
    spec, _ctx, queue_url, queue_arn = discarding_consumer(emulator, lambda_kit)
    aws = AwsAccess.for_emulator(spec, emulator)
    sqs = emulator.client("sqs", "old")
    stream_arn = names(spec, "old").stream_arn("events")
    for first in ("11", "12"):  # two batches given up on (sent as the mapping would)
        sqs.send_message(QueueUrl=queue_url, MessageBody=_batch_info(stream_arn, first))
    (standing,) = standings(spec, aws, ["old"])
    assert standing.destination.arn == queue_arn and standing.new_messages == 2
    (verdict,) = check_environments(spec, aws, ["old"], clock=time.time)
    assert verdict.verdict is Verdict.NOT_DRAINED

    # Bad input changes nothing: a queue no consumer sends to, a blank reason.
    with pytest.raises(TurnoutError, match=f"their mappings send to: {queue_arn}"):
        acknowledge(spec, aws, "old", queue_arn + "-other", "re-driven", "me", time.time)
    with pytest.raises(TurnoutError, match="--reason"):
        acknowledge(spec, aws, "old", queue_arn, "  ", "me", time.time)
    assert standings(spec, aws, ["old"])[0].new_messages == 2

    moved = acknowledge(spec, aws, "old", queue_arn, "re-processed 11-12, INC-42", "me", time.time)
    assert moved["previous"]["messages"] == 0 and moved["now"]["messages"] == 2
    assert moved["acknowledged_messages"] == 2
    (verdict,) = check_environments(spec, aws, ["old"], clock=time.time)
    assert verdict.verdict is Verdict.DRAINED, verdict.reason
    # Nothing was received from the queue: its two messages are still there for its readers.
    depth = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert depth == "2"
    # A later discard counts again.
    sqs.send_message(QueueUrl=queue_url, MessageBody=_batch_info(stream_arn, "13"))
    (verdict,) = check_environments(spec, aws, ["old"], clock=time.time)
    assert verdict.verdict is Verdict.NOT_DRAINED and "at least 1 records" in verdict.reason
    item = emulator.client("dynamodb", "old").get_item(
        TableName=names(spec, "old").markers_table,
        Key={"marker_id": {"S": baseline_key(spec, queue_arn)}},
    )["Item"]
    (history,) = item["acknowledgements"]["L"]
    assert history["M"]["reason"]["S"] == "re-processed 11-12, INC-42"
    assert history["M"]["from_messages"]["N"] == "0" and history["M"]["to_messages"]["N"] == "2"
