"""Two-key loop guard: both accounts' active-direction parameters must name us."""

from __future__ import annotations

import json

import pytest
from fakes_kinesis import (
    DIRECTION,
    PARAMETER,
    FakeAws,
    FakeClock,
    FakeContext,
    check_delivery,
    make_event,
    make_replicator,
    make_shard,
)

REFUSALS = {
    "source says none": ({"source": "none"}, {}),
    "target says none": ({"target": "none"}, {}),
    "source says the other direction": ({"source": "new_to_old"}, {}),
    "target says the other direction": ({"target": "new_to_old"}, {}),
    "both say the other direction": ({"source": "new_to_old", "target": "new_to_old"}, {}),
    "source unreadable": ({}, {"source": "AccessDeniedException"}),
    "target unreadable": ({}, {"target": "AccessDeniedException"}),
    "source missing": ({"source": None}, {}),
    "target missing": ({"target": None}, {}),
    "source throttled": ({}, {"source": "ThrottlingException"}),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_loop_guard_mismatch_or_unreadable_parameter_writes_nothing(case):
    values, errors = REFUSALS[case]
    aws = FakeAws(FakeClock())
    for side, value in values.items():
        if value is None:
            del aws.params[side][PARAMETER]
        else:
            aws.params[side][PARAMETER] = value
    aws.param_errors.update(errors)
    replicator, logs = make_replicator(aws)
    records = make_shard(50, keys=5)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert aws.call_attempts == 0 and aws.target() == []
    assert outcome.response() == {
        "batchItemFailures": [{"itemIdentifier": records[0].sequence_number}]
    }
    assert outcome.stop_reason == "direction"
    assert aws.ledger == {}
    refused = [json.loads(line) for line in logs if "loop_guard_refused" in line]
    assert refused and refused[0]["level"] == "WARNING" and PARAMETER in refused[0]["reason"]


def test_writer_role_that_cannot_be_assumed_refuses_the_batch():
    aws = FakeAws(FakeClock(), sts_error="AccessDenied")
    replicator, _ = make_replicator(aws)
    records = make_shard(5, keys=5)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))
    assert outcome.failure_index == 0 and aws.call_attempts == 0


def test_both_parameters_matching_allows_the_write():
    aws = FakeAws(FakeClock())
    replicator, _ = make_replicator(aws)
    records = make_shard(50, keys=5)
    assert replicator.process(make_event(records), FakeContext(aws.clock)).failure_index is None
    assert aws.params["source"][PARAMETER] == aws.params["target"][PARAMETER] == DIRECTION
    check_delivery(aws.target(), records)


def test_direction_values_are_cached_for_at_most_five_seconds():
    aws = FakeAws(FakeClock())
    replicator, _ = make_replicator(aws)
    context = lambda: FakeContext(aws.clock)  # noqa: E731
    records = make_shard(10, keys=10)
    replicator.process(make_event(records), context())
    assert aws.param_reads == {"source": 1, "target": 1}
    aws.clock.advance(4.0)
    replicator.process(make_event(records), context())
    assert aws.param_reads == {"source": 1, "target": 1}  # cached

    aws.params["target"][PARAMETER] = "none"  # the operator turns replication off
    aws.clock.advance(1.01)  # 5 s after the read: must be read again
    outcome = replicator.process(make_event(records), context())
    assert aws.param_reads == {"source": 2, "target": 2}
    assert outcome.failure_index == 0
    assert len(aws.target()) == 20


def test_direction_switched_off_mid_batch_stops_writing_within_five_seconds():
    aws = FakeAws(FakeClock(), call_latency=0.5)
    replicator, logs = make_replicator(aws)
    records = make_shard(100, keys=1)
    flip_at = 6  # PutRecords call number after which the source parameter turns to "none"

    def fault(n):
        if n == flip_at:
            aws.params["source"][PARAMETER] = "none"
        return None

    aws.call_fault = fault
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))
    assert outcome.stop_reason == "direction"
    # the flip happened at 3.0 s; the cached value may live until 5 s: <= 4 more calls
    assert flip_at <= len(aws.target()) <= flip_at + 4
    assert outcome.failure_index == len(aws.target())
    check_delivery(aws.target(), records, complete=False)
    assert any('"phase":"mid-batch"' in line for line in logs)


def test_unreadable_target_parameter_is_not_cached_as_a_refusal_forever():
    aws = FakeAws(FakeClock())
    aws.param_errors["target"] = "InternalServerError"
    replicator, _ = make_replicator(aws)
    records = make_shard(10, keys=3)
    assert replicator.process(make_event(records), FakeContext(aws.clock)).failure_index == 0
    aws.param_errors["target"] = None
    assert replicator.process(make_event(records), FakeContext(aws.clock)).failure_index is None


def test_expired_writer_credentials_on_the_target_parameter_read_are_refreshed():
    aws = FakeAws(FakeClock())
    replicator, _ = make_replicator(aws)
    records = make_shard(10, keys=3)
    replicator.process(make_event(records), FakeContext(aws.clock))
    aws.revoke_all()  # the cached credentials die between invocations
    aws.clock.advance(6.0)  # direction cache expired: the target is read again
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))
    assert outcome.failure_index is None
    assert aws.sts_calls == 2 and aws.credential_errors == 1
