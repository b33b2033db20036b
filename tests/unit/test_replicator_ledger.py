"""Ledger: advanced per batch for the written prefix, never backwards."""

from __future__ import annotations

import pytest
from fakes_kinesis import (
    DIRECTION,
    SHARD_ID,
    SOURCE_STREAM,
    TARGET_STREAM,
    FakeAws,
    FakeClock,
    FakeContext,
    check_delivery,
    make_config,
    make_event,
    make_replicator,
    make_shard,
    run_esm,
)

from turnout.lambdas.replicator import JsonLogger, Ledger, SystemClock, sortable_sequence

SHARD_KEY = f"{SOURCE_STREAM}/{SHARD_ID}"


def item(aws: FakeAws) -> dict:
    raw = aws.ledger[SHARD_KEY]
    return {k: next(iter(v.values())) for k, v in raw.items()}


def test_ledger_records_the_last_written_sequence_counts_and_arrival():
    aws = FakeAws(FakeClock())
    replicator, _ = make_replicator(aws)
    records = make_shard(300, keys=30, payload_bytes=50)
    replicator.process(make_event(records), FakeContext(aws.clock))

    row = item(aws)
    last = records[-1]
    assert row["last_sequence_number"] == last.sequence_number
    assert row["last_sequence_sortable"] == last.sequence_number.zfill(64)
    assert len(row["last_sequence_sortable"]) == 64
    assert int(row["record_count"]) == 300
    assert int(row["byte_count"]) == sum(len(r.data) + len(r.partition_key) for r in records)
    assert float(row["last_arrival_time"]) == pytest.approx(last.arrival, abs=0.001)
    assert float(row["updated_at"]) == pytest.approx(aws.clock.time(), abs=0.001)
    assert row["direction"] == DIRECTION
    assert row["target_stream"] == TARGET_STREAM


def test_ledger_never_moves_backwards_when_an_older_batch_is_replayed():
    aws = FakeAws(FakeClock())
    replicator, logs = make_replicator(aws)
    records = make_shard(200, keys=20)
    replicator.process(make_event(records[100:]), FakeContext(aws.clock))
    after_newer = item(aws)

    replicator.process(make_event(records[:100]), FakeContext(aws.clock))  # older batch
    replicator.process(make_event(records[100:]), FakeContext(aws.clock))  # same batch again
    assert item(aws) == after_newer  # neither sequence nor counts moved
    assert int(after_newer["record_count"]) == 100
    assert sum("ledger_not_advanced" in line for line in logs) == 2


def test_ledger_covers_only_the_contiguous_written_prefix_and_counts_once_across_retries():
    aws = FakeAws(FakeClock(), call_latency=0.2, entry_failure_rate=0.05, seed=4)
    replicator, _ = make_replicator(aws)
    records = make_shard(3000, keys=20)
    seen_sequences = []
    original = replicator.process

    def process(event, context):
        outcome = original(event, context)
        if SHARD_KEY in aws.ledger:
            seen_sequences.append(int(item(aws)["last_sequence_number"]))
        if outcome.written_prefix:
            expected = event["Records"][outcome.written_prefix - 1]["kinesis"]["sequenceNumber"]
            assert item(aws)["last_sequence_number"] == expected
        return outcome

    run = run_esm(
        process, records, batch_size=1000, context_factory=lambda: FakeContext(aws.clock, 25_000)
    )
    assert any(o.stop_reason == "time" for o in run.outcomes)
    assert seen_sequences == sorted(seen_sequences)
    assert int(item(aws)["record_count"]) == 3000  # duplicates are not counted twice
    check_delivery(aws.target(), records)


def test_ledger_failure_fails_the_whole_batch_and_counts_the_duplicates():
    aws = FakeAws(FakeClock(), ledger_error="InternalServerError")
    replicator, logs = make_replicator(aws)
    records = make_shard(100, keys=10)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))
    assert outcome.ledger == "failed"
    assert outcome.failure_index == 0
    assert outcome.duplicates_resent == 100
    assert any("ledger_update_failed" in line for line in logs)

    aws.ledger_error = None  # the retry writes everything again and records it
    retry = replicator.process(make_event(records), FakeContext(aws.clock))
    assert retry.failure_index is None and retry.ledger == "advanced"
    report = check_delivery(aws.target(), records)
    assert report.duplicates == outcome.duplicates_resent


