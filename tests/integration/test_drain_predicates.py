"""The drain predicates and verify_consumers_drained on the emulator: Lambda consumers with
marker records (run by the local Lambda runtime), with CloudWatch metrics, and KCL applications
with a lease table.

Closed (resharded) parent shards: moto keeps routing writes to a split parent (even with the
ExplicitHashKey of a child), which no AWS stream does (docs/emulator.md). The tests here plant
the records before resharding, so the parent holds exactly what it would hold on AWS; what
needs AWS's routing to children is covered at unit level (tests/unit/test_drain_kcl.py,
tests/unit/test_hooks_drain_predicates.py).

The metric predicate reads AWS/Lambda metrics that the local Lambda runtime publishes like the
Lambda service does. The emulator publishes AWS/Kinesis IncomingRecords per minute; the tests
use periods of seconds, so they put IncomingRecords datapoints of their own at that resolution
(the emulator's minute datapoints fall at or before the records they count, never after)."""

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

from turnout.drain.base import predicate_for
from turnout.drain.lambda_consumers import LambdaMetrics
from turnout.drain.ledger import ReplicatorConsumer, ReplicatorLedger
from turnout.drain.scope import scope_from_context
from turnout.drain.verdicts import Verdict
from turnout.hooks import HookFailed
from turnout.spec.names import names

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
    markers = create_table(emulator, "old", names(spec, "old").markers_table, "marker_id")
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
        # 8 s: on a loaded CI machine 3 s passed before the first "1/2 shards drained" line.
        run_hook("verify_consumers_drained", {**ARGS, "timeout_seconds": 8}, ctx)
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
    # The services' clock held half-way through the current minute: a check that ran across a
    # minute's end would otherwise look at periods shifted by one from the datapoints put.
    pinned = (int(time.time()) // 60) * 60 + 30
    scope.service_clock = lambda: pinned
    predicate = predicate_for(spec.consumers.old[0], scope, period_seconds=60, quiet_periods=3)
    assert isinstance(predicate, LambdaMetrics)
    return spec, function, predicate


def put_metric(emulator, predicate, namespace, metric, dimension, value, minutes_ago):
    emulator.client("cloudwatch", "old").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": dimension[0], "Value": dimension[1]}],
                "Timestamp": (int(predicate.scope.service_clock()) // 60 - minutes_ago) * 60 + 1,
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
    put_metric(emulator, predicate, "AWS/Kinesis", "IncomingRecords", stream, 40, minutes_ago=5)
    for minutes in (4, 3, 2, 1):
        put_metric(
            emulator, predicate, "AWS/Kinesis", "IncomingRecords", stream, 0, minutes_ago=minutes
        )
    # Only incoming records, no IteratorAge after them yet: not provable.
    assert predicate.check().verdict is Verdict.UNKNOWN
    put_metric(
        emulator, predicate, "AWS/Lambda", "IteratorAge", ("FunctionName", function), 90000, 5
    )
    verdict = predicate.check()
    assert verdict.verdict is Verdict.NOT_DRAINED, verdict.to_dict()
    assert "IteratorAge 90000 ms" in verdict.shards[0].reason
    put_metric(emulator, predicate, "AWS/Lambda", "IteratorAge", ("FunctionName", function), 200, 4)
    put_metric(emulator, predicate, "AWS/Lambda", "Invocations", ("FunctionName", function), 3, 4)
    verdict = predicate.check()
    assert verdict.verdict is Verdict.DRAINED, verdict.to_dict()
    assert verdict.shards[0].detail["invocations_since"] == 3


def test_metrics_incoming_records_in_the_quiet_window_are_not_drained(emulator, lambda_kit):
    spec, function, predicate = metrics_setup(emulator, lambda_kit)
    stream = ("StreamName", spec.streams[0].name_in("old"))
    for minutes, value in ((3, 0), (2, 7), (1, 0)):
        put_metric(emulator, predicate, "AWS/Kinesis", "IncomingRecords", stream, value, minutes)
    put_metric(emulator, predicate, "AWS/Lambda", "IteratorAge", ("FunctionName", function), 0, 1)
    verdict = predicate.check()
    assert verdict.verdict is Verdict.NOT_DRAINED
    assert "IncomingRecords > 0 in 1 of the last 3 periods" in verdict.shards[0].reason


# --------------------------------------------------------------------------- closed parents


def split_first_shard(emulator, name: str) -> tuple[str, str, str]:
    """Split the stream's first shard in two; returns (parent, left child, right child)."""
    kinesis = emulator.client("kinesis", "old")
    parent = kinesis.list_shards(StreamName=name)["Shards"][0]
    low = int(parent["HashKeyRange"]["StartingHashKey"])
    high = int(parent["HashKeyRange"]["EndingHashKey"])
    kinesis.split_shard(
        StreamName=name, ShardToSplit=parent["ShardId"], NewStartingHashKey=str((low + high) // 2)
    )
    children = [
        shard["ShardId"]
        for shard in kinesis.list_shards(StreamName=name)["Shards"]
        if shard.get("ParentShardId") == parent["ShardId"]
    ]
    assert len(children) == 2
    return parent["ShardId"], children[0], children[1]


def test_ledger_with_one_record_left_in_a_closed_parent_is_not_drained(emulator):
    spec = make_spec(emulator)
    create_streams(emulator, spec, "old")
    name = spec.streams[0].name_in("old")
    first, second = shard_ids(emulator, "old", name)
    predicate = ReplicatorLedger(
        ReplicatorConsumer(spec, "old"), scope_from_context(context(emulator, spec), "old")
    )
    missing = predicate.check()
    assert missing.verdict is Verdict.UNKNOWN, "no ledger table: no evidence"
    assert names(spec, "old").ledger_table in missing.note

    replicated = put_to_shard(emulator, "old", name, first, "replicated")["SequenceNumber"]
    put_to_shard(emulator, "old", name, first, "left behind")  # planted before the split
    last_second = put_to_shard(emulator, "old", name, second, "other")["SequenceNumber"]
    parent, left, right = split_first_shard(emulator, name)
    assert parent == first
    table = create_table(emulator, "old", names(spec, "old").ledger_table, "shard_key")
    ddb = emulator.client("dynamodb", "old")

    def ledger(shard: str, seq: str) -> None:
        ddb.put_item(
            TableName=table,
            Item={"shard_key": {"S": f"{name}/{shard}"}, "last_sequence_number": {"S": seq}},
        )

    ledger(first, replicated)
    ledger(second, last_second)
    verdict = predicate.check()
    assert {shard.shard: shard.verdict for shard in verdict.shards} == {
        first: Verdict.NOT_DRAINED,
        second: Verdict.DRAINED,
        left: Verdict.DRAINED,
        right: Verdict.DRAINED,
    }
    assert verdict.verdict is Verdict.NOT_DRAINED

    ledger(first, str(int(replicated) + 1))
    assert predicate.check().verdict is Verdict.DRAINED


def test_kcl_closed_parent_with_one_unprocessed_record_and_then_finished(emulator):
    leases = f"app-leases-{uuid.uuid4().hex[:8]}"
    consumer = {"kind": "kcl", "application": "app", "lease_table": leases, "streams": ["events"]}
    spec = make_spec(emulator, consumers_old=[consumer], shards=1)
    create_streams(emulator, spec, "old")
    name = spec.streams[0].name_in("old")
    (shard,) = shard_ids(emulator, "old", name)
    processed = put_to_shard(emulator, "old", name, shard, "a")["SequenceNumber"]
    put_to_shard(emulator, "old", name, shard, "b")  # planted before the split
    parent, left, right = split_first_shard(emulator, name)
    create_table(emulator, "old", leases, "leaseKey")
    ddb = emulator.client("dynamodb", "old")

    def lease(key: str, checkpoint: str, **extra: dict) -> None:
        item = {"leaseKey": {"S": key}, "checkpoint": {"S": checkpoint}, **extra}
        ddb.put_item(TableName=leases, Item=item)

    lease(parent, processed, checkpointSubSequenceNumber={"N": "0"})
    lease(left, "TRIM_HORIZON", parentShardIds={"SS": [parent]})
    lease(right, "TRIM_HORIZON", parentShardIds={"SS": [parent]})
    predicate = predicate_for(
        spec.consumers.old[0], scope_from_context(context(emulator, spec), "old")
    )
    verdict = predicate.check()
    assert {shard.shard: shard.verdict for shard in verdict.shards} == {
        parent: Verdict.NOT_DRAINED,
        left: Verdict.DRAINED,
        right: Verdict.DRAINED,
    }
    # The parent's lease gone while no child has started: its records were never processed.
    ddb.delete_item(TableName=leases, Key={"leaseKey": {"S": parent}})
    assert predicate.check().verdict is Verdict.NOT_DRAINED
    lease(parent, "SHARD_END")
    assert predicate.check().verdict is Verdict.DRAINED


def test_markers_prove_nothing_while_a_record_is_stuck_in_a_closed_parent(emulator, lambda_kit):
    spec, _table, _ = marker_setup(emulator, lambda_kit)
    name = spec.streams[0].name_in("old")
    first, _second = shard_ids(emulator, "old", name)
    put_to_shard(emulator, "old", name, first, "FAIL: stuck in the parent")
    parent, left, right = split_first_shard(emulator, name)
    lambda_kit.runtime().start_in_thread()
    with pytest.raises(HookFailed) as failure:
        run_hook(
            "verify_consumers_drained", {**ARGS, "timeout_seconds": 3}, context(emulator, spec)
        )
    verdicts = {
        shard["shard"]: shard["verdict"] for shard in failure.value.data["consumers"][0]["shards"]
    }
    assert verdicts[parent] == "not_drained"
    assert {verdicts[left], verdicts[right]} == {"not_drained"}, "children wait for the parent"


# --------------------------------------------------------------------------- metrics by the runtime

PERIOD = 2  # seconds: short periods keep the test short; the predicate reads any period


class KinesisMetrics:
    """What the Kinesis service publishes, at the test's resolution (the emulator's is a
    minute): IncomingRecords of a stream, one datapoint per period (0 when nothing came in)."""

    def __init__(self, emulator, stream: str) -> None:
        self.cloudwatch = emulator.client("cloudwatch", "old")
        self.stream = stream
        self.published: set[int] = set()  # period numbers

    def put(self, period: int, value: float) -> None:
        self.cloudwatch.put_metric_data(
            Namespace="AWS/Kinesis",
            MetricData=[
                {
                    "MetricName": "IncomingRecords",
                    "Dimensions": [{"Name": "StreamName", "Value": self.stream}],
                    "Timestamp": period * PERIOD + 0.5,
                    "Value": value,
                }
            ],
        )
        self.published.add(period)

    def records_came_in(self, count: int) -> None:
        self.put(int(time.time() // PERIOD), count)

    def check_after_quiet(self, predicate, periods: int):
        """Let `periods` periods pass without records, publishing their zeros, then check. Under
        load the check may start a period late: the zeros are published up to then, again."""
        last = max(self.published)
        time.sleep(max(0.0, (last + 1 + periods) * PERIOD + 0.05 - time.time()))
        for _ in range(3):
            current = int(time.time() // PERIOD)
            for period in range(last + 1, current):
                if period not in self.published:
                    self.put(period, 0)
            verdict = predicate.check()
            if int(time.time() // PERIOD) == current:
                return verdict
        return verdict


def test_metrics_published_by_the_local_runtime_decide_the_drain(emulator, lambda_kit):
    function = lambda_kit.name("fn")
    consumer = {"kind": "lambda", "function_name": function, "streams": ["events"]}
    spec = make_spec(emulator, consumers_old=[consumer], shards=1)
    arn = create_streams(emulator, spec, "old")["events"]
    name = spec.streams[0].name_in("old")
    table = lambda_kit.table()
    function_arn = lambda_kit.function(
        table=table, name=function, env={"MARKERS_TABLE": table}, source=MARKER_CONSUMER
    )
    mapping = lambda_kit.mapping("old", function_arn, arn, Enabled=False, BatchSize=10)
    predicate = predicate_for(
        spec.consumers.old[0],
        scope_from_context(context(emulator, spec), "old"),
        period_seconds=PERIOD,
        quiet_periods=2,
        lookback_periods=30,
        max_iterator_age_ms=2000,  # the emulator's arrival times are coarse
    )
    assert predicate.check().verdict is Verdict.UNKNOWN, "no metric at all: unknown"

    kinesis = KinesisMetrics(emulator, name)
    (shard,) = shard_ids(emulator, "old", name)
    for index in range(3):
        put_to_shard(emulator, "old", name, shard, f"r{index}")
    kinesis.records_came_in(3)
    time.sleep(3.5)  # the consumer is paused: these records age
    lambda_kit.client("lambda").update_event_source_mapping(UUID=mapping, Enabled=True)
    runtime = lambda_kit.runtime(metrics_interval=0.2).start_in_thread()
    ddb = emulator.client("dynamodb", "old")
    lambda_kit.wait_for(lambda: ddb.scan(TableName=table)["Count"] == 3)
    time.sleep(2.0)  # metrics flushes (every 0.2 s, slower on a loaded machine)
    late = kinesis.check_after_quiet(predicate, 2)
    assert late.verdict is Verdict.NOT_DRAINED, late.to_dict()
    assert "IteratorAge" in late.shards[0].reason

    put_to_shard(emulator, "old", name, shard, "r3")
    kinesis.records_came_in(1)
    lambda_kit.wait_for(lambda: ddb.scan(TableName=table)["Count"] == 4)
    time.sleep(2.0)  # metrics flushes (every 0.2 s, slower on a loaded machine)
    drained = kinesis.check_after_quiet(predicate, 2)
    assert drained.verdict is Verdict.DRAINED, drained.to_dict()
    assert drained.shards[0].detail["invocations_since"] >= 1
    assert runtime.metrics.sent > 0
