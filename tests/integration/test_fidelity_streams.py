"""Retention on the sandbox clock, resharding and KPL aggregates in the emulator under the ``aws``
profile, each checked against the documented AWS behaviour and shown to fail with the
behaviour switched off (the ``fast`` profile)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from turnout.sandbox import kpl
from turnout.sandbox.emulator.launcher import Emulator
from turnout.sandbox.emulator.profile import AWS, FAST

REGION = "eu-west-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1})
# 4 simulated hours per real second: a 24-hour retention passes in 6 s, and a record meant to
# be kept has hours of margin even when a loaded machine takes a second or two per call.
CLOCK_RATE = 14400.0
HOUR = 3600.0 / CLOCK_RATE  # real seconds per simulated hour


@pytest.fixture(scope="module")
def clock_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = Emulator(
        tmp_path_factory.mktemp("clock-emulator"),
        region=REGION,
        profile=AWS.with_changes(clock_rate=CLOCK_RATE),
    ).start()
    yield emu
    emu.stop()


@pytest.fixture(scope="module")
def fast_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = Emulator(tmp_path_factory.mktemp("fast-emulator"), region=REGION, profile=FAST).start()
    yield emu
    emu.stop()


def _kinesis(emu: Emulator):
    return emu.session("old").client("kinesis", endpoint_url=emu.endpoint_url, config=NO_RETRIES)


def _unique(prefix: str) -> str:
    return f"{prefix}-{time.monotonic_ns() % 10**9}"


def _read_all(emu: Emulator, name: str, shard: str, **iterator_args) -> list[dict]:
    kinesis = _kinesis(emu)
    iterator_args.setdefault("ShardIteratorType", "TRIM_HORIZON")
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard, **iterator_args)[
        "ShardIterator"
    ]
    return kinesis.get_records(ShardIterator=iterator)["Records"]


# --------------------------------------------------------------------------- retention
def _check_retention(emu: Emulator) -> None:
    name = _unique("retention")
    kinesis = _kinesis(emu)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    shard = "shardId-000000000000"
    first = kinesis.put_record(StreamName=name, Data=b"r0", PartitionKey="k")["SequenceNumber"]
    early = kinesis.get_shard_iterator(
        StreamName=name,
        ShardId=shard,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=first,
    )["ShardIterator"]
    time.sleep(20 * HOUR)
    second = kinesis.put_record(StreamName=name, Data=b"r1", PartitionKey="k")["SequenceNumber"]
    # r0 is 25 hours old, r1 5: r0 is past the 24-hour retention, and r1 stays within it for
    # the reads below even when a busy machine makes them slow (19 sandbox hours to spare)
    time.sleep(5 * HOUR)
    assert [r["Data"] for r in _read_all(emu, name, shard)] == [b"r1"], "TRIM_HORIZON moved"
    kept = _read_all(
        emu, name, shard, ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=first
    )
    assert [r["SequenceNumber"] for r in kept] == [second], "a trimmed position reads on"
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=early)["Records"]] == [b"r1"]
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    assert shards[0]["SequenceNumberRange"]["StartingSequenceNumber"] == second
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=72)
    time.sleep(22 * HOUR)  # r1 is 27 hours old: kept under the new retention
    assert [r["Data"] for r in _read_all(emu, name, shard)] == [b"r1"]
    kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=24)
    assert _read_all(emu, name, shard) == [], "decreasing the retention trims at once"
    third = kinesis.put_record(StreamName=name, Data=b"r2", PartitionKey="k")["SequenceNumber"]
    assert int(third) > int(second), "sequence numbers go on increasing after a trim"


def test_records_past_the_streams_retention_are_trimmed_on_the_sandbox_clock(
    clock_emulator, fast_emulator
):
    """Records older than the retention period are no longer accessible; TRIM_HORIZON is the
    oldest untrimmed record; Increase/DecreaseStreamRetentionPeriod change what is kept.
    A day passes in 6 s on an accelerated sandbox clock.
    https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html
    https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetShardIterator.html"""
    _check_retention(clock_emulator)
    with pytest.raises(AssertionError):
        _check_retention(fast_emulator)


def _check_millis_behind_latest(emu: Emulator) -> None:
    name = _unique("behind")
    kinesis = _kinesis(emu)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.put_record(StreamName=name, Data=b"r0", PartitionKey="k")
    time.sleep(5 * HOUR)
    kinesis.put_record(StreamName=name, Data=b"r1", PartitionKey="k")
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    first = kinesis.get_records(ShardIterator=iterator, Limit=1)
    assert first["MillisBehindLatest"] >= 4 * 3600 * 1000, first["MillisBehindLatest"]
    rest = kinesis.get_records(ShardIterator=first["NextShardIterator"])
    assert rest["MillisBehindLatest"] == 0
    arrival = first["Records"][0]["ApproximateArrivalTimestamp"].timestamp()
    assert arrival - time.time() > 3600, "arrival times are on the (accelerated) sandbox clock"


def test_millis_behind_latest_and_arrival_times_follow_the_sandbox_clock(
    clock_emulator, fast_emulator
):
    """MillisBehindLatest: how far the response is from the tip of the stream (0: caught up),
    measured, like ApproximateArrivalTimestamp, on the sandbox clock.
    https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html"""
    _check_millis_behind_latest(clock_emulator)
    with pytest.raises(AssertionError):
        _check_millis_behind_latest(fast_emulator)


# --------------------------------------------------------------------------- resharding
def _check_split(emu: Emulator) -> None:
    name = _unique("split")
    kinesis = _kinesis(emu)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    parent = "shardId-000000000000"
    before = [f"before{i}" for i in range(20)]
    for key in before:
        kinesis.put_record(StreamName=name, Data=key.encode(), PartitionKey=key)
    kinesis.split_shard(StreamName=name, ShardToSplit=parent, NewStartingHashKey=str(2**127))
    after = [f"after{i}" for i in range(20)]
    routed = {
        key: kinesis.put_record(StreamName=name, Data=key.encode(), PartitionKey=key)["ShardId"]
        for key in after
    }
    shards = {s["ShardId"]: s for s in kinesis.list_shards(StreamName=name)["Shards"]}
    children = sorted(s for s in shards if s != parent)
    assert "EndingSequenceNumber" in shards[parent]["SequenceNumberRange"], "the parent is closed"
    assert all(shards[c]["ParentShardId"] == parent for c in children)
    assert set(routed.values()) == set(children), "new records go to the open children"
    for key, shard in routed.items():
        low = int(shards[shard]["HashKeyRange"]["StartingHashKey"])
        high = int(shards[shard]["HashKeyRange"]["EndingHashKey"])
        assert low <= kpl.partition_key_hash(key) <= high
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId=parent, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    answer = kinesis.get_records(ShardIterator=iterator)
    assert [r["Data"].decode() for r in answer["Records"]] == before, "the parent keeps its own"
    assert answer.get("NextShardIterator") is None, "a closed parent read to its end ends"


def test_a_split_closes_the_parent_and_new_records_go_to_the_children(emulator, fast_emulator):
    """SplitShard closes the parent (its records stay readable until they expire) and opens two
    children; PutRecord routes by the open shards' hash key ranges; GetRecords on a closed shard
    read to its end returns no NextShardIterator.
    https://docs.aws.amazon.com/streams/latest/dev/kinesis-using-sdk-java-after-resharding.html"""
    _check_split(emulator)
    with pytest.raises((AssertionError, ClientError)):
        _check_split(fast_emulator)


