"""The engine around data stores and decommission, on the emulator's DynamoDB (state, journal,
lock): a data store that cannot be copied stops a cutover before anything changes, with the
migration state exactly as it was; the old streams are deleted only by a run with
--allow-destroy, and a refused run leaves the checks before the deletion to be measured again.

Terraform is a recorder here and the cutover's own hooks are stand-ins (the sandbox test runs the
real ones); the data store preflight runs the real built-in hook against real buckets and tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datastores_kit import create_buckets, create_table, make_spec, unique
from engine_kit import RecordingApplier, emulator_engine, hooks_of, stand_in_hooks

from turnout.engine.runner import CutoverFailed
from turnout.engine.steps import PathError, path
from turnout.sandbox.chaos.api_faults import set_faults
from turnout.spec.model import MigrationSpec
from turnout.spec.names import control_plane

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def engine_for(emulator, spec: MigrationSpec, tmp_path: Path, monkeypatch) -> tuple:
    """An engine whose hooks are stand-ins that pass, except the real check_data_stores."""
    names = hooks_of(spec, [*path("baseline", "decommissioned"), ("mirrored", "rolled-back")])
    hooks = stand_in_hooks(tmp_path / "hooks", names, monkeypatch, real=["check_data_stores"])
    applier = RecordingApplier()
    engine = emulator_engine(emulator, spec, hooks, applier)
    return engine, applier, emulator.client("dynamodb", "old")


def state_item(dynamodb, spec: MigrationSpec) -> dict | None:
    return dynamodb.get_item(
        TableName=control_plane(spec).state_table,
        Key={"pk": {"S": f"migration#{spec.migration}"}, "sk": {"S": "state"}},
        ConsistentRead=True,
    ).get("Item")


def stores_at_the_switch(source: dict) -> list[dict]:
    return [{**source, "at": {"transition": "baseline->switched"}}]


@pytest.mark.parametrize("problem", ["unknown bucket", "table the credentials cannot read"])
def test_a_data_store_that_cannot_be_copied_stops_the_cutover_before_anything_changes(
    emulator, tmp_path, monkeypatch, problem
):
    if problem == "unknown bucket":
        target = unique("dst")
        create_buckets(emulator, unique("unused"), target)
        store = {"kind": "s3", "name": "assets", "source": "no-such-bucket", "target": target}
        culprit, denied = "'no-such-bucket' does not exist", None
    else:
        source, target = unique("src"), unique("dst")
        create_table(emulator, "old", source)
        create_table(emulator, "new", target)
        store = {"kind": "dynamodb", "name": "profiles", "source": source, "target": target}
        culprit, denied = f"may not read table '{source}'", source
    spec = make_spec(emulator, stores_at_the_switch(store))
    engine, applier, dynamodb = engine_for(emulator, spec, tmp_path, monkeypatch)
    engine.run("baseline")  # nothing to do: the state item is written by nothing
    before = state_item(dynamodb, spec)
    if denied:
        set_faults(emulator.endpoint_url, [{"operation": "dynamodb Scan", "deny_resource": denied}])
    try:
        with pytest.raises(CutoverFailed) as refused:
            engine.run("switched")
    finally:
        set_faults(emulator.endpoint_url, [])
    message = str(refused.value)
    assert culprit in message and "data_stores[0].source" in message
    assert "Nothing was changed: no step ran, the live phase is still 'baseline'" in message
    assert "\n" not in message and "Traceback" not in message
    assert state_item(dynamodb, spec) == before, "the migration state is exactly as it was"
    assert applier.applied == [] and not (tmp_path / "hooks.log").exists(), "no step ran"
    journal = engine.store.read_journal(newest_first=False)
    assert [(e["kind"], e["action"]) for e in journal][-3:] == [
        ("lock", "acquired"),
        ("preflight", "failed"),
        ("lock", "released"),
    ]
    assert engine.lock.holder() is None


def test_the_old_streams_are_deleted_only_by_a_run_with_allow_destroy(
    emulator, tmp_path, monkeypatch
):
    spec = make_spec(emulator, [])
    engine, applier, _ = engine_for(emulator, spec, tmp_path, monkeypatch)
    engine.run("committed")
    with pytest.raises(CutoverFailed) as refused:
        engine.run("decommissioned")
    assert "needs --allow-destroy" in str(refused.value) and "Nothing was deleted" in str(
        refused.value
    )
    assert applier.applied[-1] == "remove-replication"
    state = engine.store.load()
    assert state.phase == "committed" and state.transition.to_phase == "decommissioned"
    assert "delete-old-streams" not in state.transition.started_side_effects
    log = tmp_path / "hooks.log"
    calls_before = len(log.read_text().splitlines())
    report = engine.run("decommissioned", allow_destroy=True)
    assert report.end_phase == "decommissioned"
    assert applier.applied[-2:] == ["remove-replication", "delete-old-streams"]
    resumed = [json.loads(line)["hook"] for line in log.read_text().splitlines()[calls_before:]]
    assert resumed == [
        "verify_decommissioned",
        "verify_old_streams_retired",
        "verify_decommissioned",
    ], (
        "the checks after the last side effect (nothing written since the commit) are measured "
        f"again before the deletion: {resumed}"
    )
    with pytest.raises(PathError, match="cannot roll back from 'decommissioned'"):
        engine.run("rolled-back")


def test_a_pending_decommission_cannot_be_rolled_back(emulator, tmp_path, monkeypatch):
    spec = make_spec(emulator, [])
    engine, _, _ = engine_for(emulator, spec, tmp_path, monkeypatch)
    engine.run("committed")
    with pytest.raises(CutoverFailed):
        engine.run("decommissioned")
    with pytest.raises(PathError, match="cannot roll back from 'committed'"):
        engine.run("rolled-back")
    assert engine.store.load().transition.to_phase == "decommissioned"
