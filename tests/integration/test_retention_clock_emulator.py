"""The retention clock on the emulator's `aws` profile with a fast sandbox clock (one simulated
hour per real second): records wait in a paused new stream; the gate before mirrored->new-live
(the real built-in hook `check_preflight`, reading the stream through the environment's
credentials) passes while the oldest is hours younger than the 24-hour retention, and refuses
once producers have written for longer than retention and Kinesis trims the stream. The ages
come from the stream (MillisBehindLatest on the sandbox clock): this machine's clock would call
them seconds old."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from clock_kit import fast_clock_emulator
from hooks_kit import create_streams, make_spec

from turnout.aws.access import AwsAccess
from turnout.aws.cloudwatch import metric_data, metric_stat
from turnout.engine.hook_runner import HookRunner
from turnout.engine.steps import gate, transition
from turnout.hooks import HookContext
from turnout.preflight.gate import PreflightRefused
from turnout.sandbox.emulator.launcher import Emulator

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CLOCK_RATE = 3600.0  # one simulated hour per real second: 24 h of retention pass in 24 s
RETENTION_HOURS = 24  # the emulator's default, as on AWS


@pytest.fixture(scope="module")
def fast_clock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with fast_clock_emulator(tmp_path_factory.mktemp("retention-clock"), CLOCK_RATE) as emulator:
        yield emulator


class Producer:
    """Writes to one new stream without pause, as producers do after the switch."""

    def __init__(self, emu: Emulator, stream: str) -> None:
        self.kinesis = emu.session("new").client("kinesis", endpoint_url=emu.endpoint_url)
        self.stream = stream
        self.stop = threading.Event()
        self.written = 0
        self.thread = threading.Thread(target=self._write, daemon=True)

    def _write(self) -> None:
        while not self.stop.is_set():
            self.kinesis.put_record(StreamName=self.stream, Data=b"{}", PartitionKey="k")
            self.written += 1

    def run_for(self, seconds: float) -> None:
        self.thread.start()
        time.sleep(seconds)

    def finish(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def paused_new_stream(emu: Emulator):
    spec = make_spec(emu, shards=1)
    create_streams_in(emu, spec)
    return spec, Producer(emu, spec.streams[0].name_in("new"))


def create_streams_in(emu: Emulator, spec) -> None:
    class ByEnvironment:  # hooks_kit's helper takes the shared fixture's client(service, env)
        def client(self, service: str, environment: str):
            return emu.session(environment).client(service, endpoint_url=emu.endpoint_url)

    create_streams(ByEnvironment(), spec, "new")


def gate_before_new_live(emu: Emulator, spec) -> dict:
    step = gate(transition("mirrored", "new-live", spec), {})
    quick = replace(step, args=lambda s, args=step.args: {**args(s), "unknown_wait_seconds": 0})
    context = HookContext(
        spec=spec,
        aws=AwsAccess.for_emulator(spec, emu),
        phase_from="mirrored",
        phase_to="new-live",
        project_root=REPO,
        progress=lambda message: None,
        switched_at="2026-03-02T10:00:00+00:00",
    )
    return HookRunner(REPO / "hooks").run(quick, spec, context)


def test_records_hours_younger_than_retention_pass_the_gate_before_new_live(fast_clock):
    spec, producer = paused_new_stream(fast_clock)
    producer.run_for(3)  # about 3 simulated hours of writes
    producer.finish()
    outcome = gate_before_new_live(fast_clock, spec)
    row = next(c for c in outcome["checks"] if c["name"] == "retention-clock")
    assert row["verdict"] == "pass", row
    assert "events: its oldest record (shardId-000000000000) is " in row["fact"]
    assert "of its 24.0 h retention (measured with MillisBehindLatest" in row["fact"]
    age_hours = float(re.search(r"oldest record \(shardId-0+\) is ([\d.]+) h old", row["fact"])[1])
    assert 2.0 <= age_hours < 19.2, row["fact"]  # hours on the sandbox clock, not seconds


def test_records_trimmed_in_a_paused_new_stream_make_the_gate_refuse_new_live(fast_clock):
    spec, producer = paused_new_stream(fast_clock)
    try:
        producer.run_for(RETENTION_HOURS * 3600 / CLOCK_RATE + 3)  # 27 simulated hours
        kinesis = producer.kinesis
        shard = kinesis.list_shards(StreamName=producer.stream)["Shards"][0]["ShardId"]
        iterator = kinesis.get_shard_iterator(
            StreamName=producer.stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        first = kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"][0]
        assert int(first["SequenceNumber"]) > 1, "the first records written were trimmed"
        with pytest.raises(PreflightRefused) as refused:
            gate_before_new_live(fast_clock, spec)
    finally:
        producer.finish()
    message = str(refused.value)
    assert "refused before mirrored->new-live by the preflight" in message
    assert "retention-clock failed: events: its oldest record" in message
    assert "it has reached retention, so Kinesis is trimming the stream" in message
    assert re.search(r"are gone \(at least [\d,]+ records written since the switch", message)
    assert "its paused consumers would start after that gap" in message


def test_the_lambda_services_metrics_are_stamped_on_the_sandbox_clock(fast_clock, lambda_kit_for):
    """AWS/Lambda Invocations and IteratorAge, which the consumers' iterator-age alarms and the
    metric drain check read, carry the invocation's time on the clock CloudWatch keeps: in the
    sandbox the accelerated one, as the emulator's AWS/Kinesis metrics do. Stamped with this
    machine's clock they fell hours before the periods an alarm or a drain check looks at, so a
    rehearsal never saw them. https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html"""
    kit = lambda_kit_for(fast_clock)
    table = kit.table()
    stream = kit.stream()
    function_arn = kit.function(table=table)
    function = function_arn.split(":")[6]
    before = fast_clock.profile.now()
    kit.put(stream, ["m0"])
    time.sleep(0.5)  # half an hour on the sandbox clock
    kit.mapping("old", function_arn, stream)
    with kit.runtime(metrics_interval=0.2) as runtime:
        kit.wait_for(lambda: kit.processed(table) == ["m0"], 30)
        kit.wait_for(lambda: runtime.metrics.sent > 0, 20)
    after = fast_clock.profile.now()
    dimensions = {"FunctionName": function}
    queries = [
        metric_stat("inv", "AWS/Lambda", "Invocations", dimensions, "Sum", 60),
        metric_stat("age", "AWS/Lambda", "IteratorAge", dimensions, "Maximum", 60),
    ]
    start, end = (datetime.fromtimestamp(moment, UTC) for moment in (before - 60, after + 60))
    points = metric_data(kit.client("cloudwatch"), queries, start, end)
    assert sum(points["inv"].values()) >= 1, "no Invocations datapoint on the sandbox clock"
    # The record waited at least half a second of this machine's time: half an hour on the
    # sandbox clock, the clock its arrival time and the invocation's are both read on.
    assert max(points["age"].values()) >= 1_790_000, points["age"]


CLOCK_READER_SOURCE = """
import os
import time

