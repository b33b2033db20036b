"""Python's names (`turnout.spec.names`) are the names Terraform gives: the example spec's plan
of each environment is read as JSON and every name and ARN turnout computes in Python is found
in it, so the two cannot drift apart."""

from __future__ import annotations

import json

import pytest

from turnout import deploy
from turnout.deploy.render import render_environments
from turnout.deploy.terraform import TerraformRunner, terraform_settings
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec
from turnout.spec.names import (
    REPLICATION_METRIC_NAMESPACE,
    direction_parameter,
    names,
    route_item_key,
    route_value,
)
from turnout.spec.phases import ENVIRONMENTS, posture_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spec(sandbox_project) -> MigrationSpec:
    return load_spec(sandbox_project.spec_path)


@pytest.fixture(scope="module")
def planned(sandbox_project, spec, emulator) -> dict[str, dict[str, list[dict]]]:
    """Per environment: resource type -> the planned values of every resource of that type."""
    vars_dir = sandbox_project.work_dir / "names-tfvars"
    vars_dir.mkdir()
    # Mirrored: the new environment's replicator is enabled and the route points at new.
    rendered = render_environments(
        spec, sandbox_project.terraform_dir, output_dir=vars_dir, posture=posture_of("mirrored")
    )
    by_environment = {}
    for file in rendered:
        file.write()
        result = deploy.plan(
            sandbox_project,
            file.environment,
            aws_endpoint_url=emulator.endpoint_url,
            var_file=file.path,
        )
        runner = TerraformRunner(
            terraform_settings(sandbox_project, emulator.endpoint_url), file.environment
        )
        by_environment[file.environment] = resources_by_type(runner.show_plan(result.plan_path))
    return by_environment


def resources_by_type(plan: dict) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    pending = [plan["planned_values"]["root_module"]]
    while pending:
        module = pending.pop()
        for resource in module.get("resources", []):
            found.setdefault(resource["type"], []).append(resource["values"])
        pending.extend(module.get("child_modules", []))
    return found


def values(planned: dict[str, list[dict]], kind: str, attribute: str) -> set:
    return {resource.get(attribute) for resource in planned.get(kind, [])}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_python_names_every_resource_terraform_creates(planned, spec, environment):
    mine = names(spec, environment)
    plan = planned[environment]
    assert values(plan, "aws_lambda_function", "function_name") == {mine.replicator}
    assert values(plan, "aws_iam_role", "name") == {mine.replicator, mine.writer_role}
    assert values(plan, "aws_sqs_queue", "name") == {mine.replicator_failure_queue}
    assert values(plan, "aws_cloudwatch_log_group", "name") == {mine.replicator_log_group}
    tables = {mine.ledger_table, mine.markers_table}
    if spec.control_plane.environment == environment:
        tables |= {mine.state_table, mine.lock_table}
    if spec.route.environment == environment:
        tables.add(mine.route_table)
    assert values(plan, "aws_dynamodb_table", "name") == tables
    aliases = {mine.replicator_kms_alias, mine.control_plane_kms_alias} | {
        mine.stream_kms_alias(stream.name)
        for stream in spec.streams
        if stream.encryption == "customer_managed"
    }
    assert values(plan, "aws_kms_alias", "name") == aliases
    assert values(plan, "aws_cloudwatch_dashboard", "dashboard_name") == {mine.dashboard}
    alarms = values(plan, "aws_cloudwatch_metric_alarm", "alarm_name")
    assert alarms and all(alarm.startswith(f"{mine.dashboard}-") for alarm in alarms)
    streams = {mine.stream(stream.name) for stream in spec.streams}
    assert values(plan, "aws_kinesis_stream", "name") == streams


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_python_computes_the_arns_and_parameters_terraform_wires(planned, spec, environment):
    mine, peer = names(spec, environment), names(spec, names(spec, environment).peer)
    plan = planned[environment]
    # Stream ARNs are known only after apply: test_terraform_apply.py compares those.
    parameters = values(plan, "aws_ssm_parameter", "name")
    assert direction_parameter(spec) in parameters
    if spec.route.environment == environment:
        route = [p for p in plan["aws_ssm_parameter"] if p["name"] in spec.route.parameters]
        assert {p["value"] for p in route} == {route_value(spec, "new")}
        (item,) = plan["aws_dynamodb_table_item"]
        assert json.loads(item["item"]) == {
            "route_id": {"S": route_item_key(spec)},
            "value": {"S": route_value(spec, "new")},
        }
        assert item["table_name"] == mine.route_table
    variables = plan["aws_lambda_function"][0]["environment"][0]["variables"]
    assert variables["TURNOUT_TARGET_ROLE_ARN"] == peer.writer_role_arn
    assert variables["TURNOUT_LEDGER_TABLE"] == mine.ledger_table
    assert variables["TURNOUT_DIRECTION"] == mine.direction
    assert variables["TURNOUT_DIRECTION_PARAMETER"] == direction_parameter(spec)
    assert variables["TURNOUT_METRIC_NAMESPACE"] == REPLICATION_METRIC_NAMESPACE
    trust = json.loads(
        next(r for r in plan["aws_iam_role"] if r["name"] == mine.writer_role)["assume_role_policy"]
    )
    principals = json.dumps(trust)
    assert peer.replicator_role_arn in principals
