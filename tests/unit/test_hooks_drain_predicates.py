"""The drain predicates' logic on in-memory fakes, including resharded streams (closed parents),
which the emulator cannot model the way AWS does (see docs/emulator.md)."""

from __future__ import annotations

import json

import pytest
from fakes_drain import (
    PHYSICAL,
    STREAM,
    FakeClock,
    FakeDynamoDB,
    FakeKinesis,
    FakeLambda,
    make_spec,
)

from turnout.aws.kinesis import ShardReader
from turnout.drain.base import NoEvidence, predicate_for, wait_until_drained
from turnout.drain.kcl import KclLeases
from turnout.drain.lambda_consumers import LambdaMarkers
from turnout.drain.ledger import ReplicatorConsumer, ReplicatorLedger, replication_lag
from turnout.drain.scope import DrainScope
from turnout.drain.verdicts import Verdict


class World:
    def __init__(self, consumers: list[dict] | None = None, shards: int = 1) -> None:
        self.clock = FakeClock()
        self.kinesis = FakeKinesis(self.clock)
        self.kinesis.create(PHYSICAL, shards)
        self.dynamodb = FakeDynamoDB()
        self.lambda_ = FakeLambda()
        self.spec = make_spec(consumers)
        self.reader = ShardReader(
            self.kinesis, clock=self.clock.time, sleep=self.clock.sleep, reads_per_second=2
        )
        clients = {"kinesis": self.kinesis, "dynamodb": self.dynamodb, "lambda": self.lambda_}
        self.scope = DrainScope(
            spec=self.spec,
            environment="old",
            client=clients.__getitem__,
            reader=self.reader,
            clock=self.clock.time,
        )

    def consumer(self, index: int = 0):
        return self.spec.consumers.old[index]

    def by_shard(self, verdict) -> dict[str, Verdict]:
        return {shard.shard: shard.verdict for shard in verdict.shards}


SHARD0 = "shardId-000000000000"


# --------------------------------------------------------------------------- replicator ledger


def ledger_world() -> tuple[World, ReplicatorLedger]:
    world = World()
    world.dynamodb.create("o-turnout-ledger-old-to-new", "shard_key")
    predicate = ReplicatorLedger(ReplicatorConsumer(world.spec, "old"), world.scope)
    return world, predicate


def write_ledger(world: World, shard: str, seq: str) -> None:
    world.dynamodb.put(
        "o-turnout-ledger-old-to-new",
        {"shard_key": f"{PHYSICAL}/{shard}", "last_sequence_number": seq, "record_count": 1},
    )


def test_replication_lag_is_the_records_age_on_the_clock_that_stamped_it():
    """On the sandbox's accelerated clock the stream runs hours ahead of this machine: the lag
    is the oldest unreplicated record's age on the services' clock (DrainScope.service_clock,
    AwsAccess.clock). On this machine's clock it would be negative, read as 0: caught up with
    the replicator two minutes behind."""
    world, _ = ledger_world()
    write_ledger(world, SHARD0, world.kinesis.add(PHYSICAL, SHARD0))
    world.kinesis.add(PHYSICAL, SHARD0)  # not replicated yet
    world.clock.now += 120
    machine = world.clock.now - 26 * 3600
    world.scope.clock = lambda: machine  # times the waits only
    world.scope.service_clock = world.clock.time
    lag = replication_lag(world.scope, max_lag_seconds=60)
    assert lag["caught_up"] is False
    assert lag["streams"][STREAM]["shards"][0]["lag_seconds"] == 120.0


def test_ledger_at_the_last_record_of_every_shard_is_drained():
    world, predicate = ledger_world()
    world.kinesis.add(PHYSICAL, SHARD0)
    write_ledger(world, SHARD0, world.kinesis.add(PHYSICAL, SHARD0))
    verdict = predicate.check()
    assert verdict.verdict is Verdict.DRAINED
    assert verdict.shards[0].detail["ledger_sequence_number"] == "2000"


def test_ledger_one_record_behind_is_not_drained():
    world, predicate = ledger_world()
    write_ledger(world, SHARD0, world.kinesis.add(PHYSICAL, SHARD0))
    last = world.kinesis.add(PHYSICAL, SHARD0)
    verdict = predicate.check()
    assert verdict.verdict is Verdict.NOT_DRAINED
    assert verdict.shards[0].detail["first_unreplicated"] == last


