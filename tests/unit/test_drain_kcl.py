"""The KCL lease predicate on in-memory fakes: SHARD_END, sub-sequence checkpoints inside
KPL-aggregated records, pending checkpoints, and parent shards whose lease KCL deleted."""

from __future__ import annotations

import pytest
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
from turnout.drain.kcl import KclLeases, aggregated_record_count
from turnout.drain.scope import DrainScope
from turnout.drain.verdicts import Verdict
from turnout.sandbox import kpl

SHARD0 = "shardId-000000000000"
KCL = {"kind": "kcl", "application": "app", "lease_table": "app-leases", "streams": [STREAM]}


class KclWorld:
    def __init__(self, shards: int = 1) -> None:
        self.clock = FakeClock()
        self.kinesis = FakeKinesis(self.clock)
        self.kinesis.create(PHYSICAL, shards)
        self.dynamodb = FakeDynamoDB()
        self.dynamodb.create("app-leases", "leaseKey")
        spec = make_spec([KCL])
        clients = {"kinesis": self.kinesis, "dynamodb": self.dynamodb}
        scope = DrainScope(
            spec=spec,
            environment="old",
            client=clients.__getitem__,
            reader=ShardReader(self.kinesis, clock=self.clock.time, sleep=self.clock.sleep),
            clock=self.clock.time,
            workers=4,
        )
        self.predicate = predicate_for(spec.consumers.old[0], scope)
        assert isinstance(self.predicate, KclLeases)

    def lease(self, shard: str, checkpoint: str | None, **extra: object) -> None:
        item = {"leaseKey": shard, "leaseOwner": "worker-1", **extra}
        if checkpoint is not None:
            item["checkpoint"] = checkpoint
        self.dynamodb.put("app-leases", item)

    def add(self, shard: str, data: bytes | str = "x") -> str:
        seq = self.kinesis.add(PHYSICAL, shard)
        if isinstance(data, bytes):
            self.kinesis.shard(PHYSICAL, shard).records[-1]["Data"] = data
        return seq

    def verdicts(self) -> dict[str, Verdict]:
        return {shard.shard: shard.verdict for shard in self.predicate.check().shards}

    def reasons(self) -> dict[str, str]:
        return {shard.shard: shard.reason for shard in self.predicate.check().shards}


def aggregated(count: int) -> bytes:
    """A KPL aggregated record of `count` user records."""
    return kpl.aggregate([kpl.UserRecord("k", b"%d" % n) for n in range(count)])


# --------------------------------------------------------------------------- checkpoints


def test_shard_end_checkpoint_of_a_closed_parent_with_records_is_drained():
    world = KclWorld()
    world.add(SHARD0)
    left, right = world.kinesis.split(PHYSICAL, SHARD0)
    world.lease(SHARD0, "SHARD_END")
    world.lease(left, "TRIM_HORIZON")
    world.lease(right, "TRIM_HORIZON")
    assert world.verdicts() == {
        SHARD0: Verdict.DRAINED,
        left: Verdict.DRAINED,
        right: Verdict.DRAINED,
    }


def test_one_unprocessed_record_in_one_of_many_shards_is_not_drained():
    world = KclWorld(shards=6)
    for index in range(6):
        shard = f"shardId-{index:012d}"
        world.lease(shard, world.add(shard))
    world.add("shardId-000000000004")
    verdicts = world.verdicts()
    assert verdicts.pop("shardId-000000000004") is Verdict.NOT_DRAINED
    assert set(verdicts.values()) == {Verdict.DRAINED}


def test_checkpoint_inside_an_aggregated_record_is_not_drained():
    world = KclWorld()
    seq = world.add(SHARD0, aggregated(3))
    world.lease(SHARD0, seq, checkpointSubSequenceNumber=1)
    verdict = world.predicate.check()
    assert verdict.verdict is Verdict.NOT_DRAINED
    assert "sub-record 1 of an aggregated record of 3" in verdict.shards[0].reason


def test_checkpoint_at_the_last_sub_record_of_an_aggregated_record_is_drained():
    world = KclWorld()
    seq = world.add(SHARD0, aggregated(3))
    world.lease(SHARD0, seq, checkpointSubSequenceNumber=2)
    assert world.verdicts() == {SHARD0: Verdict.DRAINED}


def test_sub_sequence_number_of_a_plain_record_does_not_matter():
    world = KclWorld()
    seq = world.add(SHARD0, b"not aggregated")
    world.lease(SHARD0, seq, checkpointSubSequenceNumber=0)
    assert world.verdicts() == {SHARD0: Verdict.DRAINED}


