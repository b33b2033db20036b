"""Relaxed order: a key's run travels in one call; a partial failure is repaired so that the last
copy of every record is in source order; duplicates and inversions are counted exactly."""

from __future__ import annotations

import pytest
from fakes_kinesis import (
    SHARD_ID,
    SOURCE_STREAM,
    TARGET_STREAM,
    FakeAws,
    FakeClock,
    FakeContext,
    check_delivery,
    make_event,
    make_replicator,
    make_shard,
    run_esm,
)

from turnout.lambdas.replicator import StreamRoute

RELAXED = {SOURCE_STREAM: StreamRoute(TARGET_STREAM, "relaxed")}
SHARD_KEY = f"{SOURCE_STREAM}/{SHARD_ID}"


def ledger_counts(aws: FakeAws) -> tuple[int, int]:
    item = aws.ledger[SHARD_KEY]
    return int(item["duplicate_count"]["N"]), int(item["inversion_count"]["N"])


def target_indices(aws: FakeAws, records) -> list[int]:
    index_of = {r.data: r.index for r in records}
    return [index_of[w.data] for w in aws.target()]


def test_a_failed_entry_and_the_later_entries_of_its_key_are_sent_again_in_order():
    aws = FakeAws(FakeClock())
    # the first call carries the key's six records; the third entry fails once
    aws.entry_fault = lambda attempt, position, key: (
        "InternalFailure" if (attempt, position) == (1, 2) else None
    )
    replicator, _ = make_replicator(aws, stream_map=RELAXED)
    records = make_shard(6, keys=1)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert outcome.response() == {"batchItemFailures": []}
    assert [len(call) for call in aws.put_calls] == [6, 4]  # the run, then its repair
    assert target_indices(aws, records) == [0, 1, 3, 4, 5, 2, 3, 4, 5]
    report = check_delivery(aws.target(), records, order="last")
    assert (report.duplicates, report.inversions) == (3, 3)
    assert (outcome.duplicates_resent, outcome.inversions) == (3, 3)
    assert ledger_counts(aws) == (3, 3)
    assert aws.metric_sum("DuplicatesResent") == 3 and aws.metric_sum("Inversions") == 3
    assert outcome.retried_entries == 4  # the failed entry and the three sent again


def test_an_entry_stored_behind_a_later_one_of_its_key_is_repaired_and_counted():
    aws = FakeAws(FakeClock(), reversed_calls={1})  # the first call's entries land reversed
    replicator, _ = make_replicator(aws, stream_map=RELAXED)
    records = make_shard(3, keys=1)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    # stored 2, 1, 0: record 0 is final; 1 and 2 lie before it and are sent again in order
    assert target_indices(aws, records) == [2, 1, 0, 1, 2]
    report = check_delivery(aws.target(), records, order="last")
    assert (report.duplicates, report.inversions) == (2, 2)
    assert (outcome.duplicates_resent, outcome.inversions) == (2, 2)


def test_other_keys_of_the_call_are_not_sent_again():
    aws = FakeAws(FakeClock())
    records = make_shard(40, keys=4, seed=2)
    failing_key = records[5].partition_key
    seen = {"n": 0}

    def fault(attempt, position, key):
        if attempt == 1 and key == failing_key:
            seen["n"] += 1
            return "ProvisionedThroughputExceededException" if seen["n"] == 2 else None
        return None

    aws.entry_fault = fault
    replicator, _ = make_replicator(aws, stream_map=RELAXED)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert len(aws.put_calls) == 2 and set(aws.put_calls[1]) == {failing_key}
    of_key = [r for r in records if r.partition_key == failing_key]
    report = check_delivery(aws.target(), records, order="last")
    assert report.duplicates == outcome.duplicates_resent == len(of_key) - 2
    assert report.inversions == outcome.inversions == len(of_key) - 2
    assert outcome.throttles == 1


@pytest.mark.parametrize("ordering", ["strict", "relaxed"])
def test_counts_stay_exact_under_random_failures_and_invocations_running_out_of_time(ordering):
    aws = FakeAws(FakeClock(), call_latency=1.0, entry_failure_rate=0.3, seed=21)
    stream_map = {SOURCE_STREAM: StreamRoute(TARGET_STREAM, ordering)}
    replicator, _ = make_replicator(aws, stream_map=stream_map)
    records = make_shard(6000, keys=40, seed=4)  # about 150 records per key
    context = lambda: FakeContext(aws.clock, budget_ms=30_000)  # noqa: E731
    run = run_esm(replicator.process, records, batch_size=2000, context_factory=context)

    assert any(o.stop_reason == "time" for o in run.outcomes), "meant to run out of time"
    report = check_delivery(
        aws.target(), records, order="last" if ordering == "relaxed" else "first"
    )
    assert report.distinct == len(records)  # nothing lost
    assert report.duplicates == sum(o.duplicates_resent for o in run.outcomes)
    assert report.inversions == sum(o.inversions for o in run.outcomes)
    assert report.duplicates == aws.metric_sum("DuplicatesResent")
    assert report.inversions == aws.metric_sum("Inversions")
    if ordering == "relaxed":
        assert report.inversions > 0


def test_a_relaxed_hot_key_moves_at_its_shards_write_limit():
    aws = FakeAws(FakeClock(), call_latency=0.02)
    replicator, _ = make_replicator(aws, stream_map=RELAXED)
    records = make_shard(3000, keys=1, payload_bytes=100)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock, budget_ms=60_000))

    assert outcome.failure_index is None
    assert [w.data for w in aws.target()] == [r.data for r in records]
    # 1,000 records per second on the one target shard (100 at once), against 50 per second
    # (one per 20 ms round trip) in strict order
    assert 2.8 <= aws.clock.monotonic() <= 3.2, aws.clock.monotonic()
    assert max(len(call) for call in aws.put_calls) >= 20