def test_ledger_one_record_left_in_a_closed_parent_is_not_drained_though_children_are_done():
    world, predicate = ledger_world()
    write_ledger(world, SHARD0, world.kinesis.add(PHYSICAL, SHARD0))
    world.kinesis.add(PHYSICAL, SHARD0)  # never replicated
    left, right = world.kinesis.split(PHYSICAL, SHARD0)
    write_ledger(world, left, world.kinesis.add(PHYSICAL, left))
    verdict = predicate.check()
    assert world.by_shard(verdict) == {
        SHARD0: Verdict.NOT_DRAINED,
        left: Verdict.DRAINED,
        right: Verdict.DRAINED,  # empty, no ledger item
    }
    assert verdict.verdict is Verdict.NOT_DRAINED


def test_ledger_closed_parent_fully_replicated_is_drained():
    world, predicate = ledger_world()
    world.kinesis.add(PHYSICAL, SHARD0)
    write_ledger(world, SHARD0, world.kinesis.add(PHYSICAL, SHARD0))
    world.kinesis.split(PHYSICAL, SHARD0)
    assert predicate.check().verdict is Verdict.DRAINED


def test_no_ledger_item_with_records_in_the_shard_is_not_drained():
    world, predicate = ledger_world()
    world.kinesis.add(PHYSICAL, SHARD0)
    verdict = predicate.check()
    assert verdict.verdict is Verdict.NOT_DRAINED
    assert "no ledger item" in verdict.shards[0].reason


def test_missing_ledger_table_is_unknown():
    world = World()
    verdict = ReplicatorLedger(ReplicatorConsumer(world.spec, "old"), world.scope).check()
    assert verdict.verdict is Verdict.UNKNOWN
    assert "o-turnout-ledger-old-to-new" in verdict.note


# --------------------------------------------------------------------------- KCL leases

KCL = {"kind": "kcl", "application": "app", "lease_table": "app-leases", "streams": [STREAM]}


def kcl_world(shards: int = 1) -> tuple[World, KclLeases]:
    world = World([KCL], shards)
    world.dynamodb.create("app-leases", "leaseKey")
    predicate = predicate_for(world.consumer(), world.scope)
    assert isinstance(predicate, KclLeases)
    return world, predicate


def lease(world: World, key: str, checkpoint: str) -> None:
    world.dynamodb.put(
        "app-leases", {"leaseKey": key, "checkpoint": checkpoint, "leaseOwner": "w1"}
    )


def test_kcl_checkpoint_at_the_last_record_is_drained():
    world, predicate = kcl_world()
    lease(world, SHARD0, world.kinesis.add(PHYSICAL, SHARD0))
    assert predicate.check().verdict is Verdict.DRAINED


def test_kcl_one_record_after_the_checkpoint_is_not_drained():
    world, predicate = kcl_world()
    lease(world, SHARD0, world.kinesis.add(PHYSICAL, SHARD0))
    world.kinesis.add(PHYSICAL, SHARD0)
    assert predicate.check().verdict is Verdict.NOT_DRAINED


def test_kcl_sequence_numbers_compare_as_integers_not_strings():
    world, predicate = kcl_world()
    for _ in range(9):
        world.kinesis.add(PHYSICAL, SHARD0)
    lease(world, SHARD0, world.kinesis.add(PHYSICAL, SHARD0))  # "10000" < "9000" as strings
    assert predicate.check().verdict is Verdict.DRAINED


def test_kcl_shard_end_is_drained():
    world, predicate = kcl_world()
    world.kinesis.add(PHYSICAL, SHARD0)
    lease(world, SHARD0, "SHARD_END")
    assert predicate.check().verdict is Verdict.DRAINED


@pytest.mark.parametrize("sentinel", ["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"])
def test_kcl_sentinel_checkpoint_with_records_is_not_drained(sentinel):
    world, predicate = kcl_world()
    world.kinesis.add(PHYSICAL, SHARD0)
    lease(world, SHARD0, sentinel)
    verdict = predicate.check()
    assert verdict.verdict is Verdict.NOT_DRAINED
    assert sentinel in verdict.shards[0].reason


