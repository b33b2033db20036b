"""The backoff follows each call's success fraction: it relaxes while records get through, grows
only while calls mostly fail, and tells whole-call throttling apart from entry failures."""

from __future__ import annotations

import random

import pytest
from fakes_kinesis import (
    FakeAws,
    FakeClock,
    FakeContext,
    check_delivery,
    client_error,
    make_event,
    make_replicator,
    make_shard,
)

from turnout.lambdas.replicator.backoff import Backoff

STEP, CALL, CAP = 0.004, 0.05, 2.0


def backoff() -> Backoff:
    return Backoff(STEP, CALL, CAP, random.Random(1))


def test_a_clean_call_halves_the_delay_and_a_small_one_becomes_zero():
    b = backoff()
    b.delay = 1.0
    b.after_entries(sent=100, failed=0)
    assert b.delay == 0.5
    for _ in range(20):
        b.after_entries(sent=100, failed=0)
    assert b.delay == 0.0 and b.draw() == 0.0


def test_whole_call_failures_double_the_delay_from_the_call_step_up_to_the_cap():
    b = backoff()
    ceilings = []
    for _ in range(8):
        b.after_call_failure()
        ceilings.append(b.delay)
    assert ceilings == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert all(0.0 <= b.draw() <= b.delay for _ in range(100))


@pytest.mark.parametrize(("failed", "settles_near"), [(10, 0.235), (30, 1.24), (50, None)])
def test_random_entry_failures_settle_the_delay_instead_of_climbing(failed, settles_near):
    b = backoff()
    b.delay = CAP if settles_near else 0.0  # settling even from the cap
    for _ in range(200):
        b.after_entries(sent=100, failed=failed)
    if settles_near is None:  # half the entries failing: the delay grows by half a step a call
        assert b.delay == pytest.approx(200 * STEP / 2)
    else:
        assert b.delay == pytest.approx(settles_near * STEP, rel=0.02)


def test_a_call_failing_entirely_doubles_like_a_whole_call_failure():
    b = backoff()
    b.delay = 0.1
    b.after_entries(sent=40, failed=40)
    assert b.delay == pytest.approx(0.2 + STEP)


def test_after_a_throttled_burst_the_delay_relaxes_while_entries_get_through():
    aws = FakeAws(FakeClock(), call_latency=0.02, entry_failure_rate=0.1, seed=4)
    aws.call_fault = lambda n: (
        client_error("ProvisionedThroughputExceededException") if n <= 6 else None
    )
    replicator, _ = make_replicator(
        aws, shard_records_per_second=10**6, shard_bytes_per_second=10**9
    )
    records = make_shard(20_000, keys=200, seed=3)
    delays = []
    original = replicator.writer._pause

    def pause(run):
        delays.append(replicator.writer.backoff.delay)
        original(run)

    replicator.writer._pause = pause
    outcome = replicator.process(make_event(records), FakeContext(aws.clock, budget_ms=900_000))

    assert outcome.failure_index is None and outcome.throttles >= 6
    assert max(delays) == pytest.approx(1.6)  # six whole calls throttled: 0.05 doubled 5 times
    relaxed = delays[20:]  # a dozen clean-ish calls later
    assert relaxed and max(relaxed) < 4 * STEP
    # the measurement: every call waited at the 2 s cap, 432 s for these records;
    # now the waits after the burst sum to well under a second
    assert sum(aws.clock.sleeps) - sum(aws.clock.sleeps[:10]) < 1.0
    check_delivery(aws.target(), records)
