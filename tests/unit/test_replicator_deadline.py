"""The deadline: an invocation returns (ledger written, batchItemFailures given) before Lambda's
timeout, whatever the latencies within the clients' timeouts and with the worst legal jitter."""

from __future__ import annotations

import random

from botocore.exceptions import ReadTimeoutError
from fakes_kinesis import (
    FakeAws,
    FakeClock,
    FakeContext,
    check_delivery,
    make_event,
    make_replicator,
    make_shard,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from turnout.lambdas.replicator import CLIENT_TIMEOUTS, call_seconds
from turnout.lambdas.replicator.budget import shortest_useful_timeout_seconds

PUT_WORST = call_seconds("kinesis")  # connect + read timeout of the Kinesis client: 7 s


class WorstJitter(random.Random):
    """Every jittered wait is the longest the backoff allows."""

    def uniform(self, a: float, b: float) -> float:
        return b


def slow_aws(latencies: list[float], ledger_failures: int) -> FakeAws:
    """Every service as slow as its client's timeouts allow; a PutRecords call that takes the
    whole connect + read timeout ends in a read timeout (its outcome unknown)."""
    aws = FakeAws(
        FakeClock(),
        entry_failure_rate=0.3,
        seed=5,
        ssm_latency=sum(CLIENT_TIMEOUTS["ssm"]),
        sts_latency=sum(CLIENT_TIMEOUTS["sts"]),
        ledger_latency=sum(CLIENT_TIMEOUTS["dynamodb"]),
        ledger_error="ProvisionedThroughputExceededException",
        ledger_error_times=ledger_failures,
        session_seconds_cap=40,  # the writer role is assumed again every 20 s
    )
    aws.latency_of = lambda n: latencies[(n - 1) % len(latencies)]

    def timeout(n: int) -> Exception | None:
        if latencies[(n - 1) % len(latencies)] >= PUT_WORST:
            return ReadTimeoutError(endpoint_url="https://kinesis.invalid")
        return None

    aws.call_fault = timeout
    return aws


@settings(max_examples=60, deadline=None)
@given(
    budget=st.integers(min_value=25, max_value=150),
    latencies=st.lists(st.sampled_from([0.02, 0.3, 2.0, 5.0, PUT_WORST]), min_size=1, max_size=40),
    ledger_failures=st.integers(min_value=0, max_value=4),
)
def test_an_invocation_never_outlives_its_budget_with_the_worst_jitter(
    budget, latencies, ledger_failures
):
    aws = slow_aws(latencies, ledger_failures)
    replicator, _ = make_replicator(aws, rng=WorstJitter())
    records = make_shard(1500, keys=3)  # long per-key chains: more work than any budget
    context = FakeContext(aws.clock, budget_ms=budget * 1000)
    outcome = replicator.process(make_event(records), context)

    left = context.get_remaining_time_in_millis() / 1000.0
    assert left > 0, f"returned {-left:.1f} s after Lambda's timeout"
    assert outcome.failure_index is not None  # the budget was too short for the batch
    # it kept writing while a whole step still fitted: it stops with less left than the
    # longest step (guard reads and AssumeRole, a call, a 2 s backoff) plus the finish reserve
    assert outcome.stop_reason != "time" or left < 30
    check_delivery(aws.target(), records, complete=False)


def test_a_call_started_just_before_the_old_margin_cannot_overrun_any_more():
    """The issue's case: a 7 s call started 5 s before the end (the old margin) returned after
    the Lambda timeout. Now no call starts unless its whole 7 s fit before the finish reserve."""
    aws = slow_aws([0.05] * 40 + [PUT_WORST], ledger_failures=0)
    replicator, _ = make_replicator(aws, rng=WorstJitter())
    records = make_shard(3000, keys=1)
    context = FakeContext(aws.clock, budget_ms=60_000)
    outcome = replicator.process(make_event(records), context)
    assert context.get_remaining_time_in_millis() > 0
    assert outcome.stop_reason == "time" and outcome.ledger == "advanced"


def test_the_shortest_useful_timeout_fits_one_guarded_call():
    aws = slow_aws([PUT_WORST - 0.01], ledger_failures=0)
    replicator, _ = make_replicator(aws, rng=WorstJitter())
    records = make_shard(10, keys=1)
    budget = shortest_useful_timeout_seconds()
    context = FakeContext(aws.clock, budget_ms=int(budget * 1000) + 1)
    outcome = replicator.process(make_event(records), context)
    assert outcome.calls == 1
    assert context.get_remaining_time_in_millis() > 0


def test_credentials_that_turn_stale_during_the_guards_reads_are_budgeted():
    """Found by the property above: the credentials were fresh when the step was judged, turned
    stale during the guard's two parameter reads, and the call's AssumeRole (5 s) then pushed the
    ledger update past Lambda's timeout (0.0 s left). The AssumeRole is now counted."""
    aws = slow_aws([0.3, PUT_WORST, PUT_WORST, PUT_WORST], ledger_failures=0)
    replicator, _ = make_replicator(aws, rng=WorstJitter())
    records = make_shard(1500, keys=3)
    context = FakeContext(aws.clock, budget_ms=100_000)
    outcome = replicator.process(make_event(records), context)
    assert context.get_remaining_time_in_millis() > 0
    assert outcome.stop_reason == "time" and outcome.ledger == "advanced"
