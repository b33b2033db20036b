"""Two operators at once, a stale lock of a dead holder, and clock skew between hosts, on the
emulator's DynamoDB lock table (the engine's harness from test_engine_journal_lock_resume).

Clock skew is injected as an offset on one side's lock clock; the lease is written with the
holder's clock and judged with the acquirer's (docs/cutover.md, "Lock and clock skew").
"""

from __future__ import annotations

import os
import threading
import time

import pytest
from test_engine_journal_lock_resume import harness, spec, tables  # noqa: F401 (fixtures)

from turnout.engine.lock import CutoverLock, LockHeld, LockLost

pytestmark = pytest.mark.integration

GATED_HOOK = """
import os, time
from pathlib import Path
from turnout.hooks import Hook, HookArgs

class Args(HookArgs):
    model_config = {"extra": "allow"}

class VerifyConsumersPaused(Hook):
    Args = Args

    def run(self, context):
        Path(os.environ["ENGINE_TEST_ENTERED"]).write_text("in")
        gate = Path(os.environ["ENGINE_TEST_GATE"])
        deadline = time.monotonic() + 60
        while not gate.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return {"paused": True}
"""


@pytest.fixture
def gate(harness, tmp_path, monkeypatch):  # noqa: F811
    """The first hook of baseline->switched waits for the gate file: whoever holds the lock
    stays inside its run until the test opens the gate."""
    (tmp_path / "hooks" / "verify_consumers_paused.py").write_text(GATED_HOOK)
    entered, opened = tmp_path / "entered", tmp_path / "gate"
    monkeypatch.setenv("ENGINE_TEST_ENTERED", str(entered))
    monkeypatch.setenv("ENGINE_TEST_GATE", str(opened))

    class Gate:
        def wait_until_entered(self, outcomes: dict, seconds: float = 30) -> None:
            deadline = time.monotonic() + seconds
            while not entered.exists():
                assert time.monotonic() < deadline, f"no run reached its first hook: {outcomes}"
                time.sleep(0.05)

        def open(self) -> None:
            opened.write_text("open")

    yield Gate()
    opened.write_text("open")  # never leave a run waiting


def lease(dynamodb, lock_table: str, migration: str, **fields) -> None:
    item = {
        "lock_id": {"S": f"migration#{migration}"},
        "owner": {"S": "ops@ci-7:4242"},
        "host": {"S": "ci-7.example.internal"},
        "pid": {"N": "4242"},
        "run_id": {"S": "remote-run"},
        "started_at": {"N": f"{time.time() - 600:.3f}"},
        "expires_at": {"N": f"{time.time() + 600:.3f}"},
    }
    item.update({key: value for key, value in fields.items()})
    dynamodb.put_item(TableName=lock_table, Item=item)