def test_a_merge_closes_both_parents_and_keeps_their_records(emulator):
    """MergeShards closes both parents, which keep their records; the child gets new ones.
    https://docs.aws.amazon.com/kinesis/latest/APIReference/API_MergeShards.html"""
    name = _unique("merge")
    kinesis = _kinesis(emulator)
    kinesis.create_stream(StreamName=name, ShardCount=2)
    for i in range(10):
        kinesis.put_record(StreamName=name, Data=b"old", PartitionKey=f"k{i}")
    kinesis.merge_shards(
        StreamName=name,
        ShardToMerge="shardId-000000000000",
        AdjacentShardToMerge="shardId-000000000001",
    )
    for i in range(10):
        shard = kinesis.put_record(StreamName=name, Data=b"new", PartitionKey=f"k{i}")["ShardId"]
        assert shard == "shardId-000000000002"
    old = _read_all(emulator, name, "shardId-000000000000") + _read_all(
        emulator, name, "shardId-000000000001"
    )
    assert [r["Data"] for r in old] == [b"old"] * 10
    assert [r["Data"] for r in _read_all(emulator, name, "shardId-000000000002")] == [b"new"] * 10


# --------------------------------------------------------------------------- KPL
def test_kpl_aggregates_pass_through_as_bytes_and_kcl_drops_sub_records_outside_the_shard(
    emulator,
):
    """An aggregated record is one Kinesis record (its bytes unchanged); KCL de-aggregates it
    and discards the sub-records whose hash key is outside the shard's range, as after a split.
    https://docs.aws.amazon.com/streams/latest/dev/kinesis-kpl-consumer-deaggregation.html"""
    name = _unique("kpl")
    kinesis = _kinesis(emulator)
    kinesis.create_stream(StreamName=name, ShardCount=1)
    low, high = str(2**126), str(2**127 + 5)
    subs = [
        kpl.UserRecord("a", b"in-low", explicit_hash_key=low),
        kpl.UserRecord("b", b"in-high", explicit_hash_key=high),
    ]
    blob = kpl.aggregate(subs)
    # The producer aggregated for the parent's range; the stream was split meanwhile.
    kinesis.split_shard(
        StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey=str(2**127)
    )
    shard = kinesis.put_record(StreamName=name, Data=blob, PartitionKey="a", ExplicitHashKey=low)[
        "ShardId"
    ]
    assert shard == "shardId-000000000001"
    (stored,) = _read_all(emulator, name, shard)
    assert stored["Data"] == blob, "the aggregate passes through as bytes"
    assert [s.data for s in kpl.deaggregate(stored["PartitionKey"], stored["Data"])] == [
        b"in-low",
        b"in-high",
    ]
    child = next(
        s for s in kinesis.list_shards(StreamName=name)["Shards"] if s["ShardId"] == shard
    )["HashKeyRange"]
    kept = kpl.deaggregate(
        stored["PartitionKey"],
        stored["Data"],
        int(child["StartingHashKey"]),
        int(child["EndingHashKey"]),
    )
    assert [s.data for s in kept] == [b"in-low"], "KCL drops the sub-record of the other child"