def test_sortable_sequence_orders_numerically():
    assert sortable_sequence("999") < sortable_sequence("1000")
    assert len(sortable_sequence("4959" + "0" * 52)) == 64


moto = pytest.importorskip("moto")


def test_ledger_expressions_against_moto_dynamodb():
    """The real UpdateItem/ConditionExpression strings, evaluated by moto's DynamoDB."""
    import boto3

    with moto.mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        config = make_config()
        client.create_table(
            TableName=config.ledger_table,
            KeySchema=[{"AttributeName": "shard_key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "shard_key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ledger = Ledger(config, client, SystemClock(), JsonLogger(sink=lambda line: None))

        def advance(seq: str, n: int) -> bool:
            return ledger.advance(
                stream_name="clicks",
                shard_id="shardId-000000000000",
                target_stream="clicks-new",
                last_sequence_number=seq,
                last_arrival_time=1.5,
                records=n,
                byte_count=10 * n,
            )

        def stored() -> dict:
            got = client.get_item(
                TableName=config.ledger_table,
                Key={"shard_key": {"S": "clicks/shardId-000000000000"}},
            )["Item"]
            return {k: next(iter(v.values())) for k, v in got.items()}

        assert advance("999", 5) is True
        assert advance("1000", 3) is True  # numerically larger though lexically smaller
        assert advance("998", 7) is False  # older: refused
        assert advance("1000", 3) is False  # same batch retried: refused
        row = stored()
        assert row["last_sequence_number"] == "1000"
        assert row["record_count"] == "8" and row["byte_count"] == "80"
        assert row["direction"] == DIRECTION


def test_a_transient_ledger_failure_is_retried_within_the_budget_instead_of_failing_the_batch():
    aws = FakeAws(FakeClock(), ledger_error="ProvisionedThroughputExceededException")
    aws.ledger_error_times = 2  # two UpdateItems fail, the third goes through
    replicator, logs = make_replicator(aws)
    records = make_shard(100, keys=10)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))
    assert outcome.ledger == "advanced" and outcome.failure_index is None
    assert outcome.duplicates_resent == 0
    assert sum("ledger_update_retry" in line for line in logs) == 2


def test_duplicate_and_inversion_counts_add_up_even_when_the_watermark_stands_still():
    aws = FakeAws(FakeClock())
    # the first record of the batch fails in every call of the first invocation: the prefix
    # never moves, yet the records after it were written (relaxed order)
    aws.entry_fault = lambda attempt, position, key: (
        "InternalFailure" if attempt <= 50 and position == 0 else None
    )
    relaxed = {SOURCE_STREAM: {"target": TARGET_STREAM, "ordering": "relaxed"}}
    replicator, _ = make_replicator(aws, stream_map=relaxed)
    records = make_shard(20, keys=20)
    first = replicator.process(make_event(records), FakeContext(aws.clock, budget_ms=30_000))
    assert first.written_prefix == 0 and first.duplicates_resent == first.written > 0
    assert "last_sequence_number" not in aws.ledger[SHARD_KEY]  # nothing claimed as written
    assert int(item(aws)["duplicate_count"]) == first.duplicates_resent

    aws.entry_fault = None
    second = replicator.process(make_event(records), FakeContext(aws.clock))
    assert second.failure_index is None
    report = check_delivery(aws.target(), records, order="last")
    assert int(item(aws)["duplicate_count"]) == report.duplicates
    assert int(item(aws)["inversion_count"]) == report.inversions
    assert int(item(aws)["record_count"]) == 20


def test_a_ledger_update_applied_but_unanswered_is_not_counted_twice_by_its_retry():
    aws = FakeAws(FakeClock(), ledger_answers_lost=1)
    # a key's run of six in one relaxed call; its third entry fails once: 3 duplicates
    aws.entry_fault = lambda attempt, position, key: (
        "InternalFailure" if (attempt, position) == (1, 2) else None
    )
    relaxed = {SOURCE_STREAM: {"target": TARGET_STREAM, "ordering": "relaxed"}}
    replicator, logs = make_replicator(aws, stream_map=relaxed)
    records = make_shard(6, keys=1)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock, request_id="req-7"))

    assert outcome.ledger == "not_advanced"  # the retry found its own update already there
    assert any("ledger_update_retry" in line for line in logs)
    row = item(aws)
    assert int(row["record_count"]) == 6
    assert (int(row["duplicate_count"]), int(row["inversion_count"])) == (3, 3)
    assert row["last_request_id"] == "req-7"
