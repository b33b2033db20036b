"""Both environments applied with real Terraform into the emulator, checked with boto3."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from turnout import deploy
from turnout.deploy.plan_summary import ProtectedResourcesRefused
from turnout.deploy.render import render_environments
from turnout.deploy.terraform import TerraformRunner, terraform_settings
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec
from turnout.spec.names import direction_parameter, names

pytestmark = pytest.mark.integration

REPLICATOR_MAPPING = 'module.replicator[0].aws_lambda_event_source_mapping.this["{stream}"]'


@pytest.fixture(scope="module")
def spec(sandbox_project) -> MigrationSpec:
    return load_spec(sandbox_project.spec_path)


@pytest.fixture(scope="module")
def applied(sandbox_project, spec, emulator) -> dict:
    """Apply both environments side by side (as the cutover does: separate states); return the
    rendered tfvars paths by environment. Most of a first apply is the provider waiting for
    resources to become ready, so the two overlap well."""
    vars_dir = sandbox_project.work_dir / "tfvars"
    vars_dir.mkdir()
    paths = {}
    for rendered in render_environments(spec, sandbox_project.terraform_dir, output_dir=vars_dir):
        rendered.write()
        paths[rendered.environment] = rendered.path

    def apply(environment: str):
        return deploy.plan_and_apply(
            sandbox_project,
            environment,
            aws_endpoint_url=emulator.endpoint_url,
            var_file=paths[environment],
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        for summary in pool.map(apply, paths):
            assert summary.totals["add"] > 10, summary.text()
    return paths


@pytest.mark.parametrize("environment", ["old", "new"])
def test_the_arns_terraform_reports_are_the_ones_python_computes(
    applied, sandbox_project, spec, emulator, environment
):
    runner = TerraformRunner(
        terraform_settings(sandbox_project, emulator.endpoint_url), environment
    )
    outputs = runner.output()
    mine = names(spec, environment)
    assert outputs["stream_arns"] == {s.name: mine.stream_arn(s.name) for s in spec.streams}
    assert outputs["replicator"]["role_arn"] == mine.replicator_role_arn
    assert outputs["writer_role"]["arn"] == mine.writer_role_arn


def account(spec: MigrationSpec, environment: str) -> str:
    return getattr(spec.environments, environment).account_id


@pytest.mark.parametrize("environment", ["old", "new"])
def test_each_stream_exists_in_its_own_account_with_the_specs_settings(
    applied, spec, emulator, environment
):
    kinesis = emulator.client("kinesis", account(spec, environment))
    for stream in spec.streams:
        summary = kinesis.describe_stream_summary(StreamName=stream.name_in(environment))[
            "StreamDescriptionSummary"
        ]
        assert summary["StreamARN"].split(":")[4] == account(spec, environment)
        assert summary["RetentionPeriodHours"] == stream.retention_hours
        assert summary["EncryptionType"] == "KMS"
        if stream.capacity.mode == "provisioned":
            assert summary["OpenShardCount"] == stream.capacity.shards
        else:
            assert summary["StreamModeDetails"]["StreamMode"] == "ON_DEMAND"
        if stream.encryption == "aws_managed":
            assert summary["KeyId"] == "alias/aws/kinesis"
        else:
            key = emulator.client("kms", account(spec, environment)).describe_key(
                KeyId=summary["KeyId"]
            )
            assert key["KeyMetadata"]["KeyManager"] == "CUSTOMER"
            assert key["KeyMetadata"]["Arn"].split(":")[4] == account(spec, environment)


def test_old_only_stream_names_do_not_leak_into_the_new_account(applied, spec, emulator):
    names = emulator.client("kinesis", account(spec, "new")).list_streams()["StreamNames"]
    assert "audit-log" not in names
    assert "audit" in names


@pytest.mark.parametrize("environment", ["old", "new"])
def test_replicator_mappings_queue_and_ledger_exist_and_mappings_are_disabled(
    applied, spec, emulator, environment
):
    function = names(spec, environment).replicator
    lambda_client = emulator.client("lambda", account(spec, environment))
    configuration = lambda_client.get_function(FunctionName=function)["Configuration"]
    assert configuration["Handler"] == "replicator.handler"
    variables = configuration["Environment"]["Variables"]
    peer = "new" if environment == "old" else "old"
    assert variables["TURNOUT_DIRECTION"] == f"{environment}_to_{peer}"
    assert variables["TURNOUT_EXTERNAL_ID"] == spec.replication.external_id
    mappings = lambda_client.list_event_source_mappings(FunctionName=function)[
        "EventSourceMappings"
    ]
    assert len(mappings) == len(spec.streams)
    for mapping in mappings:
        assert mapping["State"] == "Disabled", mapping
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BisectBatchOnFunctionError"] is True
        failure_queue = mapping["DestinationConfig"]["OnFailure"]["Destination"]
        assert failure_queue.split(":")[4] == account(spec, environment)
    queue_name = failure_queue.split(":")[-1]
    sqs = emulator.client("sqs", account(spec, environment))
    queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes.get("KmsMasterKeyId"), "the failure queue must be encrypted with KMS"
    ledger = emulator.client("dynamodb", account(spec, environment)).describe_table(
        TableName=variables["TURNOUT_LEDGER_TABLE"]
    )["Table"]
    assert ledger["KeySchema"] == [{"AttributeName": "shard_key", "KeyType": "HASH"}]
    assert ledger["SSEDescription"]["Status"] == "ENABLED"


@pytest.mark.parametrize("environment", ["old", "new"])
def test_writer_role_trusts_only_the_peer_replicator_with_the_external_id(
    applied, spec, emulator, environment
):
    peer = "new" if environment == "old" else "old"
    prefix = getattr(spec.environments, environment).name_prefix
    role = emulator.client("iam", account(spec, environment)).get_role(
        RoleName=f"{prefix}turnout-writer-from-{peer}"
    )["Role"]
    document = role["AssumeRolePolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    (statement,) = document["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{account(spec, peer)}:root"}
    peer_role = f"arn:aws:iam::{account(spec, peer)}:role/{names(spec, peer).replicator}"
    conditions = statement["Condition"]
    assert conditions["ArnEquals"]["aws:PrincipalArn"] == peer_role
    assert conditions["StringEquals"]["sts:ExternalId"] == spec.replication.external_id


def test_control_parameters_say_what_the_phase_says(applied, spec, emulator):
    for environment in ("old", "new"):
        ssm = emulator.client("ssm", account(spec, environment))
        value = ssm.get_parameter(Name=direction_parameter(spec))["Parameter"]["Value"]
        assert value == "none"
    route = emulator.client("ssm", account(spec, "old")).get_parameter(
        Name=spec.route.parameters[0]
    )
    assert json.loads(route["Parameter"]["Value"])["environment"] == "old"


def test_a_second_plan_of_both_environments_shows_no_changes(applied, sandbox_project, emulator):
    for environment, var_file in applied.items():
        result = deploy.plan(
            sandbox_project, environment, aws_endpoint_url=emulator.endpoint_url, var_file=var_file
        )
        assert not result.summary.has_changes, result.summary.text()


def test_the_drift_plan_is_quiet_when_nothing_changed_and_names_a_change_made_behind_its_back(
    applied, sandbox_project, spec, emulator
):
    """After an apply the engine plans again (exit code only: no `show -json` when nothing
    changed); a change made outside Terraform is reported with the plan's summary."""
    from turnout.deploy.workflow import drift

    endpoint = emulator.endpoint_url
    assert drift(sandbox_project, "new", applied["new"], endpoint) is None
    ssm = emulator.client("ssm", account(spec, "new"))
    ssm.put_parameter(Name=direction_parameter(spec), Value="tampered", Overwrite=True)
    try:
        found = drift(sandbox_project, "new", applied["new"], endpoint)
        assert found is not None and found.has_changes
        assert "aws_ssm_parameter" in found.text() or "update" in found.text()
    finally:
        ssm.put_parameter(Name=direction_parameter(spec), Value="none", Overwrite=True)


