"""verify's shard reader on an AWS-like fake Kinesis: closed parents in retention, ListShards
pages, the tip snapshot, pacing, throttling and expired iterators (what moto cannot show)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fakes_drain import FakeClock, FakeKinesis, client_error

from turnout.verify.compare import digest
from turnout.verify.read import (
    KeySample,
    ReadWindow,
    ShardReaderSettings,
    StreamSide,
    read_shard,
    read_streams,
    records_by_key,
)


class VerifyKinesis(FakeKinesis):
    """FakeKinesis with real partition keys, AT_TIMESTAMP as a datetime, ListShards pages of
    one shard, and injected faults."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.throttle_next = 0
        self.expire_next = 0

    def put(self, stream: str, key: str, data: str) -> str:
        hash_key = int(hashlib.md5(key.encode()).hexdigest(), 16)
        shard = next(
            shard
            for shard in self.streams[stream]
            if not shard.closed and shard.start <= hash_key <= shard.end
        )
        sequence = self.add(stream, shard.shard_id, data)
        shard.records[-1]["PartitionKey"] = key
        self.clock.now += 0.001
        return sequence

    def list_shards(self, StreamName: str | None = None, NextToken: str | None = None) -> dict:
        self.calls.append("ListShards")
        name, index = json.loads(NextToken) if NextToken else (StreamName, 0)
        shards = self.streams[name]
        page: dict[str, Any] = {"Shards": [shards[index].describe()]}
        if index + 1 < len(shards):
            page["NextToken"] = json.dumps([name, index + 1])
        return page

    def get_shard_iterator(self, **kwargs: Any) -> dict:
        if isinstance(kwargs.get("Timestamp"), datetime):
            kwargs["Timestamp"] = kwargs["Timestamp"].timestamp()
        return super().get_shard_iterator(**kwargs)

    def get_records(self, ShardIterator: str, Limit: int | None = None) -> dict:
        if self.throttle_next:
            self.throttle_next -= 1
            raise client_error("ProvisionedThroughputExceededException", "GetRecords")
        if self.expire_next:
            self.expire_next -= 1
            raise client_error("ExpiredIteratorException", "GetRecords")
        return super().get_records(ShardIterator, Limit=2)  # small pages: several calls


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def kinesis(clock):
    fake = VerifyKinesis(clock)
    fake.create("events", shards=1)
    return fake


def settings(clock, **kwargs) -> ShardReaderSettings:
    return ShardReaderSettings(clock=clock.time, sleep=clock.sleep, **kwargs)


def window(clock, since: float | None = None) -> ReadWindow:
    return ReadWindow(since=since if since is not None else clock.time() - 3600, tip=clock.time())


def side(kinesis, clock) -> StreamSide:
    return StreamSide("events", "new", "events", kinesis, window(clock))


def test_closed_parent_and_children_are_read_and_a_key_keeps_its_order(kinesis, clock):
    for index in range(3):
        kinesis.put("events", "user-1", f"before-{index}")
    kinesis.split("events", "shardId-000000000000")
    for index in range(3):
        kinesis.put("events", "user-1", f"after-{index}")
    reads = read_streams([side(kinesis, clock)], settings(clock), 4, lambda message: None)
    shard_reads = reads[("events", "new")]
    assert shard_reads[0].shard_id == "shardId-000000000000"
    assert len(shard_reads) == 3, "ListShards was followed past its first page"
    assert not shard_reads[0].open
    merged = records_by_key(shard_reads)["user-1"]
    expected = [f"before-{index}" for index in range(3)] + [f"after-{index}" for index in range(3)]
    assert [seen.digest for seen in merged] == [digest(text.encode()) for text in expected]


def test_records_after_the_tip_snapshot_are_out_of_scope(kinesis, clock):
    for index in range(3):
        kinesis.put("events", "k", f"in-{index}")
    tip = clock.time()
    clock.now += 5
    for index in range(4):
        kinesis.put("events", "k", f"late-{index}")
    shard = kinesis.list_shards(StreamName="events")["Shards"][0]
    result = read_shard(
        kinesis, "new", "events", shard, 0, ReadWindow(since=0, tip=tip), settings(clock)
    )
    assert result.records == 3 and result.after_tip >= 1


