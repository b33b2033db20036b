"""Plan summaries and the guard on data-holding resources, from `terraform show -json` documents
and `terraform plan -json` messages."""

from __future__ import annotations

import pytest

from turnout.deploy.plan_summary import plan_from_messages, refuse_destruction, summarise_plan
from turnout.errors import TerraformError


def change(address: str, kind: str, *actions: str) -> dict:
    return {
        "address": address,
        "type": kind,
        "mode": "managed",
        "change": {"actions": list(actions)},
    }


PLAN = {
    "resource_changes": [
        change(
            'module.stream["clicks"].aws_kinesis_stream.this',
            "aws_kinesis_stream",
            "delete",
            "create",
        ),
        change("module.replicator.aws_lambda_function.this", "aws_lambda_function", "update"),
        change("module.control_plane.aws_ssm_parameter.route[0]", "aws_ssm_parameter", "create"),
        change("module.control_plane.aws_ssm_parameter.direction", "aws_ssm_parameter", "no-op"),
        {
            "address": "data.aws_caller_identity.this",
            "type": "aws_caller_identity",
            "mode": "data",
            "change": {"actions": ["read"]},
        },
    ],
    "output_changes": {"stream_arns": {"actions": ["update"]}, "same": {"actions": ["no-op"]}},
}


def test_summary_counts_actions_by_resource_type():
    summary = summarise_plan("new", PLAN)
    assert summary.as_dict()["totals"] == {
        "import": 0,
        "move": 0,
        "add": 1,
        "change": 1,
        "replace": 1,
        "destroy": 0,
    }
    assert summary.as_dict()["by_type"]["aws_kinesis_stream"]["replace"] == 1
    assert summary.output_changes == ["stream_arns"]
    assert summary.has_changes
    assert "1 to add, 1 to change, 1 to replace, 0 to destroy" in summary.text()
    assert "| `aws_lambda_function` | 0 | 0 | 0 | 1 | 0 | 0 |" in summary.markdown()


def test_replacing_a_stream_is_refused_naming_its_address():
    summary = summarise_plan("new", PLAN)
    with pytest.raises(TerraformError) as refused:
        refuse_destruction(summary)
    message = str(refused.value)
    assert 'module.stream["clicks"].aws_kinesis_stream.this would be replaced' in message
    assert "every record it buffers" in message
    assert """--allow-destroy 'module.stream["clicks"].aws_kinesis_stream.this'""" in message


def test_naming_the_stream_lets_its_replacement_through():
    refuse_destruction(
        summarise_plan("new", PLAN), ['module.stream["clicks"].aws_kinesis_stream.this']
    )


def test_destroying_a_ledger_table_is_refused():
    plan = {
        "resource_changes": [
            change("module.replicator.aws_dynamodb_table.ledger", "aws_dynamodb_table", "delete")
        ]
    }
    with pytest.raises(TerraformError, match=r"aws_dynamodb_table\.ledger would be destroyed"):
        refuse_destruction(summarise_plan("old", plan))


def test_an_empty_plan_reports_no_changes():
    summary = summarise_plan("old", {"resource_changes": [change("x.y", "aws_sqs_queue", "no-op")]})
    assert not summary.has_changes
    assert "no changes" in summary.text()
    refuse_destruction(summary)


def test_an_imports_only_plan_has_changes_so_it_is_applied():
    # An adopted stream (turnout discover) is imported with actions ["no-op"]: the plan changes
    # nothing in AWS but must still be applied to bring the stream into the state.
    imported = change(
        'module.stream["clicks"].aws_kinesis_stream.this', "aws_kinesis_stream", "no-op"
    )
    imported["change"]["importing"] = {"id": "legacy-clicks"}
    summary = summarise_plan("old", {"resource_changes": [imported]})
    assert summary.has_changes
    assert summary.as_dict()["totals"]["import"] == 1
    assert summary.as_dict()["totals"]["change"] == 0
    assert "1 to import, 0 to add, 0 to change" in summary.text()
    assert "| `aws_kinesis_stream` | 1 | 0 | 0 | 0 | 0 |" in summary.markdown()
    refuse_destruction(summary)


def test_a_plan_that_only_moves_resources_counts_as_a_change_so_it_is_applied():
    plan = {
        "resource_changes": [
            {
                "address": "module.key[0].aws_kms_key.this",
                "previous_address": "aws_kms_key.this[0]",
                "type": "aws_kms_key",
                "change": {"actions": ["no-op"]},
            },
            {
                "address": "aws_sqs_queue.failures",
                "type": "aws_sqs_queue",
                "change": {"actions": ["no-op"]},
            },
        ]
    }
    summary = summarise_plan("old", plan)
    assert summary.has_changes
    assert summary.totals["move"] == 1
    assert "1 to move" in summary.text()
    assert "**1** to move" in summary.markdown()


def planned(address: str, kind: str, action: str, **extra) -> dict:
    """One `terraform plan -json` planned_change message."""
    resource = {"addr": address, "resource_type": kind}
    return {"type": "planned_change", "change": {"resource": resource, "action": action, **extra}}


MESSAGES = [
    {"type": "version", "terraform": "1.11.4"},
    planned('module.stream["clicks"].aws_kinesis_stream.this', "aws_kinesis_stream", "replace"),
    planned("module.replicator.aws_lambda_function.this", "aws_lambda_function", "update"),
    planned("module.control_plane.aws_ssm_parameter.route[0]", "aws_ssm_parameter", "create"),
    planned("data.aws_caller_identity.this", "aws_caller_identity", "read"),
    {"type": "change_summary", "changes": {"add": 1, "change": 1, "remove": 1}},
    {
        "type": "outputs",
        "outputs": {"stream_arns": {"action": "update"}, "same": {"action": "noop"}},
    },
]


def test_a_plan_read_from_its_json_messages_summarises_as_its_show_json_document():
    from_messages = summarise_plan("new", plan_from_messages(MESSAGES))
    assert from_messages.as_dict() == summarise_plan("new", PLAN).as_dict()


def test_imports_moves_and_removals_in_json_messages_are_counted_as_in_show_json():
    messages = [
        planned("aws_kinesis_stream.a", "aws_kinesis_stream", "import", importing={"id": "a"}),
        planned(
            "module.stream.aws_kinesis_stream.b",
            "aws_kinesis_stream",
            "move",
            previous_resource={"addr": "aws_kinesis_stream.b"},
        ),
        planned("aws_sqs_queue.c", "aws_sqs_queue", "update", importing={"id": "c"}),
        planned("aws_sqs_queue.gone", "aws_sqs_queue", "remove"),
        planned("aws_sqs_queue.same", "aws_sqs_queue", "noop"),
    ]
    totals = summarise_plan("old", plan_from_messages(messages)).as_dict()["totals"]
    assert totals == {"import": 2, "move": 1, "add": 0, "change": 1, "replace": 0, "destroy": 0}


def test_a_plan_with_only_noop_messages_has_no_changes():
    messages = [planned("aws_sqs_queue.same", "aws_sqs_queue", "noop"), MESSAGES[-1]]
    messages[-1] = {"type": "outputs", "outputs": {"same": {"action": "noop"}}}
    assert not summarise_plan("old", plan_from_messages(messages)).has_changes