def test_kcl_sentinel_checkpoint_on_an_empty_shard_is_drained():
    world, predicate = kcl_world()
    lease(world, SHARD0, "TRIM_HORIZON")
    assert predicate.check().verdict is Verdict.DRAINED


def test_kcl_finished_parent_without_lease_whose_children_have_leases_is_drained():
    world, predicate = kcl_world()
    world.kinesis.add(PHYSICAL, SHARD0)
    left, right = world.kinesis.split(PHYSICAL, SHARD0)
    lease(world, left, world.kinesis.add(PHYSICAL, left))
    lease(world, right, "TRIM_HORIZON")
    verdict = predicate.check()
    assert world.by_shard(verdict)[SHARD0] is Verdict.DRAINED
    assert verdict.verdict is Verdict.DRAINED


def test_kcl_parent_without_lease_and_a_child_without_lease_is_not_drained():
    world, predicate = kcl_world()
    world.kinesis.add(PHYSICAL, SHARD0)
    left, _right = world.kinesis.split(PHYSICAL, SHARD0)
    lease(world, left, "TRIM_HORIZON")
    verdict = predicate.check()
    assert world.by_shard(verdict)[SHARD0] is Verdict.NOT_DRAINED


def test_kcl_closed_parent_with_one_record_after_its_checkpoint_is_not_drained():
    world, predicate = kcl_world()
    lease(world, SHARD0, world.kinesis.add(PHYSICAL, SHARD0))
    world.kinesis.add(PHYSICAL, SHARD0)
    left, right = world.kinesis.split(PHYSICAL, SHARD0)
    lease(world, left, "TRIM_HORIZON")
    lease(world, right, "TRIM_HORIZON")
    verdict = predicate.check()
    assert world.by_shard(verdict) == {
        SHARD0: Verdict.NOT_DRAINED,
        left: Verdict.DRAINED,
        right: Verdict.DRAINED,
    }


def test_kcl_open_shard_without_lease_and_with_a_record_is_not_drained():
    world, predicate = kcl_world(shards=2)
    lease(world, SHARD0, "SHARD_END")
    world.kinesis.add(PHYSICAL, "shardId-000000000001")
    verdict = predicate.check()
    assert world.by_shard(verdict)["shardId-000000000001"] is Verdict.NOT_DRAINED


def test_kcl_empty_shard_without_lease_has_nothing_to_process_and_is_drained():
    world, predicate = kcl_world(shards=2)
    lease(world, SHARD0, "SHARD_END")
    verdict = predicate.check()
    assert world.by_shard(verdict)["shardId-000000000001"] is Verdict.DRAINED


def test_kcl_multi_stream_lease_keys_are_matched_by_stream_and_shard():
    world, predicate = kcl_world()
    seq = world.kinesis.add(PHYSICAL, SHARD0)
    lease(world, f"111111111111:other-stream:1700000000:{SHARD0}", "TRIM_HORIZON")
    lease(world, f"111111111111:{PHYSICAL}:1700000000:{SHARD0}", seq)
    assert predicate.check().verdict is Verdict.DRAINED


def test_kcl_missing_lease_table_is_unknown():
    world = World([KCL])
    verdict = predicate_for(world.consumer(), world.scope).check()
    assert verdict.verdict is Verdict.UNKNOWN
    assert "app-leases" in verdict.note


# --------------------------------------------------------------------------- Lambda markers

MARKERS = {
    "kind": "lambda",
    "function_name": "fn",
    "streams": [STREAM],
    "drain_evidence": "markers",
}
ARN = f"arn:aws:kinesis:eu-west-1:111111111111:stream/{PHYSICAL}"


def marker_world(shards: int = 1, state: str = "Enabled") -> tuple[World, LambdaMarkers]:
    world = World([MARKERS], shards)
    world.dynamodb.create("o-turnout-markers", "marker_id")
    world.lambda_.add("m-1", "fn", ARN, state)
    predicate = predicate_for(world.consumer(), world.scope)
    assert isinstance(predicate, LambdaMarkers)
    return world, predicate


