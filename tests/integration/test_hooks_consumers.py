"""pause_consumers / resume_consumers / verify_consumers_paused / verify_consumers_running on the
emulator, with the local Lambda runtime delivering records: a paused mapping keeps its position."""

from __future__ import annotations

import time

import pytest
from hooks_kit import context, create_streams, make_spec, run_hook

from turnout.hooks import HookFailed

pytestmark = pytest.mark.integration


def lambda_consumer(lambda_kit) -> dict:
    return {"kind": "lambda", "function_name": lambda_kit.name("fn"), "streams": ["events"]}


def test_pause_keeps_the_position_and_resume_delivers_what_arrived_while_paused(
    emulator, lambda_kit
):
    spec = make_spec(emulator, consumers_old=[lambda_consumer(lambda_kit)], shards=1)
    arn = create_streams(emulator, spec, "old")["events"]
    table = lambda_kit.table()
    function = lambda_kit.function(table=table)
    mapping = lambda_kit.mapping("old", function, arn, BatchSize=10)
    runtime = lambda_kit.runtime()
    runtime.start_in_thread()
    ctx = context(emulator, spec)

    lambda_kit.put(arn, ["a", "b"])
    lambda_kit.wait_for(lambda: lambda_kit.processed(table) == ["a", "b"])

    paused = run_hook("pause_consumers", {"environment": "old", "poll_seconds": 0.1}, ctx)
    (entry,) = paused["consumers"]
    assert entry["mappings"][0]["uuid"] == mapping
    assert entry["mappings"][0]["before"] == "Enabled"
    assert entry["mappings"][0]["after"] == "Disabled"
    assert entry["mappings"][0]["changed"] is True
    run_hook("verify_consumers_paused", {"environment": "old"}, ctx)
    with pytest.raises(HookFailed, match="not all running"):
        run_hook("verify_consumers_running", {"environment": "old"}, ctx)
    # Idempotent: a second pause changes nothing.
    again = run_hook("pause_consumers", {"environment": "old"}, ctx)
    assert again["consumers"][0]["mappings"][0]["changed"] is False

    assert runtime.wait_refreshed(5)
    lambda_kit.put(arn, ["c", "d"])
    time.sleep(1.0)
    assert lambda_kit.processed(table) == ["a", "b"], "a disabled mapping delivered records"

    resumed = run_hook("resume_consumers", {"environment": "old", "poll_seconds": 0.1}, ctx)
    assert resumed["consumers"][0]["mappings"][0]["after"] == "Enabled"
    run_hook("verify_consumers_running", {"environment": "old"}, ctx)
    lambda_kit.wait_for(lambda: lambda_kit.processed(table) == ["a", "b", "c", "d"])
    assert (
        emulator.client("lambda", "old").get_event_source_mapping(UUID=mapping)["UUID"] == mapping
    ), "the mapping must be the same one (never recreated)"


def test_dry_run_pause_reports_what_would_change_and_changes_nothing(emulator, lambda_kit):
    spec = make_spec(emulator, consumers_old=[lambda_consumer(lambda_kit)])
    arn = create_streams(emulator, spec, "old")["events"]
    function = lambda_kit.function(table=lambda_kit.table())
    mapping = lambda_kit.mapping("old", function, arn)
    data = run_hook(
        "pause_consumers", {"environment": "old"}, context(emulator, spec, dry_run=True)
    )
    assert data["consumers"][0]["mappings"] == [
        {
            "uuid": mapping,
            "source": f"{spec.streams[0].name_in('old')}",
            "state": "Enabled",
            "would_change": True,
        }
    ]
    assert emulator.client("lambda", "old").get_event_source_mapping(UUID=mapping)["State"] == (
        "Enabled"
    )


def test_only_mappings_on_the_consumers_streams_are_paused(emulator, lambda_kit):
    spec = make_spec(emulator, consumers_old=[lambda_consumer(lambda_kit)])
    arn = create_streams(emulator, spec, "old")["events"]
    other = lambda_kit.stream("old", name=lambda_kit.name("unrelated"))
    function = lambda_kit.function(table=lambda_kit.table())
    ours = lambda_kit.mapping("old", function, arn)
    theirs = lambda_kit.mapping("old", function, other)
    run_hook("pause_consumers", {"environment": "old"}, context(emulator, spec))
    lam = emulator.client("lambda", "old")
    assert lam.get_event_source_mapping(UUID=ours)["State"] == "Disabled"
    assert lam.get_event_source_mapping(UUID=theirs)["State"] == "Enabled"


def test_a_lambda_consumer_without_a_mapping_fails_the_pause_and_the_check(emulator, lambda_kit):
    spec = make_spec(emulator, consumers_old=[lambda_consumer(lambda_kit)])
    create_streams(emulator, spec, "old")
    lambda_kit.function(table=lambda_kit.table())
    ctx = context(emulator, spec)
    with pytest.raises(HookFailed, match="has no event source mapping"):
        run_hook("pause_consumers", {"environment": "old"}, ctx)
    with pytest.raises(HookFailed, match="has no mapping"):
        run_hook("verify_consumers_paused", {"environment": "old"}, ctx)
