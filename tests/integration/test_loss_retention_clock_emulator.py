"""Check 3, `retention-clock`, on the emulator's `aws` profile with a fast sandbox clock (one
simulated hour per real second): what it prevents, shown with the check taken out of the gate
before mirrored->new-live.

Producers write to a new stream for 26 sandbox hours while its consumer stays paused (a window
longer than the stream's 24-hour retention): Kinesis trims every record once it is older than
the retention (https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html).
Without the check the gate lets new-live enable the consumer's TRIM_HORIZON mapping: it starts
at the oldest record left and the oldest records written never reach it (counted against what
the producer wrote). With the check the gate refuses before the consumer is enabled, saying the
stream is being trimmed, and how many records went at least (CloudWatch's IncomingRecords from
the switch up to the oldest record left: AWS sequence numbers are not counters); the test checks
that count against what it wrote.

Each test has its own spec and stream, both written by one producer during one 26-second wait.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from clock_kit import fast_clock_emulator
from hooks_kit import create_streams, make_spec
from loss_kit import held_by_stream, rows, run_gate

from turnout.preflight.gate import PreflightRefused
from turnout.sandbox.emulator.launcher import Emulator

pytestmark = pytest.mark.integration

CHECK = "retention-clock"
CLOCK_RATE = 3600.0  # one simulated hour per real second
RETENTION_HOURS = 24  # the emulator's default, as on AWS
WINDOW_HOURS = 26  # how long the consumers stay paused while producers write
WRITES_PER_HOUR = 4
PACE_SECONDS = 3600 / CLOCK_RATE / WRITES_PER_HOUR  # real seconds between writes


@pytest.fixture(scope="module")
def fast_clock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with fast_clock_emulator(
        tmp_path_factory.mktemp("loss-retention-clock"), CLOCK_RATE
    ) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def paused_for_26_hours(fast_clock) -> dict[str, tuple]:
    """Two migrations ("gated", "ungated"), each a one-shard new stream read by one new Lambda
    consumer, written by producers for WINDOW_HOURS sandbox hours: {name: (spec, written)}."""
    setups = {}
    for name in ("gated", "ungated", "burst"):
        function_name = f"loss-{name}-{uuid.uuid4().hex[:8]}"
        consumers = [{"kind": "lambda", "function_name": function_name, "streams": ["events"]}]
        spec = make_spec(fast_clock, consumers_new=consumers, shards=1)
        create_streams(fast_clock, spec, "new")
        setups[name] = (spec, [])
    kinesis = fast_clock.client("kinesis", "new")
    switched_at = datetime.fromtimestamp(fast_clock.clock(), UTC)  # the journal's clock
    started = time.monotonic()
    for index in range(WINDOW_HOURS * WRITES_PER_HOUR):
        # on a schedule: the writes' own time does not stretch the window
        time.sleep(max(0.0, started + index * PACE_SECONDS - time.monotonic()))
        for name, (spec, written) in setups.items():
            for data in writes_at(name, index):
                kinesis.put_record(
                    StreamName=spec.streams[0].name_in("new"), Data=data.encode(), PartitionKey="k"
                )
                written.append(data)
    return {name: (spec, written, switched_at) for name, (spec, written) in setups.items()}


def writes_at(setup: str, index: int) -> list[str]:
    """One record a quarter of an hour; "burst": three right after the switch, one at the end."""
    if setup != "burst":
        return [f"r-{index:03d}"]
    if index == 0:
        return ["b-0", "b-1", "b-2"]
    return ["b-last"] if index == WINDOW_HOURS * WRITES_PER_HOUR - 1 else []


def paused_consumer(kit, spec) -> tuple[str, str]:
    """The consumer's function and its paused TRIM_HORIZON mapping: (table, mapping UUID)."""
    consumer = spec.consumers.new[0]
    table = kit.table("new")
    function = kit.function("new", table=table, name=consumer.function_name)
    stream_arn = kit.client("kinesis", "new").describe_stream_summary(
        StreamName=spec.streams[0].name_in("new")
    )["StreamDescriptionSummary"]["StreamARN"]
    mapping = kit.mapping(
        "new", function, stream_arn, StartingPosition="TRIM_HORIZON", Enabled=False
    )
    return table, mapping