def acknowledge_all(world: World, consumer: str = "fn") -> list[dict]:
    """What a consumer does: every marker record it reads -> one PutItem."""
    seen = []
    for shard in world.kinesis.streams[PHYSICAL]:
        for record in shard.records:
            try:
                marker = json.loads(record["Data"]).get("turnout_marker")
            except ValueError:
                continue  # an ordinary record
            if marker and marker["consumer"] == consumer:
                world.dynamodb.put(
                    "o-turnout-markers",
                    {"marker_id": marker["id"], "consumer": consumer, "seen_at": 1},
                )
                seen.append(marker)
    return seen


def test_markers_go_into_every_open_shard_by_its_starting_hash_key():
    world, predicate = marker_world(shards=3)
    prepared = predicate.prepare()
    assert sorted(marker["shard"] for marker in prepared["markers"]) == [
        f"shardId-{index:012d}" for index in range(3)
    ]
    for shard in world.kinesis.streams[PHYSICAL]:
        (record,) = shard.records
        marker = json.loads(record["Data"])["turnout_marker"]
        assert marker["shard"] == shard.shard_id
        assert marker["migration"] == "unit-drain" and marker["stream"] == STREAM
    predicate.prepare()  # idempotent within one run: no second marker
    assert all(len(shard.records) == 1 for shard in world.kinesis.streams[PHYSICAL])


def test_markers_acknowledged_in_every_shard_is_drained():
    world, predicate = marker_world(shards=2)
    predicate.prepare()
    assert predicate.check().verdict is Verdict.NOT_DRAINED
    acknowledge_all(world)
    assert predicate.check().verdict is Verdict.DRAINED


def test_marker_not_acknowledged_while_the_mapping_runs_is_not_drained():
    world, predicate = marker_world(shards=2)
    first, _second = predicate.prepare()["markers"]
    world.dynamodb.put(
        "o-turnout-markers", {"marker_id": first["id"], "consumer": "fn", "seen_at": 1}
    )
    verdict = predicate.check()
    assert world.by_shard(verdict) == {
        "shardId-000000000000": Verdict.DRAINED,
        "shardId-000000000001": Verdict.NOT_DRAINED,
    }
    assert verdict.verdict is Verdict.NOT_DRAINED


def test_marker_not_acknowledged_with_the_mapping_disabled_is_unknown():
    _world, predicate = marker_world(state="Disabled")
    predicate.prepare()
    verdict = predicate.check()
    assert verdict.verdict is Verdict.UNKNOWN
    assert "Disabled" in verdict.shards[0].reason


def test_marker_acknowledged_by_another_consumer_does_not_count():
    world, predicate = marker_world()
    (marker,) = predicate.prepare()["markers"]
    world.dynamodb.put(
        "o-turnout-markers", {"marker_id": marker["id"], "consumer": "other", "seen_at": 1}
    )
    verdict = predicate.check()
    assert verdict.verdict is Verdict.NOT_DRAINED
    assert verdict.shards[0].detail["acknowledged_by_other_consumer"] == ["other"]


def test_closed_parent_is_drained_only_when_its_childrens_markers_are_acknowledged():
    world, predicate = marker_world()
    world.kinesis.add(PHYSICAL, SHARD0, "old record")
    left, right = world.kinesis.split(PHYSICAL, SHARD0)
    prepared = predicate.prepare()
    assert sorted(marker["shard"] for marker in prepared["markers"]) == [left, right]
    assert world.kinesis.shard(PHYSICAL, SHARD0).records[-1]["Data"] == b"old record"
    verdict = predicate.check()
    assert world.by_shard(verdict)[SHARD0] is Verdict.NOT_DRAINED
    # Only the left child's marker is acknowledged: the parent is still not proven.
    left_marker = next(m for m in prepared["markers"] if m["shard"] == left)
    world.dynamodb.put(
        "o-turnout-markers", {"marker_id": left_marker["id"], "consumer": "fn", "seen_at": 1}
    )
    verdict = predicate.check()
    assert world.by_shard(verdict) == {
        SHARD0: Verdict.NOT_DRAINED,
        left: Verdict.DRAINED,
        right: Verdict.NOT_DRAINED,
    }
    acknowledge_all(world)
    assert predicate.check().verdict is Verdict.DRAINED


