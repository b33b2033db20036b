"""The producer helper (turnout.producer): the route read with bounded staleness, PutRecords
retried until every record is accepted, per-key order kept, records that no stream accepted
returned, never dropped."""

from __future__ import annotations

import json
import random

import pytest

from turnout.producer import (
    MAX_RECORDS_PER_CALL,
    Route,
    RouteCache,
    RoutedWriter,
    RouteError,
    RouteUnavailable,
    UndeliveredRecords,
    key_heads,
    parameter_route,
    table_route,
)

OLD, NEW = "111111111111", "222222222222"


def route_value(environment: str, account: str) -> str:
    return json.dumps(
        {
            "environment": environment,
            "account_id": account,
            "region": "eu-west-1",
            "streams": {"clicks": f"arn:aws:kinesis:eu-west-1:{account}:stream/clicks"},
        }
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FlakyKinesis:
    """Per stream ARN, the accepted records in acceptance order; entries are accepted in a
    shuffled order (PutRecords keeps none), some fail, some whole calls fail."""

    def __init__(self, seed: int, entry_failure: float = 0.0, call_failure: float = 0.0):
        self.random = random.Random(seed)
        self.entry_failure = entry_failure
        self.call_failure = call_failure
        self.streams: dict[str, list[dict]] = {}
        self.on_call = lambda: None

    def put_records(self, StreamARN: str, Records: list[dict]) -> dict:
        self.on_call()
        if self.random.random() < self.call_failure:
            raise OSError("connection reset by peer")
        stream = self.streams.setdefault(StreamARN, [])
        outcome: dict[int, dict] = {}
        order = list(range(len(Records)))
        self.random.shuffle(order)
        for index in order:
            if self.random.random() < self.entry_failure:
                outcome[index] = {"ErrorCode": "ProvisionedThroughputExceededException"}
                continue
            stream.append(Records[index])
            outcome[index] = {"ShardId": "shardId-000000000000", "SequenceNumber": str(len(stream))}
        return {"Records": [outcome[index] for index in range(len(Records))]}


def test_a_route_read_is_used_for_max_age_seconds_then_read_again():
    clock, reads = Clock(), []
    cache = RouteCache(lambda: reads.append(1) or route_value("old", OLD), max_age=5, clock=clock)
    cache.current()
    clock.now = 4.9
    assert cache.current().environment == "old" and len(reads) == 1
    clock.now = 5.0
    cache.current()
    assert len(reads) == 2


def test_a_failed_read_keeps_the_last_good_route_and_is_retried_at_most_every_second():
    clock, value = Clock(), {"raw": route_value("old", OLD)}

    def read() -> str:
        if value["raw"] is None:
            raise ConnectionError("unreachable")
        return value["raw"]

    cache = RouteCache(read, max_age=5, clock=clock)
    assert cache.current().environment == "old"
    value["raw"] = None
    clock.now = 6
    assert cache.current().environment == "old"
    assert cache.errors == 1 and "unreachable" in cache.last_error
    clock.now = 6.5
    cache.current()
    assert cache.reads == 2, "no new read within a second of a failed one"
    value["raw"] = route_value("new", NEW)
    clock.now = 7.0
    assert cache.current().environment == "new"
    assert cache.changes == [(None, "old"), ("old", "new")]


def test_before_any_route_was_read_there_is_nowhere_to_write():
    cache = RouteCache(lambda: "not json", max_age=5, clock=Clock())
    with pytest.raises(RouteUnavailable, match="no route could be read yet"):
        cache.current()


@pytest.mark.parametrize(
    "value",
    [
        "[]",
        '{"environment": "new"}',
        json.dumps({"environment": "x", "account_id": "1", "region": "r", "streams": {"a": "b"}}),
    ],
)
def test_a_value_that_is_not_a_route_is_refused(value):
    with pytest.raises(RouteError):
        Route.parse(value)


def test_sources_read_the_route_table_item_and_the_parameter():
    class Table:
        def get_item(self, **request):
            assert request["TableName"].startswith("arn:aws:dynamodb:")
            assert request["ConsistentRead"] is True
            if request["Key"] == {"route_id": {"S": "clickstream"}}:
                return {"Item": {"route_id": {"S": "clickstream"}, "value": {"S": "v"}}}
            return {}

    class Parameters:
        def get_parameter(self, Name):
            return {"Parameter": {"Value": f"value of {Name}"}}

    arn = "arn:aws:dynamodb:eu-west-1:111111111111:table/legacy-turnout-route"
    assert table_route(Table(), arn, "clickstream")() == "v"
    with pytest.raises(RouteError, match="no route item 'other'"):
        table_route(Table(), arn, "other")()
    assert parameter_route(Parameters(), "/x")() == "value of /x"


def test_key_heads_sends_one_record_per_key_within_the_call_limits():
    items = [("a", 1), ("a", 2), ("b", 1), ("c", 1), ("b", 2)]
    heads = key_heads(items, key=lambda item: item[0], size=lambda item: 10, max_count=2)
    assert heads == [("a", 1), ("b", 1)]
    assert key_heads(items, key=lambda item: item[0], size=lambda item: 10, max_bytes=25) == [
        ("a", 1),
        ("b", 1),
    ]


def test_every_record_is_delivered_in_key_order_across_failures_and_a_route_change():
    clock = Clock()
    kinesis = {OLD: FlakyKinesis(1, 0.3, 0.1), NEW: FlakyKinesis(2, 0.3, 0.1)}
    value = {"raw": route_value("old", OLD)}
    calls = {"n": 0}

    def flip_after_some_calls() -> None:
        calls["n"] += 1
        if calls["n"] == 8:
            value["raw"] = route_value("new", NEW)
            clock.now += 10  # the cache ages past max_age: the next write reads the new route

    for fake in kinesis.values():
        fake.on_call = flip_after_some_calls
    writer = RoutedWriter(
        RouteCache(lambda: value["raw"], max_age=5, clock=clock),
        lambda account, region: kinesis[account],
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(3),
    )
    records = [
        {
            "Data": json.dumps({"key": f"k{n % 7}", "seq": n // 7}).encode(),
            "PartitionKey": f"k{n % 7}",
        }
        for n in range(700)
    ]
    delivered = writer.put_records("clicks", records)
    assert len(delivered) == len(records)
    assert {d.environment for d in delivered} == {"old", "new"}
    per_key: dict[str, list[int]] = {}
    for environment_records in (kinesis[OLD].streams, kinesis[NEW].streams):
        for stored in environment_records.values():
            for record in stored:
                event = json.loads(record["Data"])
                per_key.setdefault(event["key"], []).append(event["seq"])
    # Old's records of a key come before new's (old was written first): concatenated in that
    # order, each key holds 0, 1, 2, ... with no gap, no duplicate and no inversion.
    assert all(seqs == list(range(len(seqs))) for seqs in per_key.values()), per_key
    assert sum(len(seqs) for seqs in per_key.values()) == 700


def test_records_no_stream_accepted_before_the_timeout_are_returned_not_dropped():
    clock = Clock()
    kinesis = FlakyKinesis(5, entry_failure=1.0)
    writer = RoutedWriter(
        RouteCache(lambda: route_value("old", OLD), max_age=5, clock=clock),
        lambda account, region: kinesis,
        sleep=clock.sleep,
        clock=clock,
    )
    records = [{"Data": b"x", "PartitionKey": f"k{n}"} for n in range(3)]
    with pytest.raises(UndeliveredRecords) as raised:
        writer.put_records("clicks", records, timeout=2.0)
    assert raised.value.records == records
    assert raised.value.delivered == [None, None, None]
    assert "returned, not dropped" in str(raised.value)


def test_a_call_carries_at_most_five_hundred_records_unless_key_order_is_off():
    clock = Clock()
    seen: list[int] = []

    class Counting(FlakyKinesis):
        def put_records(self, StreamARN, Records):
            seen.append(len(Records))
            return super().put_records(StreamARN, Records)

    writer = RoutedWriter(
        RouteCache(lambda: route_value("old", OLD), max_age=5, clock=clock),
        lambda account, region: Counting(1),
        sleep=clock.sleep,
        clock=clock,
        keep_key_order=False,
    )
    writer.put_records("clicks", [{"Data": b"x", "PartitionKey": "same"}] * 1200)
    assert seen == [MAX_RECORDS_PER_CALL, MAX_RECORDS_PER_CALL, 200]
