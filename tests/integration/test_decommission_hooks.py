"""The decommission's hooks on the emulator: the old streams are kept until their retention has
passed since the commit and are refused while anything was written to them since; the old
consumers' mappings are deleted (and only theirs); leftovers of the replication are named."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from hooks_kit import HOOKS, REPO, create_streams, make_spec

from turnout.aws.access import AwsAccess
from turnout.hooks import HookContext, HookFailed, load_hook
from turnout.spec.model import MigrationSpec

pytestmark = pytest.mark.integration
HOURS = 3600


def context(emulator, spec: MigrationSpec, committed: float, now: float) -> HookContext:
    """`now`: the services' clock (the journal's and the streams'), which the retention is
    judged on."""
    aws = AwsAccess.for_emulator(spec, emulator)
    aws.clock = lambda: now
    return HookContext(
        spec=spec,
        aws=aws,
        phase_from="committed",
        phase_to="decommissioned",
        project_root=REPO,
        progress=lambda line: None,
        phase_since=datetime.fromtimestamp(committed, UTC).isoformat(),
    )


@pytest.fixture
def old_stream(emulator):
    spec = make_spec(emulator, shards=2)
    create_streams(emulator, spec, "old")
    kinesis = emulator.client("kinesis", "old")
    name = spec.streams[0].name_in("old")
    for number in range(20):
        kinesis.put_record(StreamName=name, Data=b"before the commit", PartitionKey=f"k{number}")
    time.sleep(1.2)  # arrival timestamps have millisecond precision: the commit is after them
    committed = time.time()
    time.sleep(0.2)
    return spec, name, committed


def test_old_streams_are_kept_until_their_retention_has_passed_since_the_commit(
    emulator, old_stream
):
    spec, name, committed = old_stream
    hook = load_hook(HOOKS, "verify_old_streams_retired")
    with pytest.raises(HookFailed) as kept:
        hook.run(context(emulator, spec, committed, now=committed + 23 * HOURS))
    message = str(kept.value)
    due = datetime.fromtimestamp(committed + 24 * HOURS, UTC).isoformat(timespec="seconds")
    assert f"{name} until {due}" in message and "Nothing was deleted" in message
    assert "\n" not in message


def test_streams_nothing_was_written_to_since_the_commit_may_go(emulator, old_stream):
    spec, name, committed = old_stream
    hook = load_hook(HOOKS, "verify_old_streams_retired")
    result = hook.run(context(emulator, spec, committed, now=committed + 25 * HOURS))
    assert result["streams"][name]["records"] == 0
    assert result["streams"][name]["complete"] is True


def test_a_record_written_after_the_commit_keeps_the_streams(emulator, old_stream):
    spec, name, committed = old_stream
    emulator.client("kinesis", "old").put_record(
        StreamName=name, Data=b"a producer still writes here", PartitionKey="late"
    )
    hook = load_hook(HOOKS, "verify_old_streams_retired")
    with pytest.raises(HookFailed) as written:
        hook.run(context(emulator, spec, committed, now=committed + 25 * HOURS))
    message = str(written.value)
    assert f"{name}: 1 record(s) read since the commit" in message
    assert "Nothing was deleted" in message and "\n" not in message


def test_removing_the_old_consumers_deletes_their_mappings_on_the_spec_streams_only(
    emulator, lambda_kit
):
    table = lambda_kit.table("old")
    function = lambda_kit.function("old", table=table)
    name = function.rsplit(":", 1)[-1]
    spec = make_spec(
        emulator,
        consumers_old=[{"kind": "lambda", "function_name": name, "streams": ["events"]}],
    )
    arns = create_streams(emulator, spec, "old")
    on_spec = lambda_kit.mapping("old", function, arns["events"], Enabled=False)
    elsewhere = lambda_kit.mapping("old", function, lambda_kit.stream("old"), Enabled=False)
    hook = load_hook(HOOKS, "remove_consumer_mappings", {"environment": "old"})
    now = time.time()
    dry = context(emulator, spec, now, now)
    dry.dry_run = True
    assert [m["uuid"] for m in hook.run(dry)["removed"]] == [on_spec]
    result = hook.run(context(emulator, spec, now, now))
    assert [m["uuid"] for m in result["removed"]] == [on_spec]
    lam = emulator.client("lambda", "old")
    remaining = [
        m["UUID"] for m in lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    ]
    assert remaining == [elsewhere], "a mapping on a stream outside the spec is not touched"
    assert hook.run(context(emulator, spec, now, now))["removed"] == [], "idempotent"


def test_leftovers_of_the_replication_are_named(emulator):
    spec = make_spec(emulator)
    iam = emulator.client("iam", "new")
    writer = f"{spec.environments.new.name_prefix}turnout-writer-from-old"
    iam.create_role(RoleName=writer, AssumeRolePolicyDocument="{}")
    hook = load_hook(HOOKS, "verify_decommissioned")
    now = time.time()
    with pytest.raises(HookFailed, match=f"new: role {writer}"):
        hook.run(context(emulator, spec, now, now))
    iam.delete_role(RoleName=writer)
    assert hook.run(context(emulator, spec, now, now))["gone"] is True
