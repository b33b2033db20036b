"""Every IAM policy the modules create is least-privilege, and everything is encrypted at rest.

The Terraform is read as text with the brace matcher of test_terraform_conventions (python-hcl2
is not a dependency of this project). Policies come in two shapes: `aws_iam_policy_document`
data sources (identity and trust policies) and the `jsonencode` key policy of modules/kms-key's
`aws_kms_key`, whose statements after the account-root delegation are the `key_statements` each
module passes to its `module "key"`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from test_terraform_conventions import MODULES, REPO, blocks

# Actions IAM accepts only with Resource "*" (they have no resource type), each with the reason
# the module needs it. Terraform must carry a comment next to each such statement.
STAR_RESOURCE_ALLOWED = {
    "kinesis:ListStreams": "no resource type; the Lambda poller of the event source mapping calls it",
    "cloudwatch:PutMetricData": "no resource type; the buffered-retention reminders' role narrows it "
    "with the cloudwatch:namespace condition",
}
# Key policies: "*" as Resource means "this key"; the account-root statement with kms:* is the
# AWS default key policy that delegates to IAM (narrowing it risks an unmanageable key, which
# AWS's own lockout check warns against). Only this exact statement may use a wildcard action.
KEY_POLICY_ROOT_DELEGATION_SID = "DelegateToAccountIam"


@dataclass
class Statement:
    module: str
    policy: str
    sid: str
    actions: list[str]
    resources: str  # the Terraform expression(s), as written
    text: str  # the statement's source, comments included
    preceding_comment: str


def _list_items(expression: str) -> list[str]:
    return re.findall(r'"([^"]+)"', expression)


def _attribute(body: str, name: str) -> str | None:
    """`name = <expression>` in a block body; a bracketed list may span lines."""
    match = re.search(rf"^\s*{name}\s*=\s*", body, re.MULTILINE)
    if match is None:
        return None
    rest = body[match.end() :]
    if rest.startswith("["):
        depth = 0
        for index, char in enumerate(rest):
            depth += {"[": 1, "]": -1}.get(char, 0)
            if depth == 0:
                return rest[: index + 1]
    return rest.split("\n", 1)[0]


def _statement_bodies(document: str) -> list[str]:
    """The bodies of `statement { ... }` and `dynamic "statement" { content { ... } }`."""
    bodies = []
    for match in re.finditer(r'^\s*(statement|dynamic "statement")\s*\{', document, re.MULTILINE):
        depth, index = 0, match.end() - 1
        while index < len(document):
            depth += {"{": 1, "}": -1}.get(document[index], 0)
            if depth == 0:
                break
            index += 1
        bodies.append(document[match.end() : index])
    return bodies


def policy_document_statements() -> list[Statement]:
    found = []
    for module in MODULES:
        text = (module / "main.tf").read_text()
        for name, document in blocks(text, 'data "aws_iam_policy_document"').items():
            for body in _statement_bodies(document):
                actions = _attribute(body, "actions") or ""
                sid = re.search(r'sid\s*=\s*"([^"]+)"', body)
                found.append(
                    Statement(
                        module=module.name,
                        policy=name,
                        sid=sid.group(1) if sid else "?",
                        actions=_list_items(actions),
                        resources=_attribute(body, "resources") or "",
                        text=body,
                        preceding_comment="",
                    )
                )
    return found


def key_policy_statements() -> list[Statement]:
    found = []
    for module in MODULES:
        text = (module / "main.tf").read_text()
        for name, body in blocks(text, 'resource "aws_kms_key"').items():
            for statement in re.split(r"\n\s*\},?\s*\{|\[\{|\{\s*\n\s*#", body):
                sid = re.search(r'Sid\s*=\s*"([^"]+)"', statement)
                if sid is None:
                    continue
                action = re.search(r"Action\s*=\s*(\[[^\]]*\]|\"[^\"]*\")", statement)
                resource = re.search(r"Resource\s*=\s*(.+)", statement)
                found.append(
                    Statement(
                        module=module.name,
                        policy=f"aws_kms_key.{name}",
                        sid=sid.group(1),
                        actions=_list_items(action.group(1)) if action else [],
                        resources=resource.group(1) if resource else "",
                        text=statement,
                        preceding_comment="",
                    )
                )
    return found


def key_module_calls() -> list[tuple[str, str]]:
    """(module, body) of every call of modules/kms-key."""
    return [
        (module.name, body)
        for module in MODULES
        for body in blocks((module / "main.tf").read_text(), "module").values()
        if re.search(r'^\s*source\s*=\s*"\.\./kms-key"', body, re.MULTILINE)
    ]


def key_statements_passed_to_the_key_module() -> list[Statement]:
    """The `key_statements` entries of each `module "key"` call (Resource is always "*", this
    key, written by modules/kms-key)."""
    found = []
    for module, body in key_module_calls():
        # One entry per sid: from its sid to the next one.
        for entry in re.split(r"(?=^\s*sid\s*=)", body, flags=re.MULTILINE):
            sid = re.match(r'\s*sid\s*=\s*"([^"]+)"', entry)
            if sid is None:
                continue
            found.append(
                Statement(
                    module=module,
                    policy="module.key",
                    sid=sid.group(1),
                    actions=_list_items(_attribute(entry, "actions") or ""),
                    resources="",
                    text=entry,
                    preceding_comment="",
                )
            )
    return found


IDENTITY_STATEMENTS = policy_document_statements()
KEY_STATEMENTS = key_policy_statements() + key_statements_passed_to_the_key_module()


def test_the_parser_finds_the_policies_it_must_check():
    policies = {(s.module, s.policy) for s in IDENTITY_STATEMENTS}
    assert {
        ("replicator", "assume"),
        ("replicator", "this"),
        ("writer-role", "trust"),
        ("writer-role", "this"),
    } <= policies
    assert all(s.actions for s in IDENTITY_STATEMENTS), "every statement names its actions"
    assert {(s.module, s.sid) for s in KEY_STATEMENTS} == {
        ("kms-key", "DelegateToAccountIam"),
        ("replicator", "AllowCloudWatchLogsForThisLogGroup"),
        ("kinesis-stream", "ProducersEncryptThroughKinesis"),
        ("kinesis-stream", "ReadersDecryptThroughKinesis"),
    }
    assert all(s.actions for s in KEY_STATEMENTS), "every key policy statement names its actions"


def test_every_customer_managed_key_comes_from_the_kms_key_module():
    callers = sorted(module for module, _ in key_module_calls())
    assert callers == ["control-plane", "kinesis-stream", "replicator"]
    for module in MODULES:
        if module.name == "kms-key":
            continue
        for path in module.glob("*.tf"):
            text = path.read_text()
            assert not blocks(text, 'resource "aws_kms_key"'), f"{module.name}: own KMS key"
            assert not blocks(text, 'resource "aws_kms_alias"'), f"{module.name}: own alias"
    key_module = (REPO / "modules" / "kms-key" / "main.tf").read_text()
    for line in re.findall(r"^\s*Resource\s*=.*$", key_module, re.MULTILINE):
        assert re.search(r'"\*"\s*#', line), f'Resource "*" without its comment: {line}'


def test_the_kms_key_module_refuses_statements_that_would_hand_the_key_out():
    """Only the account-root delegation may grant kms:*; the statements a caller adds may only
    use the key, and never name every principal."""
    variable = blocks((REPO / "modules" / "kms-key" / "variables.tf").read_text(), "variable")[
        "key_statements"
    ]
    conditions = " ".join(re.findall(r"condition\s*=\s*(.*?)error_message", variable, re.DOTALL))
    allowed = re.search(r'regex\("(\^kms:[^"]+)"', conditions)
    assert allowed, conditions
    pattern = re.compile(allowed.group(1).replace("\\\\", "\\"))
    for action in ("kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"):
        assert pattern.match(action), action
    for action in ("kms:*", "*", "kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:Put*"):
        assert not pattern.match(action), action
    assert "DelegateToAccountIam" in conditions, "a caller must not replace the root statement"


@pytest.mark.parametrize(
    "statement", IDENTITY_STATEMENTS, ids=lambda s: f"{s.module}.{s.policy}.{s.sid}"
)
def test_identity_and_trust_policies_grant_no_wildcard_action(statement):
    for action in statement.actions:
        assert action != "*" and not action.endswith(":*"), (
            f"{statement.module}: {statement.policy}/{statement.sid} grants {action}"
        )
        assert "*" not in action, f"{statement.module}: {statement.sid} uses a pattern: {action}"


@pytest.mark.parametrize(
    "statement",
    [s for s in IDENTITY_STATEMENTS if s.resources],
    ids=lambda s: f"{s.module}.{s.policy}.{s.sid}",
)
def test_resources_are_named_arns_except_where_aws_requires_a_star(statement):
    if statement.resources.strip() == '["*"]':
        unexplained = [a for a in statement.actions if a not in STAR_RESOURCE_ALLOWED]
        assert not unexplained, (
            f"{statement.module}: {statement.sid} grants {unexplained} on every resource"
        )
        assert re.search(r"#.*\"\*\"", statement.text), (
            f'{statement.module}: {statement.sid} uses Resource "*" without a comment saying why'
        )
        return
    assert '"*"' not in statement.resources, f"{statement.module}: {statement.sid}"
    literal_arns = _list_items(statement.resources)
    for arn in literal_arns:
        assert not arn.startswith("*"), f"{statement.module}: {statement.sid}: {arn}"
    assert re.search(r"(local|var|aws_[a-z_]+)\.", statement.resources) or literal_arns, (
        f"{statement.module}: {statement.sid} names no resource: {statement.resources}"
    )


@pytest.mark.parametrize("statement", KEY_STATEMENTS, ids=lambda s: f"{s.module}.{s.sid}")
def test_key_policies_wildcard_only_in_the_root_delegation_and_comment_the_star(statement):
    if any(action.split(":")[-1] == "*" for action in statement.actions):
        assert statement.sid == KEY_POLICY_ROOT_DELEGATION_SID, (
            f"{statement.module}: key policy statement {statement.sid} grants {statement.actions}"
        )
        assert re.search(r":root", statement.text), "only the account root is delegated to"
    if '"*"' in statement.resources:
        assert "#" in statement.resources, (
            f'{statement.module}: {statement.sid}: Resource "*" needs its comment'
        )


def test_the_trust_policies_are_narrowed_to_one_principal_and_an_external_id():
    trust = next(s for s in IDENTITY_STATEMENTS if (s.module, s.policy) == ("writer-role", "trust"))
    assert "aws:PrincipalArn" in trust.text and "sts:ExternalId" in trust.text
    assume = next(
        s for s in IDENTITY_STATEMENTS if (s.module, s.policy) == ("replicator", "assume")
    )
    assert "lambda.amazonaws.com" in assume.text and "aws:SourceAccount" in assume.text


# --------------------------------------------------------------------------- encryption at rest


def resources_of(kind: str) -> list[tuple[str, str, str]]:
    return [
        (module.name, name, body)
        for module in MODULES
        for name, body in blocks((module / "main.tf").read_text(), f'resource "{kind}"').items()
    ]


def test_every_stream_is_encrypted_with_kms():
    streams = resources_of("aws_kinesis_stream")
    assert streams
    for module, name, body in streams:
        assert re.search(r'encryption_type\s*=\s*"KMS"', body), f"{module}: {name}"
        assert re.search(r"kms_key_id\s*=\s*local\.", body), f"{module}: {name}"


# The route table holds no secret and is read from other accounts: the AWS owned key on purpose
# (docs/security.md, docs/producers.md), with its checkov skip saying why.
AWS_OWNED_KEY_TABLES = {("control-plane", "route")}


def test_every_table_is_encrypted_with_a_customer_managed_key():
    tables = resources_of("aws_dynamodb_table")
    assert len(tables) >= 4
    for module, name, body in tables:
        if (module, name) in AWS_OWNED_KEY_TABLES:
            assert "server_side_encryption" not in body
            assert re.search(r"checkov:skip=CKV_AWS_119:\S.{20,}", body), f"{module}: {name}"
            continue
        block = re.search(r"server_side_encryption\s*\{([^}]*)\}", body)
        assert block and re.search(r"enabled\s*=\s*true", block.group(1)), f"{module}: {name}"
        assert "kms_key_arn" in block.group(1), f"{module}: {name} uses the AWS-owned key"


def test_every_queue_is_encrypted():
    queues = resources_of("aws_sqs_queue")
    assert queues
    for module, name, body in queues:
        assert re.search(r"kms_master_key_id\s*=|sqs_managed_sse_enabled\s*=\s*true", body), (
            f"{module}: {name}"
        )


def test_parameters_are_secure_strings_or_say_why_not():
    parameters = resources_of("aws_ssm_parameter")
    assert parameters
    for module, name, body in parameters:
        if re.search(r'type\s*=\s*"SecureString"', body):
            continue
        assert re.search(r"#checkov:skip=CKV2_AWS_34:.*not a secret", body, re.IGNORECASE), (
            f"{module}: parameter {name} is a plain String without the documented reason"
        )


def test_function_environment_and_logs_use_the_modules_key():
    for module, name, body in resources_of("aws_lambda_function"):
        assert re.search(r"kms_key_arn\s*=\s*local\.", body), f"{module}: {name} env vars"
    for module, name, body in resources_of("aws_cloudwatch_log_group"):
        assert re.search(r"kms_key_id\s*=\s*local\.", body), f"{module}: {name}"
    for module, name, body in resources_of("aws_kms_key"):
        assert re.search(r"enable_key_rotation\s*=\s*true", body), f"{module}: {name}"


def test_the_external_id_is_the_only_secret_like_value_in_the_function_environment():
    """The function environment is encrypted, but it holds no credentials: the replicator's
    access comes from its role; the external id is a confused-deputy guard, not a secret."""
    text = (REPO / "modules" / "replicator" / "main.tf").read_text()
    environment = re.search(r"environment = \{(.*?)\n  \}", text, re.DOTALL)
    assert environment
    names = re.findall(r"^\s*(TURNOUT_[A-Z_]+)\s*=", environment.group(1), re.MULTILINE)
    assert names and not [n for n in names if re.search(r"SECRET|PASSWORD|ACCESS_KEY|TOKEN", n)]


@pytest.mark.parametrize("environment", ["old", "new"])
def test_the_rendered_tfvars_encrypt_every_stream(environment):
    """The values Terraform is given: no stream can be rendered without a KMS key."""
    tfvars = json.loads((REPO / "terraform" / f"{environment}.tfvars.json").read_text())
    assert tfvars["streams"]
    for name, stream in tfvars["streams"].items():
        key = stream["kms_key"]
        assert key in ("customer_managed", "aws_managed") or key.startswith("arn:aws"), (
            f"{environment}.tfvars.json: stream {name} has kms_key {key!r}"
        )