def test_reading_starts_at_the_window_and_flags_the_in_flight_tail(kinesis, clock):
    kinesis.put("events", "k", "too-old")
    clock.now += 100
    since = clock.time()
    kinesis.put("events", "k", "in-window")
    clock.now += 100
    kinesis.put("events", "k", "young")
    shard = kinesis.list_shards(StreamName="events")["Shards"][0]
    edge = ReadWindow(since=since, tip=clock.time(), edge_after=clock.time() - 10)
    result = read_shard(kinesis, "new", "events", shard, 0, edge, settings(clock))
    assert [(seen.digest, seen.edge) for seen in result.by_key["k"]] == [
        (digest(b"in-window"), False),
        (digest(b"young"), True),
    ]


def test_get_records_is_paced_to_the_allowed_share_of_the_shard(kinesis, clock):
    for index in range(10):
        kinesis.put("events", f"k{index}", "x")
    shard = kinesis.list_shards(StreamName="events")["Shards"][0]
    started = clock.time()
    result = read_shard(
        kinesis, "new", "events", shard, 0, window(clock), settings(clock, reads_per_second=2)
    )
    assert result.records == 10 and result.calls >= 5
    assert clock.time() - started >= (result.calls - 1) / 2, "at most 2 GetRecords/s"


def test_throttling_backs_off_and_reads_everything(kinesis, clock):
    for index in range(5):
        kinesis.put("events", "k", str(index))
    kinesis.throttle_next = 3
    shard = kinesis.list_shards(StreamName="events")["Shards"][0]
    result = read_shard(kinesis, "new", "events", shard, 0, window(clock), settings(clock))
    assert result.records == 5 and result.throttled == 3
    backoffs = clock.sleeps[:3]
    assert backoffs == sorted(backoffs) and backoffs[0] >= 1, "exponential backoff"


def test_an_expired_iterator_resumes_after_the_last_record_read(kinesis, clock):
    for index in range(6):
        kinesis.put("events", "k", str(index))
    shard = kinesis.list_shards(StreamName="events")["Shards"][0]
    reader = settings(clock)
    original = kinesis.get_records
    calls = {"n": 0}

    def expire_second_call(ShardIterator: str, Limit: int | None = None) -> dict:
        calls["n"] += 1
        if calls["n"] == 2:
            raise client_error("ExpiredIteratorException", "GetRecords")
        return original(ShardIterator, Limit)

    kinesis.get_records = expire_second_call  # type: ignore[method-assign]
    result = read_shard(kinesis, "new", "events", shard, 0, window(clock), reader)
    assert [seen.digest for seen in result.by_key["k"]] == [
        digest(str(index).encode()) for index in range(6)
    ]


def test_markers_and_unsampled_keys_are_skipped(kinesis, clock):
    kinesis.put("events", "turnout-marker-abc", '{"turnout_marker": {}}')
    keys = [f"user-{index}" for index in range(200)]
    for key in keys:
        kinesis.put("events", key, "x")
    sample = KeySample(0.1)
    shard = kinesis.list_shards(StreamName="events")["Shards"][0]
    result = read_shard(
        kinesis, "new", "events", shard, 0, window(clock), settings(clock, sample=sample)
    )
    assert result.markers == 1
    assert set(result.by_key) == {key for key in keys if key in sample}
    assert 5 <= len(result.by_key) <= 40 and result.not_sampled == 200 - len(result.by_key)
    assert set(result.by_key) == {key for key in keys if key in KeySample(0.1)}, "deterministic"


def test_a_key_sample_of_one_keeps_every_key():
    assert all(f"k{index}" in KeySample(1.0) for index in range(100))


def test_timestamps_are_passed_as_datetimes(kinesis, clock):
    seen: list[Any] = []
    original = kinesis.get_shard_iterator

    def spy(**kwargs: Any) -> dict:
        seen.append(kwargs.get("Timestamp"))
        return original(**kwargs)

    kinesis.get_shard_iterator = spy  # type: ignore[method-assign]
    shard = kinesis.list_shards(StreamName="events")["Shards"][0]
    read_shard(kinesis, "new", "events", shard, 0, window(clock), settings(clock))
    assert isinstance(seen[0], datetime) and seen[0].tzinfo == UTC


def test_a_long_shard_read_reports_progress(kinesis, clock):
    for index in range(20):
        kinesis.put("events", "k", str(index))
    messages: list[str] = []
    reader = settings(clock, reads_per_second=1, progress=messages.append, progress_every_seconds=3)
    shard = kinesis.list_shards(StreamName="events")["Shards"][0]
    read_shard(kinesis, "new", "events", shard, 0, window(clock), reader)
    assert messages and all("still reading new events/shardId-000000000000" in m for m in messages)
