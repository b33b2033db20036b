"""Per-shard work of the drain predicates runs on a bounded thread pool, in shard order, with
progress; the ledger predicate over many shards reads the ledger in batches."""

from __future__ import annotations

import threading

import pytest
from fakes_drain import PHYSICAL, FakeClock, FakeDynamoDB, FakeKinesis, client_error, make_spec

import turnout.drain.scope as drain_scope
from turnout.aws.kinesis import ShardReader
from turnout.drain.ledger import ReplicatorConsumer, ReplicatorLedger
from turnout.drain.scope import DrainScope, per_shard
from turnout.drain.verdicts import Verdict

LEDGER = "o-turnout-ledger-old-to-new"


def scope(workers: int, **clients: object) -> DrainScope:
    clock = FakeClock()
    kinesis = clients.get("kinesis") or FakeKinesis(clock)
    return DrainScope(
        spec=make_spec(),
        environment="old",
        client={"kinesis": kinesis, **clients}.__getitem__,
        reader=ShardReader(kinesis, clock=clock.time, sleep=clock.sleep),
        clock=clock.time,
        workers=workers,
        progress=clients.get("progress"),  # type: ignore[arg-type]
    )


def test_shards_are_worked_on_side_by_side_and_results_keep_shard_order():
    together = threading.Barrier(4, timeout=5)  # breaks unless 4 run at the same time

    def work(index: int) -> int:
        together.wait()
        return index * 10

    assert per_shard(scope(workers=4), [0, 1, 2, 3], work, "test") == [0, 10, 20, 30]


def test_never_more_threads_than_workers():
    running = 0
    most = 0
    lock = threading.Lock()

    def work(index: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        threading.Event().wait(0.01)
        with lock:
            running -= 1
        return index

    assert per_shard(scope(workers=3), list(range(30)), work, "test") == list(range(30))
    assert 1 < most <= 3


def test_long_checks_report_progress(monkeypatch):
    monkeypatch.setattr(drain_scope, "PROGRESS_EVERY_SECONDS", 0.0)
    lines: list[str] = []
    per_shard(scope(workers=2, progress=lines.append), list(range(5)), lambda i: i, "ledger of x")
    assert lines and lines[-1].startswith("ledger of x: checked 5/5 shards")


def ledger_world(shards: int) -> tuple[FakeKinesis, FakeDynamoDB, ReplicatorLedger]:
    clock = FakeClock()
    kinesis = FakeKinesis(clock)
    kinesis.create(PHYSICAL, shards)
    dynamodb = FakeDynamoDB()
    dynamodb.create(LEDGER, "shard_key")
    dynamodb.batch_limit = 40  # DynamoDB may answer part of a batch: the rest must be re-asked
    the_scope = scope(workers=8, kinesis=kinesis, dynamodb=dynamodb)
    predicate = ReplicatorLedger(ReplicatorConsumer(the_scope.spec, "old"), the_scope)
    for shard in kinesis.streams[PHYSICAL]:
        seq = kinesis.add(PHYSICAL, shard.shard_id)
        dynamodb.put(
            LEDGER, {"shard_key": f"{PHYSICAL}/{shard.shard_id}", "last_sequence_number": seq}
        )
    return kinesis, dynamodb, predicate


def test_ledger_of_many_shards_is_read_in_batches_and_drained():
    _kinesis, dynamodb, predicate = ledger_world(250)
    verdict = predicate.check()
    assert verdict.verdict is Verdict.DRAINED
    assert verdict.drained_count == 250
    assert 3 <= dynamodb.batch_calls <= 10


def test_ledger_one_shard_of_many_behind_is_not_drained():
    kinesis, _dynamodb, predicate = ledger_world(250)
    kinesis.add(PHYSICAL, "shardId-000000000199")
    verdict = predicate.check()
    assert verdict.verdict is Verdict.NOT_DRAINED
    assert [shard.shard for shard in verdict.shards if shard.verdict is not Verdict.DRAINED] == [
        "shardId-000000000199"
    ]


def test_ledger_shard_that_cannot_be_read_is_unknown():
    kinesis, _dynamodb, predicate = ledger_world(2)

    def expired(**kwargs: object) -> dict:
        raise client_error("ExpiredIteratorException", "GetRecords")

    kinesis.get_records = expired  # type: ignore[method-assign]
    verdict = predicate.check()
    assert verdict.verdict is Verdict.UNKNOWN
    assert {shard.verdict for shard in verdict.shards} == {Verdict.UNKNOWN}


@pytest.mark.parametrize("workers", [1, 32])
def test_verdicts_do_not_depend_on_the_number_of_workers(workers):
    kinesis, _dynamodb, predicate = ledger_world(20)
    kinesis.add(PHYSICAL, "shardId-000000000007")
    predicate.scope.workers = workers
    verdicts = {shard.shard: shard.verdict for shard in predicate.check().shards}
    assert verdicts.pop("shardId-000000000007") is Verdict.NOT_DRAINED
    assert set(verdicts.values()) == {Verdict.DRAINED}
