"""KPL aggregates through the replicator: each is put with its first sub-record's hash key as
ExplicitHashKey, so on a target with the source's shard ranges it lands in the shard holding
its sub-records and KCL's de-aggregation there keeps every one; pacing counts it against that
shard. Records that only look like aggregates go by their partition key."""

from __future__ import annotations

from dataclasses import replace

from fakes_kinesis import (
    SOURCE_STREAM,
    TARGET_STREAM,
    FakeAws,
    FakeClock,
    FakeContext,
    even_shards,
    make_event,
    make_replicator,
    make_shard,
    shard_for,
)
from test_replicator_pacing import busiest_second

from turnout.lambdas.replicator import StreamRoute
from turnout.lambdas.replicator.aggregates import MAGIC, aimed_hash_key, partition_key_hash
from turnout.lambdas.replicator.decode import parse_batch
from turnout.sandbox import kpl

SHARDS = even_shards(2)
LOW, HIGH = SHARDS[0]["HashKeyRange"], SHARDS[1]["HashKeyRange"]


def key_in(hash_range: dict, prefix: str) -> str:
    """A partition key whose MD5 falls in `hash_range`."""
    start, end = int(hash_range["StartingHashKey"]), int(hash_range["EndingHashKey"])
    return next(
        f"{prefix}-{n}"
        for n in range(10_000)
        if start <= partition_key_hash(f"{prefix}-{n}") <= end
    )


def aggregate_for_high_shard(index: int, subs: int = 3) -> bytes:
    """What a KPL producer packs for the high shard: sub-records whose keys hash there."""
    return kpl.aggregate(
        [
            kpl.UserRecord(key_in(HIGH, f"user-{index}-{sub}"), f"#{index}.{sub}#".encode())
            for sub in range(subs)
        ]
    )


def aggregates_under_low_keys(count: int) -> list:
    """Aggregates for the high shard whose outer partition keys hash to the low shard (KPL put
    them with an ExplicitHashKey, which the event source mapping does not pass on)."""
    records = make_shard(count, keys=1)
    return [
        replace(
            record,
            partition_key=key_in(LOW, f"outer-{record.index}"),
            data=aggregate_for_high_shard(record.index),
        )
        for record in records
    ]


def test_an_aggregate_is_put_at_its_first_sub_records_hash_key_and_kcl_keeps_every_sub_record():
    aws = FakeAws(FakeClock(), shard_layout=SHARDS)
    replicator, _ = make_replicator(aws)
    plain = make_shard(20, keys=5, seed=4)
    aggregates = aggregates_under_low_keys(20)
    records = [r for pair in zip(plain, aggregates, strict=True) for r in pair]
    records = [replace(r, sequence_number=str(10**20 + n)) for n, r in enumerate(records)]

    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert outcome.failure_index is None
    written = aws.target()
    assert len(written) == 40
    high_id = SHARDS[1]["ShardId"]
    kept = []
    for row in written:
        if row.data.startswith(MAGIC):
            assert row.shard == high_id, "an aggregate goes where its sub-records hash"
            assert shard_for(SHARDS, row.partition_key) != high_id  # not where its key hashes
            subs = kpl.deaggregate(
                row.partition_key,
                row.data,
                int(HIGH["StartingHashKey"]),
                int(HIGH["EndingHashKey"]),
            )
            assert len(subs) == 3, "KCL on the target shard drops none"
            kept.extend(subs)
        else:
            assert row.shard == shard_for(SHARDS, row.partition_key), "plain records by key"
    assert len(kept) == 60


def test_without_its_hash_key_kcl_on_the_target_would_drop_the_aggregates_sub_records():
    """The loss the ExplicitHashKey prevents: the same aggregate put by its outer key."""
    [record] = aggregates_under_low_keys(1)
    low_shard = shard_for(SHARDS, record.partition_key)
    assert low_shard == SHARDS[0]["ShardId"]
    dropped = kpl.deaggregate(
        record.partition_key, record.data, int(LOW["StartingHashKey"]), int(LOW["EndingHashKey"])
    )
    assert dropped == []


def test_decoding_gives_an_aggregate_the_explicit_hash_key_of_its_first_sub_record():
    [record] = aggregates_under_low_keys(1)
    batch = parse_batch(make_event([record]))
    [entry] = batch.entries
    first = kpl.deaggregate(record.partition_key, record.data)[0]
    assert entry["ExplicitHashKey"] == str(first.hash_key)
    assert entry["PartitionKey"] == record.partition_key and entry["Data"] == record.data
    assert batch.aimed_hash_keys == {0: first.hash_key}


def test_an_explicit_hash_key_inside_the_aggregate_is_the_one_aimed_at():
    aimed = str(int(HIGH["StartingHashKey"]) + 12345)
    data = kpl.aggregate(
        [kpl.UserRecord("anything", b"a", explicit_hash_key=aimed), kpl.UserRecord("b", b"b")]
    )
    assert aimed_hash_key(data) == int(aimed)


def test_bytes_that_only_look_like_an_aggregate_go_by_their_partition_key():
    """Magic bytes with a wrong digest or an unparsable body: KCL gives such a record back as it
    is, and the replicator puts it like any other."""
    good = aggregate_for_high_shard(0)
    wrong_digest = good[:-1] + bytes([good[-1] ^ 1])
    truncated = good[:10]
    magic_only = b"\xf3\x89\x9a\xc2"
    records = make_shard(3, keys=3)
    records = [
        replace(r, data=data)
        for r, data in zip(records, (wrong_digest, truncated, magic_only), strict=True)
    ]
    batch = parse_batch(make_event(records))
    assert all("ExplicitHashKey" not in entry for entry in batch.entries)
    assert batch.aimed_hash_keys == {}


def test_pacing_counts_aggregates_against_the_shard_they_are_aimed_at():
    """3,000 aggregates, all aimed at the high shard under outer keys of the low one: the high
    shard never gets more than 1,000 records in a second."""
    aws = FakeAws(FakeClock(), call_latency=0.02, shard_layout=SHARDS)
    relaxed = {SOURCE_STREAM: StreamRoute(TARGET_STREAM, "relaxed")}
    replicator, _ = make_replicator(aws, stream_map=relaxed)
    records = [
        replace(r, data=aggregate_for_high_shard(r.index, subs=1)) for r in make_shard(3000, keys=1)
    ]
    records = [replace(r, partition_key=key_in(LOW, f"outer-{r.index % 50}")) for r in records]

    outcome = replicator.process(make_event(records), FakeContext(aws.clock, 60_000))

    assert outcome.failure_index is None
    busiest = busiest_second(aws.target())
    assert set(busiest) == {SHARDS[1]["ShardId"]}
    records_per_second, _ = busiest[SHARDS[1]["ShardId"]]
    assert records_per_second <= 1000
