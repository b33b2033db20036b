"""The drain predicates and verify_consumers_drained on the emulator: Lambda consumers with
marker records (run by the local Lambda runtime), with CloudWatch metrics (datapoints put by the
test: the emulator publishes none), and KCL applications with a lease table.

Closed (resharded) parent shards are covered at unit level (tests/unit/test_hooks_drain_
predicates.py): moto keeps writing to a split parent and renumbers its records, which no AWS
stream does (docs/emulator.md)."""

from __future__ import annotations

import time
import uuid

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

from turnout.drain import (
    LambdaMetrics,
    Verdict,
    markers_table_name,
    predicate_for,
    scope_from_context,
)
from turnout.hooks import HookFailed

pytestmark = pytest.mark.integration


def marker_setup(emulator, lambda_kit, *, enabled: bool = True):
    consumer = {
        "kind": "lambda",
        "function_name": lambda_kit.name("fn"),
        "streams": ["events"],
        "drain_evidence": "markers",
    }
    spec = make_spec(emulator, consumers_old=[consumer])
    arn = create_streams(emulator, spec, "old")["events"]
    markers = create_table(emulator, "old", markers_table_name(spec, "old"), "marker_id")
    table = lambda_kit.table()
    function = lambda_kit.function(
        table=table, env={"MARKERS_TABLE": markers}, source=MARKER_CONSUMER
    )
    mapping = lambda_kit.mapping("old", function, arn, Enabled=enabled, BatchSize=10)
    return spec, table, mapping


ARGS = {"environment": "old", "timeout_seconds": 15, "poll_seconds": 0.2, "reads_per_second": 5}


def test_markers_acknowledged_by_a_running_consumer_prove_the_drain(emulator, lambda_kit):
    spec, table, _ = marker_setup(emulator, lambda_kit)
    name = spec.streams[0].name_in("old")
    for shard in shard_ids(emulator, "old", name):
        for index in range(3):
            put_to_shard(emulator, "old", name, shard, f"{shard}-{index}")
    lambda_kit.runtime().start_in_thread()
    ctx = context(emulator, spec)
    data = run_hook("verify_consumers_drained", ARGS, ctx)
    assert data["drained"] is True
    (consumer,) = data["consumers"]
    assert consumer["evidence"] == "markers"
    assert {shard["verdict"] for shard in consumer["shards"]} == {"drained"}
    assert len(consumer["shards"]) == 2
    records = emulator.client("dynamodb", "old").scan(TableName=table)["Items"]
    assert len(records) == 6, "every record before the markers was processed"


def test_one_stuck_record_in_one_shard_is_not_drained(emulator, lambda_kit):
    spec, _table, _ = marker_setup(emulator, lambda_kit)
    name = spec.streams[0].name_in("old")
    first, second = shard_ids(emulator, "old", name)
    put_to_shard(emulator, "old", name, first, "fine")
    put_to_shard(emulator, "old", name, second, "FAIL: the consumer cannot get past this")
    lambda_kit.runtime().start_in_thread()
    ctx = context(emulator, spec)
    with pytest.raises(HookFailed, match=f"{second}: not_drained") as failure:
        run_hook("verify_consumers_drained", {**ARGS, "timeout_seconds": 3}, ctx)
    verdicts = {
        shard["shard"]: shard["verdict"] for shard in failure.value.data["consumers"][0]["shards"]
    }
    assert verdicts == {first: "drained", second: "not_drained"}
    assert any("1/2 shards drained" in line for line in ctx.progress)


def test_a_paused_consumer_cannot_be_proven_drained_its_verdict_is_unknown(emulator, lambda_kit):
    spec, _table, _ = marker_setup(emulator, lambda_kit, enabled=False)
    lambda_kit.runtime().start_in_thread()
    with pytest.raises(HookFailed, match=r"unknown .*Disabled") as failure:
        run_hook(
            "verify_consumers_drained", {**ARGS, "timeout_seconds": 1}, context(emulator, spec)
        )
    assert failure.value.data["consumers"][0]["verdict"] == "unknown"


def test_dry_run_puts_no_marker(emulator, lambda_kit):
    spec, _table, _ = marker_setup(emulator, lambda_kit)
    data = run_hook("verify_consumers_drained", ARGS, context(emulator, spec, dry_run=True))
    assert data["dry_run"] is True
    assert data["consumers"][0]["verdict"] == "unknown"
    kinesis = emulator.client("kinesis", "old")
    name = spec.streams[0].name_in("old")
    for shard in shard_ids(emulator, "old", name):
        iterator = kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        assert kinesis.get_records(ShardIterator=iterator)["Records"] == []


# --------------------------------------------------------------------------- KCL


