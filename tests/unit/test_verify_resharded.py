"""The whole verify run on AWS-like fakes: a new stream split while it was replicated (its
closed parent still in retention) against an unsplit old stream."""

from __future__ import annotations

from types import SimpleNamespace

from fakes_drain import PHYSICAL, FakeClock, make_spec
from test_verify_read import VerifyKinesis

from turnout.verify.run import VerifyOptions, since_window, verify

NEW, OLD = "clicks-new", PHYSICAL


def environments(clock: FakeClock, copy=lambda records: records):
    """New: 4 records per key, split after the first two. Old: their copy, after `copy`."""
    new, old = VerifyKinesis(clock), VerifyKinesis(clock)
    new.create(NEW, shards=1)
    old.create(OLD, shards=1)
    clock.now += 1
    produced = []
    for n in range(4):
        if n == 2:
            new.split(NEW, "shardId-000000000000")
        for key in ("a", "b", "c"):
            new.put(NEW, key, f"{key}{n}")
            produced.append((key, f"{key}{n}"))
    for key, data in copy(produced):
        old.put(OLD, key, data)
    clock.now += 1
    aws = SimpleNamespace(client=lambda side, service: {"new": new, "old": old}[side])
    return aws


def run(clock: FakeClock, aws) -> dict:
    options = VerifyOptions(grace_seconds=0, clock=clock.time, sleep=clock.sleep, workers=2)
    return verify(make_spec(), aws, since_window(clock.time() - 60), options).document


def test_a_copy_of_a_split_stream_passes_parent_records_before_children():
    clock = FakeClock()
    document = run(clock, environments(clock))
    stream = next(iter(document["streams"].values()))
    assert document["passed"], stream["findings"]
    assert len(stream["new"]["shards"]) == 3 and stream["records"]["matched"] == 12
    assert document["records_read"] == 24


def test_a_child_record_copied_before_its_parent_records_is_reordered():
    def child_first(records):
        moved = records.index(("b", "b2"))  # b2 went to a child shard
        return [records[moved], *records[:moved], *records[moved + 1 :]]

    clock = FakeClock()
    document = run(clock, environments(clock, child_first))
    stream = next(iter(document["streams"].values()))
    assert not document["passed"] and document["failing_kinds"]
    assert stream["records"]["reordered"] == 1
    assert [(f["kind"], f["key"]) for f in stream["findings"]] == [("reordered", "b")]