def test_a_plan_that_replaces_a_stream_is_refused_naming_it_until_allowed(
    applied, sandbox_project, spec, emulator
):
    document = spec.model_dump(mode="json", exclude_none=True)
    document["streams"][1]["new_name"] = "orders-v2"
    renamed = MigrationSpec.model_validate(document)
    vars_dir = sandbox_project.work_dir / "renamed"
    vars_dir.mkdir()
    (new_vars,) = [
        rendered
        for rendered in render_environments(
            renamed, sandbox_project.terraform_dir, output_dir=vars_dir
        )
        if rendered.environment == "new"
    ]
    new_vars.write()
    with pytest.raises(ProtectedResourcesRefused) as refused:
        deploy.plan(
            sandbox_project, "new", aws_endpoint_url=emulator.endpoint_url, var_file=new_vars.path
        )
    message = str(refused.value)
    assert 'module.stream["orders"]' in message and "aws_kinesis_stream" in message, message
    assert "would be replaced" in message
    # The stream and the mapping that reads it (a new event_source_arn) are both named.
    assert 'module.stream["orders"].aws_kinesis_stream.this' in refused.value.addresses
    assert REPLICATOR_MAPPING.format(stream="orders") in refused.value.addresses
    result = deploy.plan(
        sandbox_project,
        "new",
        allow_destroy=refused.value.addresses,
        aws_endpoint_url=emulator.endpoint_url,
        var_file=new_vars.path,
    )
    assert result.summary.totals["replace"] >= 1
    assert result.plan_path.is_file()