def test_kcl_lease_checkpoints_decide_per_shard(emulator):
    leases = f"app-leases-{uuid.uuid4().hex[:8]}"
    consumer = {"kind": "kcl", "application": "app", "lease_table": leases, "streams": ["events"]}
    spec = make_spec(emulator, consumers_old=[consumer])
    create_streams(emulator, spec, "old")
    ctx = context(emulator, spec)
    args = {**ARGS, "timeout_seconds": 0.5}
    with pytest.raises(HookFailed, match=f"lease table {leases} not found"):
        run_hook("verify_consumers_drained", args, ctx)

    create_table(emulator, "old", leases, "leaseKey")
    name = spec.streams[0].name_in("old")
    first, second = shard_ids(emulator, "old", name)
    done = put_to_shard(emulator, "old", name, first, "a")["SequenceNumber"]
    checkpoint = put_to_shard(emulator, "old", name, second, "b")["SequenceNumber"]
    put_to_shard(emulator, "old", name, second, "c")  # after the checkpoint
    ddb = emulator.client("dynamodb", "old")
    for shard, value in ((first, done), (second, checkpoint)):
        ddb.put_item(
            TableName=leases,
            Item={"leaseKey": {"S": shard}, "checkpoint": {"S": value}, "leaseOwner": {"S": "w"}},
        )
    with pytest.raises(HookFailed, match=f"{second}: not_drained") as failure:
        run_hook("verify_consumers_drained", args, ctx)
    shards = failure.value.data["consumers"][0]["shards"]
    assert {shard["shard"]: shard["verdict"] for shard in shards} == {
        first: "drained",
        second: "not_drained",
    }
    ddb.put_item(
        TableName=leases,
        Item={"leaseKey": {"S": second}, "checkpoint": {"S": "SHARD_END"}},
    )
    assert run_hook("verify_consumers_drained", args, ctx)["drained"] is True


# --------------------------------------------------------------------------- metrics


def metrics_setup(emulator, lambda_kit):
    function = lambda_kit.name("metrics-fn")
    consumer = {"kind": "lambda", "function_name": function, "streams": ["events"]}
    spec = make_spec(emulator, consumers_old=[consumer])
    ctx = context(emulator, spec)
    scope = scope_from_context(ctx, "old")
    predicate = predicate_for(spec.consumers.old[0], scope, period_seconds=60, quiet_periods=3)
    assert isinstance(predicate, LambdaMetrics)
    return spec, function, predicate


def put_metric(emulator, namespace, metric, dimension, value, minutes_ago):
    emulator.client("cloudwatch", "old").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": dimension[0], "Value": dimension[1]}],
                "Timestamp": (int(time.time()) // 60 - minutes_ago) * 60 + 1,
                "Value": value,
            }
        ],
    )


def test_metrics_missing_datapoints_are_unknown_never_drained(emulator, lambda_kit):
    _spec, _function, predicate = metrics_setup(emulator, lambda_kit)
    verdict = predicate.check()
    assert verdict.verdict is Verdict.UNKNOWN
    assert "no IncomingRecords datapoint" in verdict.shards[0].reason


def test_metrics_quiet_stream_and_settled_iterator_age_are_drained(emulator, lambda_kit):
    spec, function, predicate = metrics_setup(emulator, lambda_kit)
    stream = ("StreamName", spec.streams[0].name_in("old"))
    put_metric(emulator, "AWS/Kinesis", "IncomingRecords", stream, 40, minutes_ago=5)
    for minutes in (4, 3, 2, 1):
        put_metric(emulator, "AWS/Kinesis", "IncomingRecords", stream, 0, minutes_ago=minutes)
    # Only incoming records, no IteratorAge after them yet: not provable.
    assert predicate.check().verdict is Verdict.UNKNOWN
    put_metric(emulator, "AWS/Lambda", "IteratorAge", ("FunctionName", function), 90000, 5)
    verdict = predicate.check()
    assert verdict.verdict is Verdict.NOT_DRAINED, verdict.to_dict()
    assert "IteratorAge 90000 ms" in verdict.shards[0].reason
    put_metric(emulator, "AWS/Lambda", "IteratorAge", ("FunctionName", function), 200, 4)
    put_metric(emulator, "AWS/Lambda", "Invocations", ("FunctionName", function), 3, 4)
    verdict = predicate.check()
    assert verdict.verdict is Verdict.DRAINED, verdict.to_dict()
    assert verdict.shards[0].detail["invocations_since"] == 3


def test_metrics_incoming_records_in_the_quiet_window_are_not_drained(emulator, lambda_kit):
    spec, function, predicate = metrics_setup(emulator, lambda_kit)
    stream = ("StreamName", spec.streams[0].name_in("old"))
    for minutes, value in ((3, 0), (2, 7), (1, 0)):
        put_metric(emulator, "AWS/Kinesis", "IncomingRecords", stream, value, minutes)
    put_metric(emulator, "AWS/Lambda", "IteratorAge", ("FunctionName", function), 0, 1)
    verdict = predicate.check()
    assert verdict.verdict is Verdict.NOT_DRAINED
    assert "IncomingRecords > 0 in 1 of the last 3 periods" in verdict.shards[0].reason