import boto3

ddb = boto3.client("dynamodb")


def handler(event, context):
    ddb.put_item(
        TableName=os.environ["TABLE"],
        Item={
            "pk": {"S": "clock#" + context.aws_request_id},
            "time": {"N": repr(time.time())},
            "time_ns": {"N": str(time.time_ns())},
            "remaining_ms": {"N": str(context.get_remaining_time_in_millis())},
        },
    )
"""


def test_a_function_reads_the_sandbox_clock_as_functions_on_aws_read_the_services(
    fast_clock, lambda_kit_for
):
    """On AWS a function's clock and the services' agree, so what it computes from them (the
    replicator's ReplicationLagMs: its time minus a record's arrival; the EMF timestamps of its
    metrics) means something. In the sandbox, `time.time()` in a function reads the sandbox
    clock; on this machine's clock the replicator's lag read 0 under a faster clock and its
    metrics fell hours before the periods the report reads. The invocation's deadline stays on
    real time: a 10-second timeout leaves at most 10 real seconds."""
    kit = lambda_kit_for(fast_clock)
    table = kit.table()
    stream = kit.stream()
    function_arn = kit.function(table=table, source=CLOCK_READER_SOURCE)
    before = fast_clock.profile.now()
    kit.put(stream, ["m0"])
    kit.mapping("old", function_arn, stream)
    ddb = kit.client("dynamodb")
    with kit.runtime():
        kit.wait_for(lambda: ddb.scan(TableName=table)["Items"], 30)
    after = fast_clock.profile.now()
    (item,) = ddb.scan(TableName=table)["Items"]
    seen = float(item["time"]["N"])
    assert before <= seen <= after, f"the function read {seen}, not in [{before}, {after}]"
    assert abs(int(item["time_ns"]["N"]) / 1e9 - seen) <= after - before
    assert 0 < int(item["remaining_ms"]["N"]) <= 10_000


def test_sessions_are_granted_for_their_duration_on_the_sandbox_clock(fast_clock):
    """The replicator renews the writer role's session before its Expiration by its own clock
    (the sandbox clock in the sandbox, above). Dated on this machine's clock, every session
    looked expired to it at once under a faster clock.
    https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html"""
    sts = fast_clock.client("sts", "old")
    role = f"arn:aws:iam::{fast_clock.old_account_id}:role/turnout-clock-test"
    before = fast_clock.profile.now()
    answer = sts.assume_role(RoleArn=role, RoleSessionName="clock", DurationSeconds=3600)
    after = fast_clock.profile.now()
    expires = answer["Credentials"]["Expiration"].timestamp()
    assert before + 3600 <= expires <= after + 3600 + 1, (before, expires, after)