def test_a_changed_starting_position_is_refused_because_each_mapping_loses_its_checkpoint(
    applied, sandbox_project, spec, emulator
):
    document = spec.model_dump(mode="json", exclude_none=True)
    document["replication"]["starting_position"] = "LATEST"
    moved = MigrationSpec.model_validate(document)
    vars_dir = sandbox_project.work_dir / "latest"
    vars_dir.mkdir()
    (old_vars,) = [
        rendered
        for rendered in render_environments(
            moved, sandbox_project.terraform_dir, output_dir=vars_dir
        )
        if rendered.environment == "old"
    ]
    old_vars.write()
    with pytest.raises(ProtectedResourcesRefused) as refused:
        deploy.plan(
            sandbox_project, "old", aws_endpoint_url=emulator.endpoint_url, var_file=old_vars.path
        )
    mappings = sorted(REPLICATOR_MAPPING.format(stream=stream.name) for stream in spec.streams)
    assert sorted(refused.value.addresses) == mappings
    message = " ".join(str(refused.value).split())
    for address in mappings:
        assert (
            f"{address} would be replaced (destroyed and recreated): an event source mapping: its checkpoint"
            in message
        )
    assert "starts at LATEST" in message
    assert not (sandbox_project.work_dir / "plans" / "old.tfplan").exists()


def dashboard_name(spec: MigrationSpec, environment: str) -> str:
    prefix = getattr(spec.environments, environment).name_prefix
    return f"{prefix}turnout-{spec.migration}-{environment}"


def lambda_consumers(spec: MigrationSpec, environment: str) -> list[str]:
    return [c.function_name for c in getattr(spec.consumers, environment) if c.kind == "lambda"]


@pytest.mark.parametrize("environment", ["old", "new"])
def test_each_environment_has_a_dashboard_of_its_replicator_queue_and_consumers(
    applied, spec, emulator, environment
):
    cloudwatch = emulator.client("cloudwatch", account(spec, environment))
    body = json.loads(
        cloudwatch.get_dashboard(DashboardName=dashboard_name(spec, environment))["DashboardBody"]
    )
    widgets = {widget["properties"]["title"]: widget for widget in body["widgets"]}
    peer = "new" if environment == "old" else "old"
    direction = f"{environment}_to_{peer}"
    lag = widgets[f"Replication lag (ms), {direction}"]["properties"]
    assert sorted(m[:6] for m in lag["metrics"] if m[1] == "ReplicationLagMs") == sorted(
        ["Turnout/Replication", "ReplicationLagMs", "Direction", direction, "Stream", name]
        for name in (stream.name_in(environment) for stream in spec.streams)
    )
    assert lag["annotations"]["horizontal"][0]["value"] == (
        spec.monitoring.replication_lag_seconds * 1000
    )
    function = names(spec, environment).replicator
    assert ["AWS/Lambda", "IteratorAge", "FunctionName", function] in [
        m[:4] for m in lag["metrics"]
    ]
    errors = widgets["Replicator invocations, errors and throttles"]["properties"]["metrics"]
    assert ["AWS/Lambda", "Errors", "FunctionName", function] in [m[:4] for m in errors]
    (queue_metric,) = widgets["Replicator failure queue depth"]["properties"]["metrics"]
    assert queue_metric[:4] == [
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        f"{function}-failures",
    ]
    consumers = widgets["Consumer iterator age (ms)"]["properties"]["metrics"]
    assert sorted(metric[3] for metric in consumers) == sorted(lambda_consumers(spec, environment))
    alarm_arns = {
        alarm["AlarmArn"]
        for alarm in cloudwatch.describe_alarms(AlarmNamePrefix=dashboard_name(spec, environment))[
            "MetricAlarms"
        ]
    }
    assert set(widgets["Alarms"]["properties"]["alarms"]) == alarm_arns


