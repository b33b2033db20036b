"""The preflight gate on the emulator: a cutover refused before baseline->switched because a new
consumer's real event source mapping starts at LATEST (it would miss every record the producers
write to the new streams between the switch and new-live), with the migration state unchanged;
then, the mapping recreated at TRIM_HORIZON, the same cutover goes on.

The gate is the real built-in hook reading the real mapping through the environment's
credentials; the transition's own steps are stand-ins and Terraform a recorder (the sandbox tests
run those for real).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from engine_kit import RecordingApplier, emulator_engine, hooks_of, stand_in_hooks
from hooks_kit import create_streams, make_spec

from turnout.engine.runner import CutoverEngine, CutoverFailed
from turnout.spec.model import MigrationSpec
from turnout.spec.names import control_plane

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def gated_spec(emulator, function_name: str) -> MigrationSpec:
    """One stream, one new Lambda consumer; a 12 h window + 6 h margin fits 24 h retention."""
    consumers = [{"kind": "lambda", "function_name": function_name, "streams": ["events"]}]
    document = make_spec(emulator, consumers_new=consumers).model_dump(
        mode="json", exclude_none=True
    )
    document["cutover"]["planned_window_hours"] = 12
    return MigrationSpec.model_validate(document)


def engine_for(emulator, spec, tmp_path, monkeypatch) -> tuple[CutoverEngine, RecordingApplier]:
    names = hooks_of(spec, [("baseline", "switched")])
    hooks = stand_in_hooks(tmp_path / "hooks", names, monkeypatch, real=["check_preflight"])
    applier = RecordingApplier()
    return emulator_engine(emulator, spec, hooks, applier), applier


def state_item(emulator, spec) -> dict | None:
    return (
        emulator.client("dynamodb", "old")
        .get_item(
            TableName=control_plane(spec).state_table,
            Key={"pk": {"S": f"migration#{spec.migration}"}, "sk": {"S": "state"}},
            ConsistentRead=True,
        )
        .get("Item")
    )


def test_a_new_consumer_at_latest_refuses_the_switch_until_its_mapping_reads_from_trim_horizon(
    emulator, lambda_kit, tmp_path, monkeypatch
):
    function_name = lambda_kit.name("gate-consumer")
    spec = gated_spec(emulator, function_name)
    create_streams(emulator, spec, "old")  # the hot-keys row samples what producers write there
    stream_arn = create_streams(emulator, spec, "new")["events"]
    function = lambda_kit.function("new", table=lambda_kit.table("new"), name=function_name)
    latest = lambda_kit.mapping(
        "new", function, stream_arn, StartingPosition="LATEST", Enabled=False
    )
    engine, applier = engine_for(emulator, spec, tmp_path, monkeypatch)
    before = state_item(emulator, spec)

    with pytest.raises(CutoverFailed) as refused:
        engine.run("switched")
    message = str(refused.value)
    assert "refused before baseline->switched by the preflight" in message
    assert f"starting-positions failed: lambda:{function_name} (new) mapping {latest}" in message
    assert "baseline->switched did not start, the live phase is still 'baseline'" in message
    assert "\n" not in message and "Traceback" not in message
    assert state_item(emulator, spec) == before, "the migration state is exactly as it was"
    assert applier.applied == [] and not (tmp_path / "hooks.log").exists(), "no step ran"
    journal = [(e["kind"], e["action"]) for e in engine.store.read_journal(newest_first=False)]
    assert journal[-2:] == [("gate", "refused"), ("lock", "released")]

    # The fix: a mapping's starting position cannot be updated; it is recreated (paused).
    emulator.client("lambda", "new").delete_event_source_mapping(UUID=latest)
    lambda_kit.mapping("new", function, stream_arn, StartingPosition="TRIM_HORIZON", Enabled=False)
    report = engine.run("switched")
    assert report.end_phase == "switched" and engine.store.load().phase == "switched"
    assert applier.applied == ["route-to-new"]  # baseline->switched's only apply
    [passed] = [
        e
        for e in engine.store.read_journal(newest_first=False)
        if (e["kind"], e["action"]) == ("gate", "passed")
    ]
    rows = {row["name"]: row["verdict"] for row in passed["details"]["outcome"]["checks"]}
    assert rows["starting-positions"] == "pass" and rows["consumer-retries"] == "pass"
