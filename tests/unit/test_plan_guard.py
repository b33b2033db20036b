"""The plan guard: every protected resource a plan destroys or replaces is refused with its
consequence until `--allow-destroy` names its exact address."""

from __future__ import annotations

import pytest

from turnout.cli import main
from turnout.deploy.plan_summary import refuse_destruction, summarise_plan
from turnout.errors import TerraformError

MAPPING = 'module.replicator.aws_lambda_event_source_mapping.this["clicks"]'
KEY = "module.control_plane.module.key[0].aws_kms_key.this"


def replaced(address: str, kind: str, after: dict | None = None) -> dict:
    return {
        "address": address,
        "type": kind,
        "mode": "managed",
        "change": {"actions": ["delete", "create"], "after": after or {}},
    }


def destroyed(address: str, kind: str) -> dict:
    return {"address": address, "type": kind, "mode": "managed", "change": {"actions": ["delete"]}}


def refusal(*changes: dict, allowed: tuple[str, ...] = ()) -> str:
    summary = summarise_plan("new", {"resource_changes": list(changes)})
    with pytest.raises(TerraformError) as refused:
        refuse_destruction(summary, allowed)
    return " ".join(str(refused.value).split())


@pytest.mark.parametrize(
    ("position", "effect"),
    [
        ("TRIM_HORIZON", "duplicates in the peer streams"),
        ("LATEST", "never reach the peer streams"),
    ],
)
def test_a_replaced_mapping_is_refused_saying_its_checkpoint_is_lost(position, effect):
    message = refusal(
        replaced(MAPPING, "aws_lambda_event_source_mapping", {"starting_position": position})
    )
    assert f"{MAPPING} would be replaced" in message
    assert "its checkpoint (the position reached in each shard) is lost" in message
    assert f"starts at {position}" in message and effect in message
    assert f"--allow-destroy '{MAPPING}'" in message


def test_a_destroyed_read_across_mapping_is_refused_naming_the_old_consumer_not_the_replicator():
    address = 'aws_lambda_event_source_mapping.read_across["legacy-clicks-processor/clicks"]'
    message = refusal(destroyed(address, "aws_lambda_event_source_mapping"))
    assert f"{address} would be destroyed" in message
    assert "an old consumer's event source mapping on a new stream (read-across mode)" in message
    assert "the old consumer processes again every record" in message
    assert "replicator" not in message
    assert f"--allow-destroy '{address}'" in message


def test_a_replaced_kms_key_is_refused_saying_what_becomes_unreadable():
    message = refusal(replaced(KEY, "aws_kms_key"))
    assert f"{KEY} would be replaced" in message
    assert "unreadable for good" in message


@pytest.mark.parametrize(
    ("address", "kind", "words"),
    [
        (
            'module.replicator.aws_kinesis_stream_consumer.this["clicks"]',
            "aws_kinesis_stream_consumer",
            "lose their checkpoints",
        ),
        ("aws_s3_bucket.state", "aws_s3_bucket", "every state in it"),
        ("module.control_plane.aws_dynamodb_table.state[0]", "aws_dynamodb_table", "journal"),
        ("module.control_plane.aws_dynamodb_table.lock[0]", "aws_dynamodb_table", "lease"),
        ("module.control_plane.aws_dynamodb_table.markers", "aws_dynamodb_table", "drain-marker"),
        ("module.replicator.aws_dynamodb_table.ledger", "aws_dynamodb_table", "per-shard progress"),
        ('module.stream["audit"].aws_kinesis_stream.this', "aws_kinesis_stream", "buffers"),
    ],
)
def test_each_protected_kind_is_refused_with_its_consequence(address, kind, words):
    message = refusal(destroyed(address, kind))
    assert f"{address} would be destroyed" in message
    assert words in message


def test_naming_one_address_lets_only_that_one_through():
    changes = (
        replaced(MAPPING, "aws_lambda_event_source_mapping", {"starting_position": "LATEST"}),
        replaced(KEY, "aws_kms_key"),
    )
    message = refusal(*changes, allowed=(MAPPING,))
    assert KEY in message and f"{MAPPING} would be" not in message
    summary = summarise_plan("new", {"resource_changes": list(changes)})
    refuse_destruction(summary, [MAPPING, KEY])


def test_an_address_the_plan_does_not_destroy_is_refused_as_a_typo():
    message = refusal(
        replaced(KEY, "aws_kms_key"), allowed=(KEY, "module.replicator.aws_sqs_queue.failures")
    )
    assert "module.replicator.aws_sqs_queue.failures, which the new plan does not" in message
    assert KEY in message


def test_an_unprotected_replacement_passes_without_any_flag():
    summary = summarise_plan(
        "new", {"resource_changes": [replaced("module.replicator.aws_iam_role.this", "x")]}
    )
    refuse_destruction(summary)
    assert summary.destructive == []


def test_the_summary_lists_an_allowed_replacement_with_its_consequence():
    summary = summarise_plan("new", {"resource_changes": [replaced(KEY, "aws_kms_key")]})
    assert f"! {KEY} would be replaced" in summary.text()
    assert "unreadable for good" in summary.markdown()
    assert summary.as_dict()["destructive"][0]["consequence"].startswith("a KMS key")


def test_a_malformed_address_is_refused_before_anything_is_planned(capsys, tmp_path):
    assert main(["plan", "--env", "new", "--allow-destroy", "everything"]) == 2
    error = capsys.readouterr().err
    assert "--allow-destroy 'everything' is not a Terraform resource address" in error
    assert "Nothing was planned" in error and "Traceback" not in error


def test_the_bare_flag_of_earlier_releases_explains_the_new_form(capsys):
    assert main(["plan", "--env", "new", "--allow-destroy"]) == 2
    error = " ".join(capsys.readouterr().err.split())
    assert "--allow-destroy now takes the address of each resource" in error
    assert "Traceback" not in error
