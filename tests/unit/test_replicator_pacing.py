"""Pacing per target shard: never more than 1,000 records or 1 MiB in any one-second window of a
shard, with the shards' hash ranges from ListShards, read again after a resharding."""

from __future__ import annotations

import json

from fakes_kinesis import (
    MIB,
    SOURCE_STREAM,
    TARGET_STREAM,
    FakeAws,
    FakeClock,
    FakeContext,
    Written,
    check_delivery,
    even_shards,
    make_event,
    make_replicator,
    make_shard,
)

from turnout.lambdas.replicator import StreamRoute

RELAXED = {SOURCE_STREAM: StreamRoute(TARGET_STREAM, "relaxed")}


def busiest_second(written: list[Written]) -> dict[str, tuple[int, int]]:
    """Per shard, the most records and the most bytes that arrived within any one second."""
    by_shard: dict[str, list[Written]] = {}
    for w in written:
        by_shard.setdefault(w.shard, []).append(w)
    busiest = {}
    for shard, rows in by_shard.items():
        rows.sort(key=lambda w: w.at)
        most_records = most_bytes = 0
        start = size = 0
        for end, row in enumerate(rows):
            size += len(row.data) + len(row.partition_key)
            while rows[start].at <= row.at - 1.0:
                size -= len(rows[start].data) + len(rows[start].partition_key)
                start += 1
            most_records = max(most_records, end - start + 1)
            most_bytes = max(most_bytes, size)
        busiest[shard] = (most_records, most_bytes)
    return busiest


def records_per_second_from_the_first(written: list[Written]) -> list[int]:
    """Records that arrived in each whole second from the first arrival."""
    start = min(w.at for w in written)
    counts = [0] * (int(max(w.at for w in written) - start) + 1)
    for w in written:
        counts[int(w.at - start)] += 1
    return counts


def test_a_hot_key_stays_under_1000_records_per_second_on_its_shard():
    aws = FakeAws(FakeClock(), call_latency=0.02, shard_layout=even_shards(2))
    replicator, _ = make_replicator(aws, stream_map=RELAXED)
    records = make_shard(5000, keys=1, payload_bytes=50)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock, 60_000))

    assert outcome.failure_index is None
    [(records_per_second, _)] = busiest_second(aws.target()).values()
    assert records_per_second <= 1000
    assert records_per_second >= 900  # and it uses the shard, not a fraction of it
    elapsed = aws.clock.monotonic()
    assert 3.9 <= elapsed <= 5.5, elapsed  # 5,000 records at 1,000 per second, first second free
    check_delivery(aws.target(), records)


def test_large_records_stay_under_1_mib_per_second_per_shard():
    aws = FakeAws(FakeClock(), call_latency=0.02, shard_layout=even_shards(2))
    replicator, _ = make_replicator(aws, stream_map=RELAXED)
    records = make_shard(120, keys=6, payload_bytes=100 * 1024)  # 12 MB over two shards
    outcome = replicator.process(make_event(records), FakeContext(aws.clock, 60_000))

    assert outcome.failure_index is None
    for _records, size in busiest_second(aws.target()).values():
        assert size <= MIB
    check_delivery(aws.target(), records, order="last")


def test_while_one_shard_is_full_calls_carry_the_other_shards_records():
    aws = FakeAws(FakeClock(), call_latency=0.02, shard_layout=even_shards(4))
    replicator, _ = make_replicator(aws, stream_map=RELAXED)
    hot = make_shard(3000, keys=1, seed=1)
    spread = make_shard(3000, keys=300, seed=2, first_sequence=10**60)
    records = sorted(hot + spread, key=lambda r: (int(r.sequence_number) % 10**9, r.index))
    records = [
        type(r)(i, str(10**20 + i), r.partition_key, r.data, r.arrival)
        for i, r in enumerate(records)
    ]
    outcome = replicator.process(make_event(records), FakeContext(aws.clock, 60_000))

    assert outcome.failure_index is None
    hot_key = hot[0].partition_key
    # once the hot key's shard has taken its 1,000 records of a second, calls go on with the
    # other keys of the window instead of waiting for it
    without_hot = [call for call in aws.put_calls if hot_key not in call]
    assert without_hot and all(call for call in without_hot)
    for _shard, (records_per_second, _) in busiest_second(aws.target()).items():
        assert records_per_second <= 1000
    check_delivery(aws.target(), records, order="last")


def test_a_resharded_target_is_mapped_again_and_paced_on_its_new_shards():
    aws = FakeAws(FakeClock(), call_latency=0.02, shard_layout=even_shards(1))
    replicator, logs = make_replicator(aws, stream_map=RELAXED)
    first = make_shard(1000, keys=50, seed=1)
    replicator.process(make_event(first), FakeContext(aws.clock, 60_000))
    assert aws.list_shards_calls == 1

    aws.reshard(4)  # the one shard is closed, four new ones take its hash range
    later = make_shard(4000, keys=200, seed=2, first_sequence=10**60)
    outcome = replicator.process(make_event(later), FakeContext(aws.clock, 60_000))

    assert outcome.failure_index is None
    assert aws.list_shards_calls == 2
    assert any(json.loads(line)["message"] == "target_shards_changed" for line in logs)
    new_shards = {w.shard for w in aws.target()[1000:]}
    assert len(new_shards) == 4
    for shard, (records_per_second, _) in busiest_second(aws.target()[1000:]).items():
        assert records_per_second <= 1000, shard


def test_without_listshards_the_records_go_unpaced_and_nothing_is_lost():
    aws = FakeAws(FakeClock(), list_shards_error="AccessDeniedException")
    replicator, logs = make_replicator(aws, stream_map=RELAXED)
    records = make_shard(3000, keys=10)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert outcome.failure_index is None and outcome.pacing_waits == 0
    assert any(json.loads(line)["message"] == "shard_map_unavailable" for line in logs)
    check_delivery(aws.target(), records, order="last")


def test_a_hot_key_fills_every_second_of_its_shard_not_one_round_trip_less():
    """Room is counted in the second before the call's answer, not before it goes: counted
    before it goes, a 20 ms round trip left the shard 20 records short of 1,000 every second."""
    aws = FakeAws(FakeClock(), call_latency=0.02, shard_layout=even_shards(1))
    replicator, _ = make_replicator(aws, stream_map=RELAXED)
    outcome = replicator.process(
        make_event(make_shard(6000, keys=1, payload_bytes=50)), FakeContext(aws.clock, 60_000)
    )

    assert outcome.failure_index is None
    per_second = records_per_second_from_the_first(aws.target())
    assert all(995 <= count <= 1000 for count in per_second[1:5]), per_second
    assert max(busiest_second(aws.target()).values())[0] <= 1000


def test_a_hot_key_catches_up_after_the_pause_between_two_invocations():
    """The bucket holds a few cycles of calls, so the first call after an invocation boundary
    (here 30 ms of start-up before the next batch's first call) carries what the pause saved."""
    aws = FakeAws(FakeClock(), call_latency=0.02, shard_layout=even_shards(1))
    replicator, _ = make_replicator(aws, stream_map=RELAXED)
    records = make_shard(6000, keys=1, payload_bytes=50)
    for batch in (records[:2500], records[2500:]):
        outcome = replicator.process(make_event(batch), FakeContext(aws.clock, 60_000))
        assert outcome.failure_index is None
        aws.clock.advance(0.03)

    per_second = records_per_second_from_the_first(aws.target())
    assert all(995 <= count <= 1000 for count in per_second[1:5]), per_second
    assert max(busiest_second(aws.target()).values())[0] <= 1000
