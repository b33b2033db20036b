"""The sample consumer's Lambda handler (turnout.sandbox.pipeline.consumer) on the emulator's
DynamoDB, called as Lambda calls it: one item per record in order, a marker acknowledged once
everything before it is stored, and the first record not stored named in batchItemFailures."""

from __future__ import annotations

import base64
import json
import uuid
from types import SimpleNamespace

import pytest
from hooks_kit import create_table

from turnout.sandbox.pipeline import consumer

pytestmark = pytest.mark.integration
ARN = "arn:aws:kinesis:eu-west-1:111111111111:stream/events"


def kinesis_record(sequence: int, payload: dict) -> dict:
    return {
        "kinesis": {
            "partitionKey": "k",
            "sequenceNumber": str(sequence),
            "data": base64.b64encode(json.dumps(payload).encode()).decode(),
            "approximateArrivalTimestamp": 1.0,
        },
        "eventID": f"shardId-000000000000:{sequence}",
        "eventSourceARN": ARN,
    }


@pytest.fixture
def tables(emulator, monkeypatch):
    tag = uuid.uuid4().hex[:8]
    processed = create_table(emulator, "old", f"processed-{tag}", "processing_id")
    markers = create_table(emulator, "old", f"markers-{tag}", "marker_id")
    monkeypatch.setenv("SANDBOX_PROCESSED_TABLE", processed)
    monkeypatch.setenv("SANDBOX_MARKERS_TABLE", markers)
    monkeypatch.setenv("SANDBOX_ENVIRONMENT", "old")
    consumer.use_client(emulator.client("dynamodb", "old"))
    yield processed, markers
    consumer.use_client(None)


def test_the_handler_stores_each_record_and_acknowledges_the_marker_after_them(emulator, tables):
    processed, markers = tables
    events = [{"id": f"e{i}", "key": "k", "stream": "events", "seq": i} for i in range(3)]
    records = [kinesis_record(i + 1, event) for i, event in enumerate(events)]
    records.append(kinesis_record(4, {"turnout_marker": {"id": "m-1"}}))
    context = SimpleNamespace(function_name="legacy-clicks-processor", aws_request_id="r-1")
    assert consumer.handler({"Records": records}, context) == {"batchItemFailures": []}
    dynamodb = emulator.client("dynamodb", "old")
    items = sorted(
        dynamodb.scan(TableName=processed)["Items"], key=lambda i: i["processed_order"]["S"]
    )
    assert [item["event_id"]["S"] for item in items] == ["e0", "e1", "e2"]
    assert {item["consumer"]["S"] for item in items} == {"legacy-clicks-processor"}
    (marker,) = dynamodb.scan(TableName=markers)["Items"]
    assert marker["marker_id"]["S"] == "m-1" and marker["sequence_number"]["S"] == "4"


def test_a_batch_whose_table_is_missing_names_its_first_record(emulator, tables, monkeypatch):
    monkeypatch.setenv("SANDBOX_PROCESSED_TABLE", "no-such-table")
    records = [kinesis_record(7, {"id": "e7", "key": "k", "stream": "events", "seq": 7})]
    context = SimpleNamespace(function_name="f", aws_request_id="r-2")
    answer = consumer.handler({"Records": records}, context)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "7"}]}