def test_a_pending_checkpoint_at_the_end_does_not_count():
    world = KclWorld()
    committed = world.add(SHARD0)
    prepared = world.add(SHARD0)
    world.lease(SHARD0, committed, pendingCheckpoint=prepared)
    verdict = world.predicate.check()
    assert verdict.verdict is Verdict.NOT_DRAINED
    assert "pendingCheckpoint" in verdict.shards[0].reason
    assert verdict.shards[0].detail["pending_checkpoint"] == prepared


def test_a_lease_without_checkpoint_is_unknown():
    world = KclWorld()
    world.add(SHARD0)
    world.lease(SHARD0, None)
    assert world.verdicts() == {SHARD0: Verdict.UNKNOWN}


def test_a_shard_that_cannot_be_read_is_unknown():
    world = KclWorld()
    world.lease(SHARD0, world.add(SHARD0))

    def throttled(**kwargs: object) -> dict:
        raise client_error("ProvisionedThroughputExceededException", "GetShardIterator")

    world.kinesis.get_shard_iterator = throttled  # type: ignore[method-assign]
    verdict = world.predicate.check()
    assert verdict.verdict is Verdict.UNKNOWN
    assert "ProvisionedThroughputExceededException" in verdict.shards[0].reason


def test_kpl_aggregated_records_are_recognised_and_anything_else_is_not():
    assert aggregated_record_count(aggregated(5)) == 5
    assert aggregated_record_count(aggregated(5)[:-1] + b"\x00") is None  # bad MD5
    assert aggregated_record_count(b"plain json") is None


# --------------------------------------------------------------------------- parents without lease


def test_parent_lease_deleted_after_a_child_started_is_drained():
    world = KclWorld()
    world.add(SHARD0)
    left, right = world.kinesis.split(PHYSICAL, SHARD0)
    world.lease(left, world.add(left))
    world.lease(right, "TRIM_HORIZON")
    verdicts = world.verdicts()
    assert verdicts[SHARD0] is Verdict.DRAINED
    assert left in world.reasons()[SHARD0]


def test_parent_without_lease_with_a_record_and_children_not_started_is_not_drained():
    world = KclWorld()
    world.add(SHARD0)
    left, right = world.kinesis.split(PHYSICAL, SHARD0)
    world.lease(left, "TRIM_HORIZON")
    world.lease(right, "TRIM_HORIZON")
    assert world.verdicts() == {
        SHARD0: Verdict.NOT_DRAINED,
        left: Verdict.DRAINED,
        right: Verdict.DRAINED,
    }


def test_empty_parent_without_lease_is_drained():
    world = KclWorld()
    left, right = world.kinesis.split(PHYSICAL, SHARD0)
    world.lease(left, "TRIM_HORIZON")
    world.lease(right, "TRIM_HORIZON")
    assert world.verdicts()[SHARD0] is Verdict.DRAINED


def test_a_started_grandchild_proves_parent_and_child_finished():
    world = KclWorld()
    world.add(SHARD0)
    left, right = world.kinesis.split(PHYSICAL, SHARD0)
    world.add(left)
    grand_left, _grand_right = world.kinesis.split(PHYSICAL, left)
    world.lease(right, "SHARD_END")
    world.lease(grand_left, world.add(grand_left))
    verdicts = world.verdicts()
    assert verdicts[SHARD0] is Verdict.DRAINED
    assert verdicts[left] is Verdict.DRAINED


def test_parent_shard_ids_of_a_child_lease_count_as_ancestry():
    world = KclWorld(shards=2)
    world.add(SHARD0)
    # ListShards no longer links them (say, a parent listed without its child): the lease does.
    world.lease("shardId-000000000001", world.add("shardId-000000000001"), parentShardIds=[SHARD0])
    assert world.verdicts()[SHARD0] is Verdict.DRAINED


@pytest.mark.parametrize("checkpoint", ["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"])
def test_a_child_at_its_initial_position_proves_nothing_about_its_parent(checkpoint):
    world = KclWorld()
    world.add(SHARD0)
    left, right = world.kinesis.split(PHYSICAL, SHARD0)
    world.lease(left, checkpoint)
    world.lease(right, checkpoint)
    assert world.verdicts()[SHARD0] is Verdict.NOT_DRAINED


def test_missing_lease_table_is_unknown_with_the_table_named():
    world = KclWorld()
    world.dynamodb.tables.clear()
    verdict = world.predicate.check()
    assert verdict.verdict is Verdict.UNKNOWN
    assert "app-leases" in verdict.note
