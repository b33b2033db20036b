"""A record the target can never accept takes the visible failure path."""

from __future__ import annotations

import json

import pytest
from fakes_kinesis import (
    FakeAws,
    FakeClock,
    FakeContext,
    SourceRecord,
    check_delivery,
    make_event,
    make_replicator,
    make_shard,
)

from turnout.lambdas.replicator import RecordTooLargeError

LIMIT = 1000


def shard_with_big_record() -> list[SourceRecord]:
    records = make_shard(30, keys=4, payload_bytes=100)
    big = records[12]
    big.data = big.data[:5] + bytes(LIMIT)  # > LIMIT once the partition key is added
    return records


def test_oversize_record_in_the_middle_writes_the_records_before_it_and_fails_there():
    aws = FakeAws(FakeClock(), max_record_bytes=LIMIT)
    replicator, logs = make_replicator(aws, max_record_bytes=LIMIT)
    records = shard_with_big_record()
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert outcome.response() == {
        "batchItemFailures": [{"itemIdentifier": records[12].sequence_number}]
    }
    assert outcome.stop_reason == "record_too_large"
    check_delivery(aws.target(), records[:12])  # exactly the 12 before it, in order
    assert len(aws.target()) == 12
    errors = [json.loads(line) for line in logs if '"level":"ERROR"' in line]
    assert errors[0]["message"] == "record_too_large"
    assert errors[0]["sequence_number"] == records[12].sequence_number


def test_oversize_record_at_the_start_of_a_batch_raises_for_bisect_and_on_failure():
    aws = FakeAws(FakeClock(), max_record_bytes=LIMIT)
    replicator, logs = make_replicator(aws, max_record_bytes=LIMIT)
    records = shard_with_big_record()[12:]
    with pytest.raises(RecordTooLargeError) as raised:
        replicator.process(make_event(records), FakeContext(aws.clock))
    assert raised.value.sequence_number == records[0].sequence_number
    assert records[0].sequence_number in str(raised.value)
    assert aws.target() == []
    assert any("record_too_large" in line for line in logs)


def test_oversize_record_is_never_skipped_quietly_under_esm_retries():
    """Checkpoint semantics: the shard stops at the big record, visibly, every time."""
    aws = FakeAws(FakeClock(), max_record_bytes=LIMIT)
    replicator, _ = make_replicator(aws, max_record_bytes=LIMIT)
    records = shard_with_big_record()
    first = replicator.process(make_event(records), FakeContext(aws.clock))
    resume = first.failure_index
    for _ in range(3):  # Lambda retries from the checkpoint; each attempt is an error
        with pytest.raises(RecordTooLargeError):
            replicator.process(make_event(records[resume:]), FakeContext(aws.clock))
    assert len(aws.target()) == 12


def test_record_exactly_at_the_limit_is_written():
    aws = FakeAws(FakeClock(), max_record_bytes=LIMIT)
    replicator, _ = make_replicator(aws, max_record_bytes=LIMIT)
    record = SourceRecord(0, "1", "k", b"x" * (LIMIT - 1), 1.0)
    assert replicator.process(make_event([record]), FakeContext(aws.clock)).written == 1
