"""EMF: the local Lambda runtime turns functions' embedded-metric-format log lines into
CloudWatch metrics, as CloudWatch Logs does, and the metrics are read back with the one
GetMetricData helper the report and the drain checks use (turnout.aws.cloudwatch)."""

from __future__ import annotations

import io
import json
import textwrap
import zipfile
from datetime import UTC, datetime, timedelta

import pytest

from turnout.aws.cloudwatch import metric_data, metric_stat
from turnout.deploy.package import HANDLER_NAME, build_replicator_package
from turnout.report.collect import metric_queries as report_queries
from turnout.report.collect import read_series

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

EMF_SOURCE = textwrap.dedent(
    """
    import json, os, time

    def handler(event, context):
        records = event["Records"]
        stamp = int(time.time() * 1000)
        namespace = os.environ["NAMESPACE"]
        directive = {"Namespace": namespace, "Dimensions": [["Kind"]],
                     "Metrics": [{"Name": "Seen", "Unit": "Count"}]}
        print(json.dumps({"_aws": {"Timestamp": stamp, "CloudWatchMetrics": [directive]},
                          "Kind": "ok", "Seen": len(records)}))
        # breaks the specification (no Timestamp): CloudWatch Logs extracts nothing from it
        print(json.dumps({"_aws": {"CloudWatchMetrics": [directive]}, "Kind": "bad",
                          "Seen": 1000}))
        print("a plain log line")
        return {"batchItemFailures": []}
    """
)


def _zip(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _sum(cloudwatch, namespace: str, metric: str, dimensions: dict[str, str]) -> float | None:
    now = datetime.now(UTC)
    query = metric_stat("q", namespace, metric, dimensions, "Sum", 60)
    points = metric_data(
        cloudwatch, [query], now - timedelta(minutes=30), now + timedelta(minutes=5)
    )
    return sum(points["q"].values()) if points["q"] else None


def test_emf_lines_become_metrics_invalid_ones_none_and_a_restart_repeats_nothing(lambda_kit):
    kit = lambda_kit
    namespace = f"Turnout/EmfTest-{kit.tag}"
    stream = kit.stream()
    fn = kit.function(table=kit.table(), env={"NAMESPACE": namespace}, source=EMF_SOURCE)
    kit.put(stream, [f"r{i}" for i in range(12)])
    kit.mapping("old", fn, stream, BatchSize=5)
    cloudwatch = kit.client("cloudwatch")
    state = kit.tmp_path / "runtime"
    with kit.runtime(state, metrics_interval=0.2):
        kit.wait_for(lambda: _sum(cloudwatch, namespace, "Seen", {"Kind": "ok"}) == 12)
    with kit.runtime(state, metrics_interval=0.2) as again:  # same positions file
        again.emf.flush()
    assert _sum(cloudwatch, namespace, "Seen", {"Kind": "ok"}) == 12  # nothing published twice
    assert _sum(cloudwatch, namespace, "Seen", {"Kind": "bad"}) is None
    assert again.emf.rejected == 0  # the second runtime read no line again


def test_the_deployed_replicators_metrics_are_read_back_as_the_report_reads_them(
    lambda_kit, emulator
):
    kit = lambda_kit
    parameter = f"/turnout/emf-{kit.tag}/active-direction"
    for account in ("old", "new"):
        kit.client("ssm", account).put_parameter(Name=parameter, Value="old_to_new", Type="String")
    source, target = kit.stream("old"), kit.stream("new")
    ledger = kit.name("ledger")
    kit.client("dynamodb").create_table(
        TableName=ledger,
        KeySchema=[{"AttributeName": "shard_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "shard_key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    lam = kit.client("lambda")
    package = build_replicator_package()
    name = kit.name("replicator")
    env = {
        "TURNOUT_DIRECTION": "old_to_new",
        "TURNOUT_DIRECTION_PARAMETER": parameter,
        "TURNOUT_TARGET_ROLE_ARN": f"arn:aws:iam::{emulator.new_account_id}:role/writer",
        "TURNOUT_EXTERNAL_ID": "emf-test",
        "TURNOUT_TARGET_REGION": "eu-west-1",
        "TURNOUT_STREAM_MAP": json.dumps(
            {source.split("/")[-1]: {"target": target.split("/")[-1], "ordering": "relaxed"}}
        ),
        "TURNOUT_LEDGER_TABLE": ledger,
    }
    arn = lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=kit.role("old"),
        Handler=HANDLER_NAME,
        Code={"ZipFile": package.content},
        Timeout=60,
        Environment={"Variables": env},
    )["FunctionArn"]
    kit.function_arns.add(arn)
    kit.put(source, [f"event-{i}" for i in range(300)], key="hot")
    kit.mapping(
        "old", arn, source, BatchSize=100, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    cloudwatch = kit.client("cloudwatch")
    dimensions = {"Direction": "old_to_new", "Stream": source.split("/")[-1]}
    with kit.runtime(metrics_interval=0.2):
        kit.wait_for(
            lambda: _sum(cloudwatch, "Turnout/Replication", "ReplicatedRecords", dimensions) == 300,
            timeout=60,
        )
    assert _sum(cloudwatch, "Turnout/Replication", "DuplicatesResent", dimensions) == 0
    assert _sum(cloudwatch, "Turnout/Replication", "Inversions", dimensions) == 0
    # the report's own query of the replication lag finds the series
    spec_like = type("Spec", (), {})()
    spec_like.streams = [_Stream("events", source.split("/")[-1], target.split("/")[-1])]
    lag = [q for q in report_queries(spec_like) if q.series_id == "lag:events:old-to-new"]
    now = datetime.now(UTC)
    end = now + timedelta(minutes=5)  # the report aligns its end up to the period
    [series] = read_series(cloudwatch, lag, now - timedelta(minutes=30), end, 60)
    assert series.points and all(value >= 0 for _, value in series.points)


class _Stream:
    """The part of a spec stream the report's queries read."""

    def __init__(self, name: str, old_name: str, new_name: str) -> None:
        self.name = name
        self._names = {"old": old_name, "new": new_name}
        self.ordering = "relaxed"

    def name_in(self, environment: str) -> str:
        return self._names[environment]