@pytest.mark.parametrize("environment", ["old", "new"])
def test_alarms_watch_the_replicator_queue_and_local_consumers_with_the_specs_thresholds(
    applied, spec, emulator, environment
):
    cloudwatch = emulator.client("cloudwatch", account(spec, environment))
    prefix = dashboard_name(spec, environment)
    alarms = {
        alarm["AlarmName"].removeprefix(f"{prefix}-"): alarm
        for alarm in cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    }
    streams = {stream.name: stream.name_in(environment) for stream in spec.streams}
    consumers = lambda_consumers(spec, environment)
    assert sorted(alarms) == sorted(
        [
            "replicator-errors",
            "replicator-iterator-age",
            "failure-queue-depth",
            *(f"replication-lag-{logical}" for logical in streams),
            *(f"replicator-throttles-{logical}" for logical in streams),
            *(f"consumer-iterator-age-{function}" for function in consumers),
            "replicator-retention-50pct",
            "replicator-retention-80pct",
            "buffered-retention-50pct",
            "buffered-retention-80pct",
        ]
    )
    monitoring = spec.monitoring
    peer = "new" if environment == "old" else "old"
    function = names(spec, environment).replicator

    def watched(alarm: dict) -> tuple:
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        return alarm["Namespace"], alarm["MetricName"], dimensions, alarm["Threshold"]

    for logical, name in streams.items():
        lag = alarms[f"replication-lag-{logical}"]
        assert watched(lag) == (
            "Turnout/Replication",
            "ReplicationLagMs",
            {"Direction": f"{environment}_to_{peer}", "Stream": name},
            monitoring.replication_lag_seconds * 1000,
        )
        assert lag["Statistic"] == "Maximum"
        throttles = alarms[f"replicator-throttles-{logical}"]
        assert watched(throttles)[:3] == (
            "Turnout/Replication",
            "Throttles",
            {"Direction": f"{environment}_to_{peer}", "Stream": name},
        )
        assert throttles["Threshold"] == monitoring.replicator_throttles
    assert watched(alarms["replicator-errors"]) == (
        "AWS/Lambda",
        "Errors",
        {"FunctionName": function},
        0,
    )
    assert watched(alarms["replicator-iterator-age"]) == (
        "AWS/Lambda",
        "IteratorAge",
        {"FunctionName": function},
        monitoring.replication_lag_seconds * 1000,
    )
    assert watched(alarms["failure-queue-depth"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"QueueName": f"{function}-failures"},
        0,
    )
    shortest_retention_ms = min(stream.retention_hours for stream in spec.streams) * 3_600_000
    for percent in (50, 80):
        assert watched(alarms[f"replicator-retention-{percent}pct"]) == (
            "AWS/Lambda",
            "IteratorAge",
            {"FunctionName": function},
            shortest_retention_ms * percent / 100,
        )
    for percent in (50, 80):  # published by the reminders while the streams buffer
        buffered = alarms[f"buffered-retention-{percent}pct"]
        assert watched(buffered) == (
            "Turnout/Replication",
            "BufferedRetentionPercent",
            {"Buffer": prefix},
            percent,
        )
        assert buffered["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    for consumer in consumers:
        assert watched(alarms[f"consumer-iterator-age-{consumer}"]) == (
            "AWS/Lambda",
            "IteratorAge",
            {"FunctionName": consumer},
            monitoring.consumer_iterator_age_seconds * 1000,
        )
    for name, alarm in alarms.items():
        if not name.startswith("buffered-retention-"):
            assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Period"] == monitoring.period_seconds
        # Replication is off and consumers may be paused: no data must never raise an alarm.
        assert alarm["TreatMissingData"] == "notBreaching"
