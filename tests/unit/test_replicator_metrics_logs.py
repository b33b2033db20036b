"""Metrics are published best effort; logs are JSON lines without payloads or secrets."""

from __future__ import annotations

import json

from fakes_kinesis import (
    DIRECTION,
    SOURCE_STREAM,
    FakeAws,
    FakeClock,
    FakeContext,
    check_delivery,
    make_event,
    make_replicator,
    make_shard,
)


def test_metrics_carry_direction_and_stream_dimensions_and_the_lag():
    aws = FakeAws(FakeClock(), entry_failure_rate=0.2, seed=2)
    replicator, _ = make_replicator(aws)
    records = make_shard(400, keys=50, payload_bytes=80)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    [call] = aws.metric_calls
    assert call["Namespace"] == "Turnout/Replication"
    by_name = {d["MetricName"]: d for d in call["MetricData"]}
    assert set(by_name) == {
        "ReplicatedRecords",
        "ReplicatedBytes",
        "RetriedEntries",
        "Throttles",
        "ReplicationLagMs",
        "DuplicatesResent",
    }
    for datum in call["MetricData"]:
        assert datum["Dimensions"] == [
            {"Name": "Direction", "Value": DIRECTION},
            {"Name": "Stream", "Value": SOURCE_STREAM},
        ]
    assert by_name["ReplicatedRecords"]["Value"] == 400
    assert by_name["ReplicatedBytes"]["Value"] == sum(
        len(r.data) + len(r.partition_key) for r in records
    )
    assert by_name["RetriedEntries"]["Value"] == outcome.retried_entries > 0
    newest = max(r.arrival for r in records)
    assert by_name["ReplicationLagMs"]["Value"] == (aws.clock.time() - newest) * 1000
    assert by_name["ReplicationLagMs"]["Unit"] == "Milliseconds"


def test_metrics_failure_never_fails_the_batch():
    aws = FakeAws(FakeClock(), metrics_error="InternalServiceError")
    replicator, logs = make_replicator(aws)
    records = make_shard(100, keys=10)
    assert replicator.handle(make_event(records), FakeContext(aws.clock)) == {
        "batchItemFailures": []
    }
    check_delivery(aws.target(), records)
    assert any("metrics_not_published" in line for line in logs)


def test_logs_are_json_lines_without_payloads_or_credentials():
    aws = FakeAws(FakeClock(), entry_failure_rate=0.3, seed=8)
    aws.revoke_all()
    replicator, logs = make_replicator(aws)
    records = make_shard(50, keys=5, payload_bytes=40)
    marker = b"SECRET-PAYLOAD-MARKER"
    records[0].data = marker + records[0].data
    replicator.process(make_event(records), FakeContext(aws.clock, request_id="abc-123"))

    parsed = [json.loads(line) for line in logs]  # every line is one JSON object
    assert all({"time", "level", "message"} <= set(p) for p in parsed)
    summary = [p for p in parsed if p["message"] == "batch_done"]
    assert summary and summary[0]["request_id"] == "abc-123"
    assert summary[0]["records"] == 50 and summary[0]["written"] == 50
    text = "\n".join(logs)
    assert "SECRET-PAYLOAD" not in text and "U0VDUkVU" not in text  # raw or base64
    assert "secret-ASIA" not in text and "token-ASIA" not in text
