"""Check 1, `starting-positions`, on the emulator's `aws` profile: what it prevents, shown with
the check taken out of the gate before mirrored->new-live.

The set-up is the cutover's own: a new Lambda consumer whose real event source mapping starts
at LATEST, paused (as the cutover keeps the new consumers until new-live) while producers
already write to the new stream. Without the check the gate lets new-live enable it, and the
records written while it was paused are never delivered (counted): LATEST is the stream's tip
when the mapping starts polling (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html,
"Polling and stream starting positions"). With the check the gate refuses before the mapping is
enabled: the records are still in the stream, and the mapping recreated at TRIM_HORIZON
delivers every one of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hooks_kit import create_streams, make_spec
from loss_kit import held_by_stream, rows, run_gate

from turnout.preflight.gate import PreflightRefused

pytestmark = pytest.mark.integration

CHECK = "starting-positions"
WHILE_PAUSED = [f"paused-{index}" for index in range(5)]
AFTER_NEW_LIVE = [f"live-{index}" for index in range(5)]


@dataclass
class PausedConsumer:
    kit: object
    spec: object
    function: str
    function_name: str
    stream_arn: str
    table: str
    mapping: str
    switched_at: datetime


@pytest.fixture
def paused_at_latest(emulator, lambda_kit):
    """A new consumer paused at LATEST; the producers wrote WHILE_PAUSED to its stream since the
    switch. The local Lambda runtime runs (a mapping polls only once enabled)."""
    function_name = lambda_kit.name("loss-latest")
    consumers = [{"kind": "lambda", "function_name": function_name, "streams": ["events"]}]
    spec = make_spec(emulator, consumers_new=consumers, shards=1)
    stream_arn = create_streams(emulator, spec, "new")["events"]
    table = lambda_kit.table("new")
    function = lambda_kit.function("new", table=table, name=function_name)
    mapping = lambda_kit.mapping(
        "new", function, stream_arn, StartingPosition="LATEST", Enabled=False
    )
    runtime = lambda_kit.runtime()
    with runtime:
        lambda_kit.wait_for(lambda: runtime.store.mapping(mapping) is not None)
        switched_at = datetime.now(UTC)
        lambda_kit.put(stream_arn, WHILE_PAUSED, account="new")
        yield (
            PausedConsumer(
                lambda_kit, spec, function, function_name, stream_arn, table, mapping, switched_at
            ),
            runtime,
        )


def enable_and_write_after(consumer: PausedConsumer, runtime, mapping: str) -> list[str]:
    """What new-live does to the consumer (enable its mapping), then producers go on writing;
    returns what the consumer processed once the later records are through."""
    kit = consumer.kit
    kit.set_enabled("new", mapping, True)
    kit.wait_for(lambda: mapping in runtime.running_mappings())
    kit.wait_for(lambda: runtime.mapping_positions(mapping) != {}, 10)  # it has started polling
    kit.put(consumer.stream_arn, AFTER_NEW_LIVE, account="new")
    kit.wait_for(lambda: set(AFTER_NEW_LIVE) <= set(kit.processed(consumer.table, "new")), 30)
    time.sleep(0.5)  # anything still to come from the stream arrives
    return kit.processed(consumer.table, "new")


def test_without_the_starting_positions_check_new_live_loses_the_records_written_while_paused(
    emulator, paused_at_latest
):
    consumer, runtime = paused_at_latest
    outcome = run_gate(
        emulator, consumer.spec, "mirrored", "new-live", consumer.switched_at, without=[CHECK]
    )
    assert CHECK not in rows(outcome) and set(rows(outcome).values()) == {"pass"}, outcome

    processed = enable_and_write_after(consumer, runtime, consumer.mapping)
    lost = [record for record in WHILE_PAUSED if record not in processed]
    assert lost == WHILE_PAUSED, f"every record written while paused is lost: {processed}"
    assert sorted(processed) == sorted(AFTER_NEW_LIVE)
    assert (
        held_by_stream(consumer.kit.client("kinesis", "new"), consumer.spec)[: len(WHILE_PAUSED)]
        == WHILE_PAUSED
    ), "the stream still held them: the consumer's LATEST start skipped them"


def test_with_the_starting_positions_check_the_gate_refuses_before_the_consumer_is_enabled(
    emulator, paused_at_latest
):
    consumer, runtime = paused_at_latest
    with pytest.raises(PreflightRefused) as refused:
        run_gate(emulator, consumer.spec, "mirrored", "new-live", consumer.switched_at)
    message = str(refused.value)
    assert "refused before mirrored->new-live by the preflight" in message
    assert (
        f"{CHECK} failed: lambda:{consumer.function_name} (new) mapping {consumer.mapping} "
        "on events starts at LATEST"
    ) in message
    assert "\n" not in message
    lam = consumer.kit.client("lambda", "new")
    assert lam.get_event_source_mapping(UUID=consumer.mapping)["State"] == "Disabled"
    assert consumer.kit.processed(consumer.table, "new") == []
    assert held_by_stream(consumer.kit.client("kinesis", "new"), consumer.spec) == WHILE_PAUSED, (
        "nothing is lost: the stream holds them"
    )

    # The change the check names: recreate the paused mapping at TRIM_HORIZON.
    lam.delete_event_source_mapping(UUID=consumer.mapping)
    mapping = consumer.kit.mapping(
        "new",
        consumer.function,
        consumer.stream_arn,
        StartingPosition="TRIM_HORIZON",
        Enabled=False,
    )
    outcome = run_gate(emulator, consumer.spec, "mirrored", "new-live", consumer.switched_at)
    assert rows(outcome)[CHECK] == "pass"
    consumer.kit.wait_for(lambda: runtime.store.mapping(mapping) is not None)
    processed = enable_and_write_after(consumer, runtime, mapping)
    assert sorted(processed) == sorted(WHILE_PAUSED + AFTER_NEW_LIVE), "nothing was lost"
