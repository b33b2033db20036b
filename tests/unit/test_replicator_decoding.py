"""Strict decoding: every malformed record raises MalformedRecordError naming its position and
sequence number, and nothing of the batch is written (no wrongly decoded bytes, ever)."""

from __future__ import annotations

import base64
import copy
import json

import pytest
from fakes_kinesis import (
    FakeAws,
    FakeClock,
    FakeContext,
    make_event,
    make_replicator,
    make_shard,
)

from turnout.lambdas.replicator import BadEventError, MalformedRecordError, parse_batch

POSITION = 3  # the record spoiled in every case


def _kinesis(record: dict) -> dict:
    return record["kinesis"]


def _set(path: str, value):
    def spoil(record: dict) -> None:
        target = record
        *parents, last = path.split(".")
        for name in parents:
            target = target[name]
        target[last] = value

    return spoil


def _drop(path: str):
    def spoil(record: dict) -> None:
        target = record
        *parents, last = path.split(".")
        for name in parents:
            target = target[name]
        del target[last]

    return spoil


# case -> (how the record is spoiled, words the error must contain, sequence number named)
CASES = {
    "data with garbage after the padding": (
        _set("kinesis.data", "SGVsbG8=garbage"),
        "not canonical base64",
        True,
    ),
    "data without its padding": (_set("kinesis.data", "SGVsbG8"), "not canonical base64", True),
    "data with non-zero padding bits": (
        _set("kinesis.data", "SGVsbB=="),
        "not canonical base64",
        True,
    ),
    "data with a line break": (_set("kinesis.data", "SGVs\nbG8="), "not canonical base64", True),
    "data with non-ASCII": (_set("kinesis.data", "SGVsbG8é"), "not canonical base64", True),
    "data missing": (_drop("kinesis.data"), "no 'data' string", True),
    "data not a string": (_set("kinesis.data", 12), "no 'data' string", True),
    "partition key missing": (_drop("kinesis.partitionKey"), "partitionKey", True),
    "partition key empty": (_set("kinesis.partitionKey", ""), "partitionKey", True),
    "partition key too long": (_set("kinesis.partitionKey", "k" * 257), "partitionKey", True),
    "sequence number missing": (_drop("kinesis.sequenceNumber"), "sequenceNumber", False),
    "sequence number not digits": (_set("kinesis.sequenceNumber", "12a"), "sequenceNumber", True),
    "sequence number of non-ASCII digits": (
        lambda r: r["kinesis"].update(
            sequenceNumber=r["kinesis"]["sequenceNumber"][:-1] + "\u0669"
        ),
        "sequenceNumber",
        True,
    ),
    "sequence number going back": (
        _set("kinesis.sequenceNumber", "1"),
        "not after the previous record",
        True,
    ),
    "another stream": (
        _set("eventSourceARN", "arn:aws:kinesis:eu-west-1:111111111111:stream/other"),
        "another stream",
        True,
    ),
    "stream ARN missing": (_drop("eventSourceARN"), "another stream", True),
    "another shard": (
        lambda r: r.update(eventID="shardId-000000000099:" + r["kinesis"]["sequenceNumber"]),
        "another shard",
        True,
    ),
    "eventID missing": (_drop("eventID"), "another shard", True),
    "kinesis member missing": (_drop("kinesis"), "no 'kinesis' object", False),
    "kinesis member not an object": (_set("kinesis", "x"), "no 'kinesis' object", False),
    "arrival not a number": (
        _set("kinesis.approximateArrivalTimestamp", "yesterday"),
        "approximateArrivalTimestamp",
        True,
    ),
}


def spoiled_event(case: str) -> dict:
    event = make_event(make_shard(6, keys=2, payload_bytes=40))
    spoil, _, _ = CASES[case]
    spoil(event["Records"][POSITION])
    return event


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_malformed_record_is_named_and_nothing_is_written(case):
    event = spoiled_event(case)
    _, words, names_sequence = CASES[case]
    aws = FakeAws(FakeClock())
    replicator, logs = make_replicator(aws)

    with pytest.raises(MalformedRecordError) as raised:
        replicator.process(event, FakeContext(aws.clock))

    message = str(raised.value)
    assert f"record {POSITION} of the batch" in message
    assert words in message
    if names_sequence:  # the sequence number the record carries, as it carries it
        assert (
            f"sequence number {event['Records'][POSITION]['kinesis']['sequenceNumber']}:" in message
        )
    else:
        assert "sequence number unknown" in message
    assert aws.call_attempts == 0 and aws.target() == [] and aws.ledger == {}
    logged = [json.loads(line) for line in logs if "batch_malformed" in line]
    assert logged and logged[0]["position"] == POSITION and logged[0]["level"] == "ERROR"


def test_a_record_that_is_not_an_object_is_named():
    event = make_event(make_shard(3, keys=1))
    event["Records"][1] = "not a record"
    with pytest.raises(MalformedRecordError, match=r"record 1 of the batch.*not a JSON object"):
        parse_batch(event)


def test_the_first_record_is_named_when_it_has_no_origin():
    event = make_event(make_shard(3, keys=1))
    del event["Records"][0]["eventSourceARN"]
    with pytest.raises(MalformedRecordError, match="record 0 of the batch"):
        parse_batch(event)


@pytest.mark.parametrize("event", [[], {"Records": "x"}, "text"])
def test_an_event_that_is_not_a_batch_is_refused(event):
    with pytest.raises(BadEventError):
        parse_batch(event)


def test_canonical_base64_of_every_length_decodes_exactly():
    records = make_shard(1, keys=1)
    for length in range(0, 9):
        event = make_event(records)
        payload = bytes(range(length))
        event["Records"][0]["kinesis"]["data"] = base64.b64encode(payload).decode()
        assert parse_batch(copy.deepcopy(event)).entries[0]["Data"] == payload
