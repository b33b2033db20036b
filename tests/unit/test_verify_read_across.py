"""`turnout verify` in replication mode read-across (docs/read-across.md, "Verify") on in-memory
fakes: the cut is a marker in every open shard of the new streams, each old consumer must
acknowledge its own, and a switch older than a new stream's retention makes the proof refuse
(a record could have expired unread). Plus the journal window and the flags it refuses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from fakes_drain import PHYSICAL, STREAM, FakeClock, FakeDynamoDB, FakeKinesis, FakeLambda
from fakes_drain import make_spec as make_drain_spec

from turnout.drain.read_across_proof import proof_text, prove_read_across
from turnout.verify.run import (
    VerifyError,
    VerifyOptions,
    check_read_across_flags,
    switch_from_journal,
)

NEW_NAME = "clicks-new"
NEW_ARN = f"arn:aws:kinesis:eu-west-1:222222222222:stream/{NEW_NAME}"
OLD_ARN = f"arn:aws:kinesis:eu-west-1:111111111111:stream/{PHYSICAL}"
CONSUMER = {
    "kind": "lambda",
    "function_name": "fn",
    "streams": [STREAM],
    "drain_evidence": "markers",
}
HOUR = 3600.0


class Accounts:
    """`aws.client(environment, service)` over the fakes: Kinesis of new, the rest of old."""

    def __init__(self, clock: FakeClock, across_state: str = "Enabled") -> None:
        self.old_kinesis = FakeKinesis(clock)
        self.old_kinesis.create(PHYSICAL, 1)
        self.new_kinesis = FakeKinesis(clock, account="222222222222")
        self.new_kinesis.create(NEW_NAME, 2)
        self.new_kinesis.add(NEW_NAME, "shardId-000000000000", "written after the switch")
        self.old_ddb = FakeDynamoDB()
        self.old_ddb.create("o-turnout-markers", "marker_id")
        self.old_lambda = FakeLambda()
        self.old_lambda.add("own", "fn", OLD_ARN, "Disabled")
        self.old_lambda.add("across", "fn", NEW_ARN, across_state)

    def client(self, environment: str, service: str):
        if environment == "new":
            return {"kinesis": self.new_kinesis}[service]
        return {"kinesis": self.old_kinesis, "dynamodb": self.old_ddb, "lambda": self.old_lambda}[
            service
        ]

    def acknowledge_markers(self, consumer: str = "fn") -> int:
        count = 0
        for shard in self.new_kinesis.streams[NEW_NAME]:
            for record in shard.records:
                marker = record["Data"].startswith(b"{") and json.loads(record["Data"]).get(
                    "turnout_marker"
                )
                if marker:
                    self.old_ddb.put(
                        "o-turnout-markers", {"marker_id": marker["id"], "consumer": consumer}
                    )
                    count += 1
        return count


def prove(accounts: Accounts, clock: FakeClock, switched_at: float, sleep=None) -> dict:
    return prove_read_across(
        make_drain_spec([CONSUMER]),
        accounts,
        switched_at,
        timeout_seconds=30,
        poll_seconds=5,
        clock=clock.time,
        sleep=sleep or clock.sleep,
    )


def test_verify_read_across_passes_once_the_old_consumer_acknowledged_a_marker_in_every_shard():
    clock = FakeClock()
    accounts = Accounts(clock)
    acknowledged = []

    def consumer_catches_up(seconds: float) -> None:  # the old consumer reaches the markers
        clock.sleep(seconds)
        acknowledged.append(accounts.acknowledge_markers())

    document = prove(accounts, clock, clock.time() - 2 * HOUR, sleep=consumer_catches_up)
    assert acknowledged == [2]  # one marker per open shard of the NEW stream
    assert all(not shard.records for shard in accounts.old_kinesis.streams[PHYSICAL])
    assert document["passed"] and document["drained"]
    assert document["retention"][STREAM] == {
        "stream": NEW_NAME,
        "retention_hours": 24,
        "hours_since_switch": 2.0,
        "covered": True,
    }
    (consumer,) = document["consumers"]
    assert consumer["verdict"] == "drained" and consumer["drained_shards"] == 2
    assert "verify PASSED (replication mode read-across)" in proof_text(document)


def test_verify_read_across_fails_when_the_old_consumer_has_not_reached_the_cut_in_time():
    clock = FakeClock()
    accounts = Accounts(clock)
    document = prove(accounts, clock, clock.time() - 60)
    assert not document["passed"] and not document["drained"]
    (consumer,) = document["consumers"]
    assert consumer["verdict"] == "not_drained"
    assert {shard["reason"] for shard in consumer["shards"]} == {"marker not acknowledged yet"}
    assert clock.now - 1_700_000_000.0 >= 30  # it waited its whole timeout
    text = proof_text(document)
    assert text.startswith("verify FAILED") and "did NOT prove" in text


def test_verify_read_across_acknowledged_by_another_consumer_is_no_proof():
    clock = FakeClock()
    accounts = Accounts(clock)

    def someone_else_acknowledges(seconds: float) -> None:
        clock.sleep(seconds)
        accounts.acknowledge_markers(consumer="another-function")

    document = prove(accounts, clock, clock.time() - 60, sleep=someone_else_acknowledges)
    assert not document["passed"]
    assert document["consumers"][0]["verdict"] == "not_drained"


def test_verify_read_across_with_a_disabled_mapping_is_unknown_never_passed():
    clock = FakeClock()
    accounts = Accounts(clock, across_state="Disabled")
    document = prove(accounts, clock, clock.time() - 60)
    assert not document["passed"]
    assert document["consumers"][0]["verdict"] == "unknown"


def test_verify_read_across_refuses_a_switch_older_than_the_new_streams_retention():
    """Acknowledged markers prove nothing about records that may have expired unread: the
    mappings retry until expiry, and expiry is the one way past a record."""
    clock = FakeClock()
    accounts = Accounts(clock)
    accounts.new_kinesis.retention_hours = 24

    def consumer_catches_up(seconds: float) -> None:
        clock.sleep(seconds)
        accounts.acknowledge_markers()

    document = prove(accounts, clock, clock.time() - 25 * HOUR, sleep=consumer_catches_up)
    assert document["drained"] and not document["passed"]
    assert document["retention"][STREAM]["covered"] is False
    assert "may have EXPIRED unread" in proof_text(document)
    accounts.new_kinesis.retention_hours = 48  # raised retention covers the same switch
    again = prove(accounts, clock, clock.time() - 25 * HOUR, sleep=consumer_catches_up)
    assert again["passed"]


class Journal:
    def __init__(self, phase: str, steps: list[tuple[str, str]]) -> None:
        self.phase = phase
        self.entries = [
            {
                "kind": "step",
                "action": "started",
                "at": f"2026-11-30T2{index}:00:00+00:00",
                "details": {"transition": transition, "step": step},
            }
            for index, (transition, step) in enumerate(steps)
        ]

    def load(self):
        return SimpleNamespace(phase=self.phase)

    def read_journal(self, newest_first: bool = True):
        return list(reversed(self.entries)) if newest_first else list(self.entries)


READ_ACROSS_STEPS = [
    ("baseline->switched", "route-to-new"),
    ("switched->mirrored", "old-consumers-read-new"),
]


def test_verify_read_across_takes_the_switch_from_the_journal_in_mirrored_and_new_live():
    for phase in ("mirrored", "new-live"):
        switched = switch_from_journal(Journal(phase, READ_ACROSS_STEPS))
        flipped = datetime(2026, 11, 30, 20, tzinfo=UTC).timestamp()
        assert switched == flipped - 5.0  # the route-to-new step's start, minus the clock margin


@pytest.mark.parametrize(
    ("phase", "steps", "says"),
    [
        ("switched", READ_ACROSS_STEPS[:1], "the live phase is 'switched'"),
        ("committed", READ_ACROSS_STEPS, "mirrored and new-live only"),
        ("mirrored", READ_ACROSS_STEPS[:1], "(not recorded there)"),
    ],
)
def test_verify_read_across_outside_mirrored_and_new_live_is_one_paragraph(phase, steps, says):
    with pytest.raises(VerifyError) as refused:
        switch_from_journal(Journal(phase, steps))
    message = str(refused.value)
    assert says in message and "--since" in message and "\n" not in message


def test_verify_read_across_refuses_the_copy_comparisons_flags_by_name():
    check_read_across_flags(VerifyOptions(), grace_given=False)  # the defaults pass
    with pytest.raises(VerifyError) as refused:
        check_read_across_flags(VerifyOptions(sample=0.5, efo=True), grace_given=True)
    message = str(refused.value)
    assert message.startswith("--sample, --efo, --grace-seconds: ")
    assert "replication.mode is read-across" in message and "Nothing was read" in message
