"""Event source mappings under the ``aws`` fidelity profile: timed states, LATEST at the moment
a mapping starts polling, in-flight batches when disabled. Each check runs against the aws
profile (the session emulator) and, where the behaviour can be switched off, against the
``fast`` profile, where it must fail."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from turnout.sandbox.emulator.launcher import Emulator
from turnout.sandbox.emulator.profile import FAST

REGION = "eu-west-1"


@pytest.fixture(scope="module")
def fast_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = Emulator(tmp_path_factory.mktemp("fast-emulator"), region=REGION, profile=FAST).start()
    yield emu
    emu.stop()


@pytest.fixture
def fast_kit(fast_emulator: Emulator, lambda_kit_for):
    return lambda_kit_for(fast_emulator)


def _check_timed_states(kit) -> None:
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table)
    lam = kit.client("lambda")
    uuid = kit.mapping("old", fn, stream, settle=False, Enabled=False)
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Creating"
    with pytest.raises(ClientError) as busy:
        lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    assert busy.value.response["Error"]["Code"] == "ResourceInUseException"
    kit.wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled", 10)
    assert lam.update_event_source_mapping(UUID=uuid, Enabled=True)["State"] == "Enabling"
    kit.wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled", 10)
    assert lam.update_event_source_mapping(UUID=uuid, BatchSize=10)["State"] == "Updating"
    kit.wait_for(lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled", 10)
    assert lam.update_event_source_mapping(UUID=uuid, Enabled=False)["State"] == "Disabling"


def test_mapping_state_changes_take_time_and_refuse_updates_meanwhile(lambda_kit, fast_kit):
    """A mapping is Creating, Enabling, Updating or Disabling for a while before it settles;
    an update meanwhile is refused (ResourceInUseException).
    https://docs.aws.amazon.com/lambda/latest/api/API_EventSourceMappingConfiguration.html
    https://docs.aws.amazon.com/lambda/latest/api/API_UpdateEventSourceMapping.html"""
    _check_timed_states(lambda_kit)
    with pytest.raises((AssertionError, ClientError)):
        _check_timed_states(fast_kit)


def _new_consumer_after_the_switch(kit) -> tuple[list[str], list[str]]:
    """The new environment's consumer is created paused at LATEST (as the cutover leaves it
    until new-live); producers already write to its stream; later it is enabled. Returns
    (what was written, what the consumer processed)."""
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table)
    uuid = kit.mapping("old", fn, stream, StartingPosition="LATEST", Enabled=False)
    runtime = kit.runtime()
    with runtime:
        kit.wait_for(lambda: runtime.store.mapping(uuid) is not None)
        while_paused = [f"paused{i}" for i in range(5)]
        kit.put(stream, while_paused)  # after the switch, before the consumer is enabled
        kit.set_enabled("old", uuid, True)
        kit.wait_for(lambda: uuid in runtime.running_mappings())
        kit.wait_for(lambda: runtime.mapping_positions(uuid) != {} or False, 10)
        after = [f"live{i}" for i in range(5)]
        kit.put(stream, after)
        kit.wait_for(lambda: set(after) <= set(kit.processed(table)), 30)
        time.sleep(0.5)
    return while_paused + after, kit.processed(table)


def test_a_new_consumer_enabled_at_latest_after_the_switch_misses_the_records_written_before(
    lambda_kit, fast_kit
):
    """LATEST is the tip of the stream when the mapping starts polling: records written while
    the new consumer's mapping was paused are never delivered to it (the sandbox shows this
    loss; preventing it is the preflight's job). Disabling and re-enabling a mapping that has
    positions resumes from them instead.
    https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html (polling and stream starting
    positions: LATEST may miss events during a create or update)
    https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetShardIterator.html"""
    written, processed = _new_consumer_after_the_switch(lambda_kit)
    assert processed == [w for w in written if w.startswith("live")]
    missing = sorted(set(written) - set(processed))
    assert missing == [f"paused{i}" for i in range(5)]
    # Switched off (fast): LATEST was where the runtime first saw the disabled mapping.
    written, processed = _new_consumer_after_the_switch(fast_kit)
    assert processed == written


def test_a_batch_in_flight_when_the_mapping_is_disabled_completes_and_is_checkpointed(lambda_kit):
    """Disabling stops the polling; the batch being processed finishes and its position is
    kept, so re-enabling resumes after it ("resume polling from the time it had stopped").
    https://docs.aws.amazon.com/lambda/latest/api/API_UpdateEventSourceMapping.html"""
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table, env={"SLEEP": "2"})
    seqs = kit.put(stream, ["b0", "b1", "b2"])
    uuid = kit.mapping("old", fn, stream, BatchSize=10)
    runtime = kit.runtime()
    with runtime:
        kit.wait_for(runtime.invoking, 20)
        kit.client("lambda").update_event_source_mapping(UUID=uuid, Enabled=False)
        kit.wait_for(lambda: kit.processed(table) == ["b0", "b1", "b2"], 20)
        kit.wait_for(lambda: runtime.mapping_positions(uuid) == {"shardId-000000000000": seqs[-1]})
        kit.put(stream, ["later"])
        time.sleep(1.0)
        assert kit.processed(table) == ["b0", "b1", "b2"], "disabled: nothing new is delivered"
