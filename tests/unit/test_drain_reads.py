"""A later check of a shard starts where the last read of it stopped (turnout.drain.reads): one
GetRecords with the iterator GetRecords returned, no GetShardIterator, and the same verdicts as
a fresh read. Also: a predicate's streams are listed side by side."""

from __future__ import annotations

import threading

from fakes_drain import (
    PHYSICAL,
    STREAM,
    FakeClock,
    FakeDynamoDB,
    FakeKinesis,
    client_error,
    make_spec,
)

from turnout.aws.kinesis import ShardReader
from turnout.drain.base import predicate_for
from turnout.drain.kcl import KclLeases
from turnout.drain.ledger import ReplicatorConsumer, ReplicatorLedger
from turnout.drain.reads import MAX_ITERATOR_AGE_SECONDS
from turnout.drain.scope import DrainScope, stream_shards
from turnout.drain.verdicts import Verdict

LEDGER = "o-turnout-ledger-old-to-new"
LEASES = "app-leases"
KCL = {"kind": "kcl", "application": "app", "lease_table": LEASES, "streams": [STREAM]}


class World:
    def __init__(self, shards: int = 3, workers: int = 4) -> None:
        self.clock = FakeClock()
        self.kinesis = FakeKinesis(self.clock)
        self.kinesis.create(PHYSICAL, shards)
        self.dynamodb = FakeDynamoDB()
        self.dynamodb.create(LEDGER, "shard_key")
        self.dynamodb.create(LEASES, "leaseKey")
        self.spec = make_spec([KCL])
        self.scope = DrainScope(
            spec=self.spec,
            environment="old",
            client={"kinesis": self.kinesis, "dynamodb": self.dynamodb}.__getitem__,
            reader=ShardReader(self.kinesis, clock=self.clock.time, sleep=self.clock.sleep),
            clock=self.clock.time,
            workers=workers,
        )
        self.ledger = ReplicatorLedger(ReplicatorConsumer(self.spec, "old"), self.scope)
        kcl = predicate_for(self.spec.consumers.old[0], self.scope)
        assert isinstance(kcl, KclLeases)
        self.kcl = kcl

    @property
    def shard_ids(self) -> list[str]:
        return [shard.shard_id for shard in self.kinesis.streams[PHYSICAL]]

    def drained_everywhere(self) -> None:
        """One record per shard, the ledger and the leases at it."""
        for shard in self.shard_ids:
            seq = self.kinesis.add(PHYSICAL, shard)
            self.dynamodb.put(
                LEDGER, {"shard_key": f"{PHYSICAL}/{shard}", "last_sequence_number": seq}
            )
            self.dynamodb.put(LEASES, {"leaseKey": shard, "checkpoint": seq})

    def count(self, call: str) -> int:
        return self.kinesis.calls.count(call)

    def calls_of(self, check) -> dict[str, int]:  # type: ignore[no-untyped-def]
        before = list(self.kinesis.calls)
        verdict = check()
        after = self.kinesis.calls[len(before) :]
        self.last = verdict
        return {call: after.count(call) for call in ("GetShardIterator", "GetRecords")}


def not_drained(verdict) -> list[str]:  # type: ignore[no-untyped-def]
    return [shard.shard for shard in verdict.shards if shard.verdict is Verdict.NOT_DRAINED]


def test_a_second_ledger_check_reads_each_shard_with_one_call_and_sees_new_records():
    world = World()
    world.drained_everywhere()
    assert world.calls_of(world.ledger.check) == {"GetShardIterator": 3, "GetRecords": 3}
    assert world.last.verdict is Verdict.DRAINED
    world.clock.sleep(5)
    assert world.calls_of(world.ledger.check) == {"GetShardIterator": 0, "GetRecords": 3}
    assert world.last.verdict is Verdict.DRAINED
    behind = world.shard_ids[1]
    seq = world.kinesis.add(PHYSICAL, behind)
    world.clock.sleep(5)
    assert world.calls_of(world.ledger.check) == {"GetShardIterator": 0, "GetRecords": 3}
    assert not_drained(world.last) == [behind]
    detail = next(shard.detail for shard in world.last.shards if shard.shard == behind)
    assert detail["first_unreplicated"] == seq
    assert world.scope.positions.resumed_reads == 6


def test_a_ledger_that_moved_is_read_afresh_and_judged_the_same():
    world = World(shards=1)
    world.drained_everywhere()
    shard = world.shard_ids[0]
    world.ledger.check()
    newer = [world.kinesis.add(PHYSICAL, shard) for _ in range(3)]
    world.dynamodb.put(
        LEDGER, {"shard_key": f"{PHYSICAL}/{shard}", "last_sequence_number": newer[0]}
    )
    world.clock.sleep(5)
    assert world.calls_of(world.ledger.check) == {"GetShardIterator": 1, "GetRecords": 1}
    assert world.last.shards[0].detail["first_unreplicated"] == newer[1]