def test_a_shard_born_during_the_wait_gets_its_own_marker():
    world, predicate = marker_world()
    predicate.prepare()
    acknowledge_all(world)
    assert predicate.check().verdict is Verdict.DRAINED
    left, right = world.kinesis.split(PHYSICAL, SHARD0)
    assert predicate.check().verdict is Verdict.NOT_DRAINED  # children's markers just put
    assert {shard for _stream, shard in predicate.markers} == {SHARD0, left, right}
    acknowledge_all(world)
    assert predicate.check().verdict is Verdict.DRAINED


def test_missing_markers_table_is_unknown():
    world = World([MARKERS])
    world.lambda_.add("m-1", "fn", ARN)
    verdict = predicate_for(world.consumer(), world.scope).check()
    assert verdict.verdict is Verdict.UNKNOWN
    assert "o-turnout-markers" in verdict.note


def test_dry_run_puts_no_marker_and_proves_nothing():
    world, predicate = marker_world()
    world.scope.dry_run = True
    prepared = predicate.prepare()
    assert prepared["markers"][0]["dry_run"] is True
    assert world.kinesis.streams[PHYSICAL][0].records == []
    assert predicate.check().verdict is Verdict.UNKNOWN


# --------------------------------------------------------------------------- custom, waiting


def test_custom_consumer_has_no_evidence_and_is_unknown():
    custom = {"kind": "custom", "name": "x", "hook": "x.py", "streams": [STREAM]}
    world = World([custom])
    predicate = predicate_for(world.consumer(), world.scope)
    assert isinstance(predicate, NoEvidence)
    assert predicate.check().verdict is Verdict.UNKNOWN


def test_waiting_times_out_with_progress_and_the_last_verdicts():
    world, predicate = ledger_world()
    world.kinesis.add(PHYSICAL, SHARD0)
    messages: list[str] = []
    outcome = wait_until_drained(
        [predicate],
        what="the replicator to drain",
        timeout_seconds=30,
        poll_seconds=10,
        clock=world.clock.time,
        sleep=world.clock.sleep,
        progress=messages.append,
    )
    assert not outcome.drained
    assert outcome.rounds == 7  # pauses of 1, 2, 4, 8, 10 and the last 5 s
    assert messages[0] == "waiting for the replicator to drain: 0/1 shards drained, 0 s of 30 s"
    assert "no ledger item and the shard holds records" in outcome.problems()


def test_a_drain_of_a_few_seconds_is_seen_when_it_happens_not_a_poll_later():
    """The pause between rounds starts at 1 s and doubles up to poll_seconds."""
    from types import SimpleNamespace

    clock = FakeClock()
    started = clock.time()

    class DrainsAfterThreeSeconds:
        def verdict(self):
            drained = clock.time() - started >= 3
            verdict = Verdict.DRAINED if drained else Verdict.NOT_DRAINED
            return SimpleNamespace(
                verdict=verdict, shards=[1], drained_count=int(drained), final=False
            )

    outcome = wait_until_drained(
        [DrainsAfterThreeSeconds()],
        what="x",
        timeout_seconds=60,
        poll_seconds=10,
        clock=clock.time,
        sleep=clock.sleep,
        progress=lambda message: None,
    )
    assert outcome.drained and outcome.elapsed == 3  # after pauses of 1 and 2 s, not 10
    assert clock.sleeps == [1, 2]


def test_waiting_ends_as_soon_as_everything_is_drained():
    world, predicate = ledger_world()
    seq = world.kinesis.add(PHYSICAL, SHARD0)
    calls = []

    def sleep(seconds: float) -> None:
        calls.append(seconds)
        world.clock.sleep(seconds)
        write_ledger(world, SHARD0, seq)

    outcome = wait_until_drained(
        [predicate],
        what="x",
        timeout_seconds=600,
        poll_seconds=5,
        clock=world.clock.time,
        sleep=sleep,
        progress=lambda _: None,
    )
    assert outcome.drained and outcome.rounds == 2 and calls == [1]  # the first pause: 1 s


def test_reads_are_paced_per_shard():
    world, predicate = ledger_world()
    world.kinesis.add(PHYSICAL, SHARD0)
    for _ in range(3):
        predicate.check()
    # 3 GetRecords on one shard at <= 2 per second: two waits of 0.5 s.
    assert world.clock.sleeps == [0.5, 0.5]
