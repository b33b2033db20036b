"""The step table's data store copies and decommission, the plan guard's expected destroys, and
the decommissioned tfvars."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from turnout.deploy.plan_summary import refuse_destruction, summarise_plan
from turnout.deploy.posture import expected_destroys
from turnout.deploy.render import render_environments
from turnout.engine.steps import ApplyStep, PathError, path, preflight, transition
from turnout.errors import TerraformError
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "terraform" / "migration.yaml"


def example(**changes) -> MigrationSpec:
    document = load_spec(EXAMPLE).model_dump(mode="json", exclude_none=True)
    document.update(changes)
    return MigrationSpec.model_validate(document)


def ids(steps) -> list[str]:
    return [step.id for step in steps]


def test_data_stores_are_copied_at_their_declared_point_after_the_user_pre_hooks():
    spec = example(
        hooks=[{"transition": "switched->mirrored", "hook": "warm_caches"}],
        data_stores=[
            {"kind": "s3", "name": "assets", "source": "a-src", "target": "a-dst"},
            {
                "kind": "dynamodb",
                "name": "late",
                "source": "t-src",
                "target": "t-dst",
                "at": {"transition": "new-live->committed", "when": "post"},
            },
        ],
    )
    mirrored = ids(transition("switched", "mirrored", spec).steps)
    assert mirrored == [
        "new-consumers-paused",
        "old-consumers-drained",
        "user-pre-0-warm_caches",
        "copy-assets",
        "replicate-new-to-old",
        "replication-flowing",
    ]
    committed = transition("new-live", "committed", spec).steps
    assert ids(committed)[-1] == "copy-late" and committed[-1].hook == "copy_dynamodb"
    assert committed[-1].kind == "action", "a copy is done once, never repeated on resume"


def test_the_preflight_checks_every_copy_on_the_path_not_done_yet():
    spec = load_spec(EXAMPLE)
    forward = [transition(a, b, spec) for a, b in path("baseline", "committed")]
    check, apis = preflight(spec, forward, completed=[])
    assert check.hook == "check_data_stores" and check.fact
    assert apis.hook == "check_apis", "the example's API is switched on this path too"
    assert check.args(spec) == {"stores": ["assets", "profiles", "processed"]}
    resumed = preflight(spec, forward, completed=["copy-assets"])
    assert resumed[0].args(spec) == {"stores": ["profiles", "processed"]}
    assert preflight(spec, forward[:1], completed=[]) == [], "no copy on baseline->switched"


def test_decommission_removes_the_machinery_then_last_the_old_streams():
    spec = load_spec(EXAMPLE)
    steps = transition("committed", "decommissioned", spec).steps
    assert ids(steps) == [
        "replication-off",
        "old-consumers-paused",
        "remove-old-mappings",
        "remove-replication",
        "replication-removed",
        "old-streams-retired",
        "delete-old-streams",
        "old-streams-deleted",
    ]
    removal, deletion = [step for step in steps if isinstance(step, ApplyStep)]
    assert not removal.posture.replication_deployed and not removal.posture.old_streams_deleted
    assert deletion.posture.old_streams_deleted
    kept = example(decommission={"delete_old_streams": False})
    assert ids(transition("committed", "decommissioned", kept).steps)[-1] == "replication-removed"


def test_decommissioned_is_reached_only_from_committed():
    assert path("committed", "decommissioned") == [("committed", "decommissioned")]
    with pytest.raises(PathError, match="only decommissioned"):
        path("committed", "mirrored")
    with pytest.raises(PathError, match="decommissioned"):
        path("decommissioned", "rolled-back")


def plan(*changes: tuple[str, str, list[str]]) -> dict:
    return {
        "resource_changes": [
            {"address": address, "type": kind, "change": {"actions": actions}}
            for address, kind, actions in changes
        ]
    }


def test_the_plan_guard_lets_a_posture_destroy_exactly_what_it_removes():
    summary = summarise_plan(
        "old",
        plan(
            ("module.replicator[0].aws_dynamodb_table.ledger", "aws_dynamodb_table", ["delete"]),
            ("module.replicator[0].aws_lambda_function.this", "aws_lambda_function", ["delete"]),
        ),
    )
    assert summary.removed == [
        "module.replicator[0].aws_dynamodb_table.ledger",
        "module.replicator[0].aws_lambda_function.this",
    ]
    assert "destroys module.replicator[0].aws_lambda_function.this" in summary.text()
    refuse_destruction(summary, expected=("module.replicator[0].",))
    with pytest.raises(TerraformError, match="ledger"):
        refuse_destruction(summary)
    state = summarise_plan(
        "old",
        plan(
            ("module.control_plane.aws_dynamodb_table.state[0]", "aws_dynamodb_table", ["delete"])
        ),
    )
    with pytest.raises(TerraformError, match="state"):
        refuse_destruction(state, expected=("module.replicator[0].",))


def test_each_posture_expects_its_own_destroys_and_no_other():
    spec = load_spec(EXAMPLE)
    removal, deletion = [
        step
        for step in transition("committed", "decommissioned", spec).steps
        if isinstance(step, ApplyStep)
    ]
    # The old consumers' read-across mappings exist only in replication mode read-across
    # (docs/read-across.md); the decommission removes them with the replication.
    read_across = "aws_lambda_event_source_mapping.read_across["
    assert expected_destroys(removal.posture, "old") == ("module.replicator[0].", read_across)
    assert expected_destroys(deletion.posture, "old") == (
        "module.replicator[0].",
        read_across,
        "module.stream[",
    )
    assert expected_destroys(deletion.posture, "new") == ("module.replicator[0].",)
    mirrored = transition("switched", "mirrored", spec).steps
    assert all(
        expected_destroys(step.posture, "old") == ()
        for step in mirrored
        if isinstance(step, ApplyStep)
    )


def test_the_decommissioned_tfvars_remove_replication_and_the_old_streams(tmp_path):
    spec = example(phase="decommissioned")
    rendered = {
        item.environment: json.loads(item.content)
        for item in render_environments(spec, REPO / "terraform", output_dir=tmp_path)
    }
    assert rendered["old"]["replication"]["deployed"] is False
    assert rendered["old"]["streams"] == {}
    assert rendered["new"]["replication"]["deployed"] is False
    assert set(rendered["new"]["streams"]) == {"clicks", "orders", "audit"}
    assert rendered["old"]["migration"]["phase"] == "decommissioned"
    kept = example(phase="decommissioned", decommission={"delete_old_streams": False})
    old = json.loads(render_environments(kept, REPO / "terraform", output_dir=tmp_path)[0].content)
    assert set(old["streams"]) == {"clicks", "orders", "audit"}
