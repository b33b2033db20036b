"""docs/operator-policy.json is valid, least-privilege, and grants exactly the AWS calls turnout
makes; docs/producer-policy.json grants exactly the calls of the producer helper.

The calls are collected from the source: every `<x>.<method>(` in the operator-facing code
(cli/turnout, hooks/) whose method name is an operation of a service turnout talks to, plus
`get_paginator("<operation>")`. A maintained mapping turns each into its IAM action; a new call
the mapping does not know fails this test until the mapping, the policy and docs/security.md
say what it needs. The producer helper (cli/turnout/producer.py) runs as the user's producers,
not as the operator: its calls are checked against the producer policy instead.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "docs" / "operator-policy.json"
PRODUCER_POLICY = REPO / "docs" / "producer-policy.json"
PRODUCER_CODE = REPO / "cli" / "turnout" / "producer.py"
SECURITY_DOC = REPO / "docs" / "security.md"
PRODUCERS_DOC = REPO / "docs" / "producers.md"

# The Lambda replicator (its own role, modules/replicator), the sandbox and the local emulator and
# Lambda runtime (local only, never AWS) are not run by the operator's credentials, nor is the
# producer helper (the producers' own identities, docs/producer-policy.json), nor the Terraform
# state's bucket code: it runs with each environment's deploy credentials, as Terraform does
# (docs/state.md, docs/security.md "Each environment's credentials, and the state"); nor
# `turnout discover`, run before there is a spec with a read-only identity of the account it
# reads (docs/discover.md lists its actions).
NOT_OPERATOR_CODE = (
    "discover",
    "state_bootstrap.py",
    "state_bucket.py",
    "lambdas",
    "lambda_runtime",
    "sandbox",
    "sandbox_app",
    "emulator",
    "demo.py",
    "producer.py",
)
# kms for encrypted streams and tables: called by Kinesis/DynamoDB on the caller's behalf.
OPERATOR_KMS_ACTIONS = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"}
# CopyObject (TaggingDirective COPY) and CreateMultipartUpload (Tagging) tag the target object,
# and CopyObject reads the source's tags: no call of their own.
OBJECT_TAGGING_ACTIONS = {"s3:PutObjectTagging", "s3:GetObjectTagging"}
PRODUCER_METHOD_ACTIONS = {
    "put_records": "kinesis:PutRecords",
    "get_item": "dynamodb:GetItem",
    "get_parameter": "ssm:GetParameter",
}
SERVICES = (
    "kinesis",
    "lambda",
    "dynamodb",
    "ssm",
    "cloudwatch",
    "sts",
    "iam",
    "sqs",
    "kms",
    "logs",
    "sns",
    "s3",
    "route53",
)

# boto3 method -> the IAM action the operator needs for it. Names shared with turnout's own
# helpers are listed under the AWS call they shadow only where the AWS call is real (a
# StreamReader.scan shadows dynamodb:Scan, which turnout also calls on lease/ledger tables).
METHOD_ACTIONS = {
    "assume_role": "sts:AssumeRole",
    "batch_get_item": "dynamodb:BatchGetItem",
    "delete_item": "dynamodb:DeleteItem",
    "get_item": "dynamodb:GetItem",
    "put_item": "dynamodb:PutItem",
    "update_item": "dynamodb:UpdateItem",
    "query": "dynamodb:Query",
    "scan": "dynamodb:Scan",
    "describe_stream_summary": "kinesis:DescribeStreamSummary",
    "list_shards": "kinesis:ListShards",
    "get_shard_iterator": "kinesis:GetShardIterator",
    "get_records": "kinesis:GetRecords",
    "put_record": "kinesis:PutRecord",
    "get_event_source_mapping": "lambda:GetEventSourceMapping",
    "list_event_source_mappings": "lambda:ListEventSourceMappings",
    "update_event_source_mapping": "lambda:UpdateEventSourceMapping",
    "get_function": "lambda:GetFunction",
    "get_function_configuration": "lambda:GetFunctionConfiguration",
    "get_parameter": "ssm:GetParameter",
    "get_metric_data": "cloudwatch:GetMetricData",
    "describe_alarms": "cloudwatch:DescribeAlarms",
    "get_account_settings": "lambda:GetAccountSettings",
    # the API switch (turnout.apis)
    "get_hosted_zone": "route53:GetHostedZone",
    "list_hosted_zones_by_name": "route53:ListHostedZonesByName",
    "list_resource_record_sets": "route53:ListResourceRecordSets",
    "get_health_check": "route53:GetHealthCheck",
    "get_health_check_status": "route53:GetHealthCheckStatus",
    # data stores (turnout.datastores)
    "describe_table": "dynamodb:DescribeTable",
    "batch_write_item": "dynamodb:BatchWriteItem",
    "head_bucket": "s3:ListBucket",
    "list_objects_v2": "s3:ListBucket",
    "head_object": "s3:GetObject",
    "get_object_tagging": "s3:GetObjectTagging",
    "copy_object": "s3:PutObject",
    "create_multipart_upload": "s3:PutObject",
    "upload_part_copy": "s3:PutObject",
    "complete_multipart_upload": "s3:PutObject",
    "abort_multipart_upload": "s3:AbortMultipartUpload",
    "list_parts": "s3:ListMultipartUploadParts",
    "get_bucket_ownership_controls": "s3:GetBucketOwnershipControls",
    # decommission (turnout.decommission)
    "delete_event_source_mapping": "lambda:DeleteEventSourceMapping",
    "get_role": "iam:GetRole",
    # the consumers' on-failure queues (turnout.drain.discarded)
    "get_queue_url": "sqs:GetQueueUrl",
    "get_queue_attributes": "sqs:GetQueueAttributes",
    "receive_message": "sqs:ReceiveMessage",
}
# Calls that need no permission at all: "No permissions are required to perform this operation"
# (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).
NO_PERMISSION_NEEDED = {"get_caller_identity"}
# IAM accepts only "*" for these (no resource type).
STAR_RESOURCE_ACTIONS = {
    "lambda:ListEventSourceMappings",
    "cloudwatch:GetMetricData",
    "lambda:GetAccountSettings",
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonroute53.html
    "route53:ListHostedZonesByName",
}


def _operations() -> set[str]:
    session = botocore.session.get_session()
    return {
        xform_name(operation)
        for service in SERVICES
        for operation in session.get_service_model(service).operation_names
    }


def operator_source_files() -> list[Path]:
    root = REPO / "cli" / "turnout"
    files = [
        path
        for path in root.rglob("*.py")
        if not any(part.startswith(NOT_OPERATOR_CODE) for part in path.relative_to(root).parts)
    ]
    hooks = [path for path in (REPO / "hooks").glob("*.py") if not path.name.startswith("sandbox_")]
    return sorted(files + hooks)


def aws_calls_in_source(files: list[Path] | None = None) -> dict[str, set[str]]:
    """boto3 method name -> files calling it (default: the operator-facing code)."""
    operations = _operations()
    calls: dict[str, set[str]] = {}
    for path in operator_source_files() if files is None else files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            # A client method called, or passed on to be called (`_exists(iam.get_role, ...)`).
            if not isinstance(node, ast.Attribute | ast.Call):
                continue
            if isinstance(node, ast.Call):
                if not (isinstance(node.func, ast.Attribute) and node.func.attr == "get_paginator"):
                    continue
                if not (node.args and isinstance(node.args[0], ast.Constant)):
                    continue
                name = str(node.args[0].value)
            else:
                name = node.attr
            if name in operations:
                calls.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return calls


def policy(path: Path = POLICY) -> dict:
    return json.loads(path.read_text())


def statements(path: Path = POLICY) -> list[dict]:
    return policy(path)["Statement"]


def granted_actions(path: Path = POLICY) -> set[str]:
    granted = set()
    for statement in statements(path):
        actions = statement["Action"]
        granted.update([actions] if isinstance(actions, str) else actions)
    return granted


def test_the_policy_is_valid_json_with_named_allow_statements():
    document = policy()
    assert document["Version"] == "2012-10-17"
    sids = [statement["Sid"] for statement in document["Statement"]]
    assert len(sids) == len(set(sids)), "statement ids are unique"
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        assert re.fullmatch(r"[A-Za-z0-9]+", statement["Sid"])


def test_the_policy_grants_no_wildcard_action():
    for action in granted_actions():
        assert action != "*" and not action.endswith(":*") and "*" not in action, action
        assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), action


def test_resources_are_named_except_where_iam_accepts_only_a_star():
    for statement in statements():
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        actions = statement["Action"]
        actions = {actions} if isinstance(actions, str) else set(actions)
        if "*" in resources:
            assert resources == ["*"] and actions <= STAR_RESOURCE_ACTIONS, statement["Sid"]
            continue
        for resource in resources:
            assert resource.startswith("arn:aws:"), f"{statement['Sid']}: {resource}"
            assert not resource.endswith(":*:*"), f"{statement['Sid']}: {resource}"


def test_every_aws_call_in_the_cli_and_hooks_is_mapped_and_granted():
    calls = aws_calls_in_source()
    assert {"put_item", "get_records", "update_event_source_mapping", "get_parameter"} <= set(
        calls
    ), f"the scanner no longer finds turnout's calls: {sorted(calls)}"
    unmapped = {
        name: sorted(files)
        for name, files in calls.items()
        if name not in METHOD_ACTIONS and name not in NO_PERMISSION_NEEDED
    }
    assert not unmapped, (
        f"new AWS calls without an IAM action in METHOD_ACTIONS (add them there, to "
        f"docs/operator-policy.json and docs/security.md): {unmapped}"
    )
    missing = {METHOD_ACTIONS[name] for name in calls if name in METHOD_ACTIONS} - granted_actions()
    assert not missing, f"docs/operator-policy.json lacks {sorted(missing)}"


def test_the_policy_grants_nothing_turnout_does_not_call():
    called = {METHOD_ACTIONS[name] for name in aws_calls_in_source() if name in METHOD_ACTIONS}
    needed = called | OPERATOR_KMS_ACTIONS | OBJECT_TAGGING_ACTIONS
    assert granted_actions() <= needed, sorted(granted_actions() - needed)
    assert set(METHOD_ACTIONS) <= set(aws_calls_in_source()), (
        "METHOD_ACTIONS maps a call nothing makes any more: "
        f"{sorted(set(METHOD_ACTIONS) - set(aws_calls_in_source()))}"
    )


def test_the_producer_policy_grants_exactly_what_the_producer_helper_calls():
    calls = aws_calls_in_source([PRODUCER_CODE])
    assert set(calls) == set(PRODUCER_METHOD_ACTIONS), (
        f"the producer helper's AWS calls changed: {sorted(calls)}; update "
        "PRODUCER_METHOD_ACTIONS, docs/producer-policy.json and docs/producers.md"
    )
    called = set(PRODUCER_METHOD_ACTIONS.values()) | {"kms:GenerateDataKey"}
    assert granted_actions(PRODUCER_POLICY) == called
    for statement in statements(PRODUCER_POLICY):
        assert statement["Effect"] == "Allow" and "*" not in json.dumps(statement["Resource"])
        assert f"`{statement['Sid']}`" in PRODUCERS_DOC.read_text(), statement["Sid"]


@pytest.mark.parametrize("sid", [statement["Sid"] for statement in statements()])
def test_every_statement_is_explained_in_the_security_doc(sid):
    assert f"`{sid}`" in SECURITY_DOC.read_text(), f"docs/security.md does not explain {sid}"