def test_without_the_retention_clock_check_new_live_enables_a_consumer_after_trimmed_records(
    fast_clock, paused_for_26_hours, lambda_kit_for
):
    spec, written, switched_at = paused_for_26_hours["ungated"]
    kit = lambda_kit_for(fast_clock)
    table, mapping = paused_consumer(kit, spec)
    outcome = run_gate(fast_clock, spec, "mirrored", "new-live", switched_at, without=[CHECK])
    assert CHECK not in rows(outcome) and set(rows(outcome).values()) == {"pass"}, outcome

    runtime = kit.runtime()
    with runtime:
        kit.set_enabled("new", mapping, True)  # what new-live does to the consumer
        kit.wait_for(lambda: written[-1] in kit.processed(table, "new"), 30)
        time.sleep(0.5)
        processed = kit.processed(table, "new")
    lost = [record for record in written if record not in processed]
    assert lost, "a window longer than retention loses the oldest records"
    assert lost == written[: len(lost)], "the oldest records are the ones lost, with no hole"
    assert processed == written[len(lost) :], "the consumer reads everything left, in order"
    # 26 sandbox hours of writes against 24 hours of retention: at least the first 2 hours went.
    assert len(lost) >= (WINDOW_HOURS - RETENTION_HOURS) * WRITES_PER_HOUR, len(lost)


def test_with_the_retention_clock_check_the_gate_refuses_before_the_consumer_is_enabled(
    fast_clock, paused_for_26_hours, lambda_kit_for
):
    spec, written, switched_at = paused_for_26_hours["gated"]
    kit = lambda_kit_for(fast_clock)
    table, mapping = paused_consumer(kit, spec)
    with pytest.raises(PreflightRefused) as refused:
        run_gate(fast_clock, spec, "mirrored", "new-live", switched_at)
    message = str(refused.value)
    assert "refused before mirrored->new-live by the preflight" in message
    assert f"{CHECK} failed: events: its oldest record" in message
    # One record every 15 sandbox minutes: the oldest left is at retention (within the 99 %
    # line) or up to 15 minutes short of it; then CloudWatch's count since the switch says so.
    assert re.search(
        r"(it has reached retention, so Kinesis is trimming the stream|the switch started "
        r"[\d.]+ h ago, longer than its retention, and Kinesis has trimmed what was written "
        r"before it) and the records written to it before this one are gone",
        message,
    ), message
    # How many went, at least, from CloudWatch's IncomingRecords (the emulator's per-minute
    # counts, on the sandbox clock): between what 26 hours against 24 trim and what the test
    # finds gone after the gate (the clock runs on: 4 records a real second).
    counted = int(
        re.search(r"at least ([\d,]+) records written since the switch", message)[1].replace(
            ",", ""
        )
    )
    assert "\n" not in message
    assert kit.client("lambda", "new").get_event_source_mapping(UUID=mapping)["State"] == (
        "Disabled"
    ), "the consumer was not enabled"
    assert kit.processed(table, "new") == []
    # What the gate cannot count on AWS, the test can: it knows what the producer wrote.
    left = held_by_stream(fast_clock.client("kinesis", "new"), spec)
    assert left and left == written[len(written) - len(left) :]
    gone = len(written) - len(left)
    assert (WINDOW_HOURS - RETENTION_HOURS) * WRITES_PER_HOUR <= counted <= gone, (counted, gone)


def test_a_burst_after_the_switch_trimmed_long_before_the_next_record_is_refused_too(
    fast_clock, paused_for_26_hours, lambda_kit_for
):
    """Producers wrote three records right after the switch, then nothing until the end of the
    26 hours: the oldest record left is minutes old, far from retention, yet the three are gone.
    The gate finds them in CloudWatch's IncomingRecords since the switch."""
    spec, written, switched_at = paused_for_26_hours["burst"]
    assert written == ["b-0", "b-1", "b-2", "b-last"]
    kit = lambda_kit_for(fast_clock)
    _, mapping = paused_consumer(kit, spec)
    with pytest.raises(PreflightRefused) as refused:
        run_gate(fast_clock, spec, "mirrored", "new-live", switched_at)
    message = str(refused.value)
    assert "refused before mirrored->new-live by the preflight: retention-clock failed: " in (
        message
    ), message
    assert f"{CHECK} failed: events: its oldest record" in message
    assert "consumer-retries" not in message and "starting-positions" not in message, message
    assert re.search(r"the switch started [\d.]+ h ago, longer than its retention", message)
    assert "(at least 3 records written since the switch" in message
    assert held_by_stream(fast_clock.client("kinesis", "new"), spec) == ["b-last"]
    state = kit.client("lambda", "new").get_event_source_mapping(UUID=mapping)["State"]
    assert state == "Disabled", "the consumer was not enabled"