def test_kcl_then_ledger_at_the_same_record_share_the_iterator():
    """`turnout drain-check` judges the consumers, then the replicator, on one scope: in a
    drained environment both stand at each shard's last record."""
    world = World()
    world.drained_everywhere()
    assert world.calls_of(world.kcl.check) == {"GetShardIterator": 3, "GetRecords": 3}
    assert world.last.verdict is Verdict.DRAINED
    assert world.calls_of(world.ledger.check) == {"GetShardIterator": 0, "GetRecords": 3}
    assert world.last.verdict is Verdict.DRAINED
    # and again: the KCL check resumes too, its checkpointed record known from its first read
    world.clock.sleep(5)
    assert world.calls_of(world.kcl.check) == {"GetShardIterator": 0, "GetRecords": 3}
    assert world.last.verdict is Verdict.DRAINED


def test_a_kcl_recheck_still_sees_a_record_after_the_checkpoint():
    world = World(shards=1)
    world.drained_everywhere()
    shard = world.shard_ids[0]
    world.kcl.check()
    seq = world.kinesis.add(PHYSICAL, shard)
    world.clock.sleep(5)
    assert world.calls_of(world.kcl.check) == {"GetShardIterator": 0, "GetRecords": 1}
    assert not_drained(world.last) == [shard]
    assert world.last.shards[0].detail["first_unprocessed"] == seq


def test_an_iterator_near_its_five_minutes_is_not_used():
    world = World(shards=1)
    world.drained_everywhere()
    world.ledger.check()
    world.clock.sleep(MAX_ITERATOR_AGE_SECONDS)
    assert world.calls_of(world.ledger.check) == {"GetShardIterator": 1, "GetRecords": 1}
    assert world.last.verdict is Verdict.DRAINED


def test_an_expired_iterator_is_replaced_by_a_fresh_read():
    world = World(shards=1)
    world.drained_everywhere()
    world.ledger.check()
    real = world.kinesis.get_records
    refused: list[str] = []

    def expire_once(ShardIterator: str, Limit: int | None = None) -> dict:
        if not refused:
            refused.append(ShardIterator)
            raise client_error("ExpiredIteratorException", "GetRecords")
        return real(ShardIterator=ShardIterator, Limit=Limit)

    world.kinesis.get_records = expire_once  # type: ignore[method-assign]
    world.kinesis.add(PHYSICAL, world.shard_ids[0])
    world.clock.sleep(5)
    verdict = world.ledger.check()
    assert refused and world.count("GetShardIterator") == 2
    assert not_drained(verdict) == world.shard_ids


def test_another_read_error_on_a_resumed_read_is_unknown_and_the_next_check_reads_afresh():
    world = World(shards=1)
    world.drained_everywhere()
    world.ledger.check()
    real = world.kinesis.get_records

    def throttled(ShardIterator: str, Limit: int | None = None) -> dict:
        raise client_error("ProvisionedThroughputExceededException", "GetRecords")

    world.kinesis.get_records = throttled  # type: ignore[method-assign]
    world.clock.sleep(5)
    assert world.ledger.check().verdict is Verdict.UNKNOWN
    world.kinesis.get_records = real  # type: ignore[method-assign]
    world.clock.sleep(5)
    assert world.calls_of(world.ledger.check) == {"GetShardIterator": 1, "GetRecords": 1}
    assert world.last.verdict is Verdict.DRAINED


def test_a_closed_shard_read_to_its_end_is_read_afresh_next_time():
    world = World(shards=1)
    parent = world.shard_ids[0]
    seq = world.kinesis.add(PHYSICAL, parent)
    world.kinesis.split(PHYSICAL, parent)
    world.dynamodb.put(LEDGER, {"shard_key": f"{PHYSICAL}/{parent}", "last_sequence_number": seq})
    world.ledger.check()
    world.clock.sleep(5)
    verdict = world.ledger.check()
    assert verdict.verdict is Verdict.DRAINED
    # the parent (no NextShardIterator at its end) twice fresh; the empty children resumed once
    assert world.count("GetShardIterator") == 2 + 2


def test_a_shard_without_ledger_item_rechecked_from_its_start():
    world = World(shards=1)
    world.ledger.check()  # an empty shard, no ledger item: drained
    seq = world.kinesis.add(PHYSICAL, world.shard_ids[0])
    world.clock.sleep(5)
    assert world.calls_of(world.ledger.check) == {"GetShardIterator": 0, "GetRecords": 1}
    assert world.last.shards[0].detail["first_unreplicated"] == seq


# --------------------------------------------------------------------------- side by side


def test_streams_are_listed_side_by_side_in_their_order():
    world = World(workers=4)
    world.kinesis.create("other-old", 2)
    both = threading.Barrier(2, timeout=5)
    list_shards = world.kinesis.list_shards

    def waiting_list(**kwargs: object) -> dict:
        both.wait()
        return list_shards(**kwargs)  # type: ignore[arg-type]

    world.kinesis.list_shards = waiting_list  # type: ignore[method-assign]
    world.scope.physical = {"a": PHYSICAL, "b": "other-old"}.__getitem__  # type: ignore[method-assign]
    listed = stream_shards(world.scope, ["a", "b"])
    assert list(listed) == ["a", "b"]
    assert [len(shards) for shards in listed.values()] == [3, 2]