def test_two_operators_at_once_exactly_one_proceeds_the_other_changes_nothing(
    harness,  # noqa: F811
    gate,
    tables,  # noqa: F811
):
    engines = [harness.engine(), harness.engine()]
    start = threading.Barrier(2)
    outcomes: dict[int, object] = {}

    def operator(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = engines[index].run("switched")
        except Exception as problem:
            outcomes[index] = problem

    threads = [threading.Thread(target=operator, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    gate.wait_until_entered(outcomes)
    deadline = time.monotonic() + 30
    while len(outcomes) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    refused = [o for o in outcomes.values() if isinstance(o, LockHeld)]
    assert len(refused) == 1, f"the second operator was not refused while the first ran: {outcomes}"
    store = engines[0].store
    journal_while_held = store.read_journal(newest_first=False)
    gate.open()
    for thread in threads:
        thread.join(60)
    reports = [o for o in outcomes.values() if not isinstance(o, Exception)]
    assert len(reports) == 1 and reports[0].end_phase == "switched", outcomes

    message = str(refused[0])
    assert "locked by" in message and " since " in message and "UTC" in message, message
    assert "Nothing was changed" in message and "\n" not in message
    assert harness.applied == ["baseline->switched:route-to-new"], "one apply, by the winner"
    run_ids = {entry["run_id"] for entry in store.read_journal()}
    assert run_ids == {reports[0].run_id}, f"the refused operator journaled something: {run_ids}"
    assert {e["run_id"] for e in journal_while_held} == {reports[0].run_id}
    assert store.load().phase == "switched"


def test_a_stale_lock_of_a_dead_holder_on_another_host_is_taken_over_after_expiry_and_journaled(
    harness,  # noqa: F811
    tables,  # noqa: F811
    spec,  # noqa: F811
):
    dynamodb, _, lock_table = tables
    lease(dynamodb, lock_table, spec.migration, expires_at={"N": f"{time.time() - 5:.3f}"})
    engine = harness.engine()
    assert engine.run("switched").end_phase == "switched"
    [taken] = [e for e in engine.store.read_journal() if e["action"] == "taken-over"]
    assert taken["details"]["previous_holder"]["run_id"] == "remote-run"
    assert taken["details"]["previous_holder"]["host"] == "ci-7.example.internal"
    assert "expired" in taken["details"]["reason"]
    assert engine.lock.holder() is None, "released at the end of the run"


def test_an_unexpired_lock_on_another_host_is_never_taken_over(
    harness,  # noqa: F811
    tables,  # noqa: F811
    spec,  # noqa: F811
):
    dynamodb, _, lock_table = tables
    lease(dynamodb, lock_table, spec.migration, pid={"N": "999999"})  # no such pid here either
    before = dynamodb.scan(TableName=lock_table)["Items"]
    with pytest.raises(LockHeld, match=r"locked by ops@ci-7:4242 .*remote-run.* since "):
        harness.engine().run("switched")
    assert dynamodb.scan(TableName=lock_table)["Items"] == before
    assert harness.applied == []


class SharedClock:
    """True time for the test; each host sees it plus its own offset."""

    def __init__(self) -> None:
        self.now = time.time()

    def host(self, offset: float):
        return lambda: self.now + offset


@pytest.mark.parametrize("skew_fraction", [-0.49, 0.49], ids=["acquirer-behind", "acquirer-ahead"])
def test_skew_below_half_the_ttl_never_lets_a_second_host_take_a_renewed_lease(
    tables,  # noqa: F811
    spec,  # noqa: F811
    skew_fraction,
):
    dynamodb, _, lock_table = tables
    ttl = 60.0
    clock = SharedClock()
    holder = CutoverLock(dynamodb, lock_table, spec.migration, ttl, clock=clock.host(0))
    holder.acquire("holder-run")
    # The other host's clock runs ahead of the holder's (the dangerous direction) or behind it.
    other = CutoverLock(
        dynamodb, lock_table, spec.migration, ttl, clock=clock.host(abs(skew_fraction) * ttl)
    )
    if skew_fraction < 0:
        holder.clock = clock.host(abs(skew_fraction) * ttl)
        other.clock = clock.host(0)
    try:
        # Half an hour of a live run in 5 s ticks: the holder's heartbeat renews every TTL/4, and
        # every fifth renewal is late by another TTL/4 (a slow call); the other host tries on
        # every tick, each time before the renewal due at that tick.
        period = int(ttl / 4 / 5)
        renewals = 0
        for tick in range(1, 361):
            clock.now += 5
            with pytest.raises(LockHeld):
                other.acquire(f"other-{tick}")
            if tick % period == 0:
                renewals += 1
                if renewals % 5 != 0:
                    holder.renew()
        assert holder.holder().run_id == "holder-run"
        holder.check()  # still ours
    finally:
        holder.release()


def test_skew_beyond_the_bound_is_caught_by_the_holders_next_renewal(tables, spec):  # noqa: F811
    """Past the documented bound a skewed host can take a live lease; the conditional writes
    then stop the first run at its next renewal or step instead of letting both continue."""
    dynamodb, _, lock_table = tables
    ttl = 60.0
    clock = SharedClock()
    holder = CutoverLock(dynamodb, lock_table, spec.migration, ttl, clock=clock.host(0))
    holder.acquire("holder-run")
    far_ahead = CutoverLock(dynamodb, lock_table, spec.migration, ttl, clock=clock.host(1.5 * ttl))
    try:
        previous = far_ahead.acquire("skewed-run")
        assert previous is not None and previous.run_id == "holder-run"
        assert "expired" in (far_ahead.takeover_reason or "")
        with pytest.raises(LockLost):
            holder.renew()
        with pytest.raises(LockLost):
            holder.check()
    finally:
        far_ahead.release()


def test_two_hosts_taking_over_the_same_expired_lease_only_one_succeeds(
    tables,  # noqa: F811
    spec,  # noqa: F811
):
    """Both judged the same dead lease; the takeover is conditional on exactly that lease."""
    dynamodb, _, lock_table = tables
    lease(dynamodb, lock_table, spec.migration, expires_at={"N": f"{time.time() - 30:.3f}"})
    first = CutoverLock(dynamodb, lock_table, spec.migration, 60)
    second = CutoverLock(dynamodb, lock_table, spec.migration, 60)
    stale_judgement = second.holder()
    first.acquire("first-run")
    second.holder = lambda: stale_judgement  # it read the lease before `first` took it over
    try:
        with pytest.raises(LockHeld, match="changed while this run judged it"):
            second.acquire("second-run")
        assert first.holder().run_id == "first-run"
        first.check()
    finally:
        first.release()


def test_a_lock_held_by_a_live_process_on_this_host_is_not_taken_over(
    tables,  # noqa: F811
    spec,  # noqa: F811
):
    dynamodb, _, lock_table = tables
    lease(
        dynamodb,
        lock_table,
        spec.migration,
        host={"S": __import__("socket").gethostname()},
        pid={"N": str(os.getpid())},
    )
    with pytest.raises(LockHeld):
        CutoverLock(dynamodb, lock_table, spec.migration, 60).acquire("mine")
    dynamodb.delete_item(
        TableName=lock_table, Key={"lock_id": {"S": f"migration#{spec.migration}"}}
    )
