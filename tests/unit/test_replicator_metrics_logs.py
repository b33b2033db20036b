"""Metrics are one EMF log line per invocation (no API call); logs are JSON lines without
payloads or secrets."""

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

from turnout.sandbox.lambda_runtime.emf import metric_data


def test_metrics_are_one_emf_line_with_the_same_names_dimensions_and_units_as_before():
    aws = FakeAws(FakeClock(), entry_failure_rate=0.2, seed=2)
    replicator, logs = make_replicator(aws)
    records = make_shard(400, keys=50, payload_bytes=80)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    emf_lines = [line for line in logs if '"_aws"' in line]
    assert len(emf_lines) == 1
    data = metric_data(emf_lines[0])  # what CloudWatch Logs extracts
    by_name = {datum["MetricName"]: datum for datum in data}
    assert set(by_name) == {
        "ReplicatedRecords",
        "ReplicatedBytes",
        "RetriedEntries",
        "Throttles",
        "ReplicationLagMs",
        "DuplicatesResent",
        "Inversions",
        "UnknownOutcomeEntries",
    }
    for datum in data:
        assert datum["Namespace"] == "Turnout/Replication"
        assert datum["Dimensions"] == [
            {"Name": "Direction", "Value": DIRECTION},
            {"Name": "Stream", "Value": SOURCE_STREAM},
        ]
        assert datum["Timestamp"].timestamp() == int(aws.clock.time() * 1000) / 1000
    assert by_name["ReplicatedRecords"]["Value"] == 400
    assert by_name["ReplicatedBytes"]["Value"] == sum(
        len(r.data) + len(r.partition_key) for r in records
    )
    assert by_name["ReplicatedBytes"]["Unit"] == "Bytes"
    assert by_name["RetriedEntries"]["Value"] == outcome.retried_entries > 0
    newest = max(r.arrival for r in records)
    assert by_name["ReplicationLagMs"]["Value"] == round((aws.clock.time() - newest) * 1000, 3)
    assert by_name["ReplicationLagMs"]["Unit"] == "Milliseconds"
    # The lag is high resolution (the report draws it at 10 s); the counts are per minute.
    assert by_name["ReplicationLagMs"]["StorageResolution"] == 1
    assert by_name["ReplicatedRecords"]["StorageResolution"] == 60


def test_metrics_need_no_cloudwatch_client():
    aws = FakeAws(FakeClock())
    services = []
    original = aws.client_factory

    def factory(service, **kwargs):
        services.append(service)
        return original(service, **kwargs)

    aws.client_factory = factory
    replicator, _ = make_replicator(aws)
    records = make_shard(100, keys=10)
    assert replicator.handle(make_event(records), FakeContext(aws.clock)) == {
        "batchItemFailures": []
    }
    check_delivery(aws.target(), records)
    assert "cloudwatch" not in services
    assert aws.metric_sum("ReplicatedRecords") == 100


def test_nothing_written_publishes_no_lag():
    aws = FakeAws(FakeClock(), entry_failure_rate=1.0)
    replicator, _ = make_replicator(aws)
    replicator.process(make_event(make_shard(10, keys=2)), FakeContext(aws.clock, 30_000))
    names = {datum["MetricName"] for datum in aws.metric_data()}
    assert "ReplicationLagMs" not in names and "ReplicatedRecords" in names


def test_logs_are_json_lines_without_payloads_or_credentials():
    aws = FakeAws(FakeClock(), entry_failure_rate=0.3, seed=8)
    aws.revoke_all()
    replicator, logs = make_replicator(aws)
    records = make_shard(50, keys=5, payload_bytes=40)
    marker = b"SECRET-PAYLOAD-MARKER"
    records[0].data = marker + records[0].data
    replicator.process(make_event(records), FakeContext(aws.clock, request_id="abc-123"))

    parsed = [json.loads(line) for line in logs]  # every line is one JSON object
    assert all("message" in p for p in parsed)
    assert all({"time", "level"} <= set(p) for p in parsed if "_aws" not in p)
    summary = [p for p in parsed if p["message"] == "batch_done"]
    assert summary and summary[0]["request_id"] == "abc-123"
    assert summary[0]["records"] == 50 and summary[0]["written"] >= 50
    text = "\n".join(logs)
    assert "SECRET-PAYLOAD" not in text and "U0VDUkVU" not in text  # raw or base64
    assert "secret-ASIA" not in text and "token-ASIA" not in text
