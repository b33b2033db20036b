"""`turnout verify` on the emulator: a "new" stream and an "old" copy written the way the
replicator writes (same data bytes and partition key, per-key order), once clean and once with a
deleted, a duplicated, a reordered and an extra record planted. Real boto3 over HTTP; the
replicator itself is not deployed (its copying is tested in test_replication_acceptance.py)."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest
from hooks_kit import context, create_state_table, create_streams, make_spec, run_hook

from turnout.aws.access import AwsAccess
from turnout.cli import main
from turnout.engine.state import MigrationState, StateStore
from turnout.hooks import HookFailed
from turnout.spec.names import control_plane
from turnout.verify.run import CLOCK_MARGIN_SECONDS as CLOCK_MARGIN
from turnout.verify.run import VerifyOptions, since_window, verify

pytestmark = pytest.mark.integration

KEYS = 30
PER_KEY = 10


def put_in_order(kinesis, stream: str, records: list[tuple[str, bytes]]) -> None:
    for start in range(0, len(records), 500):
        chunk = records[start : start + 500]
        response = kinesis.put_records(
            StreamName=stream, Records=[{"PartitionKey": key, "Data": data} for key, data in chunk]
        )
        assert response.get("FailedRecordCount", 0) == 0


def read_in_order(kinesis, stream: str) -> list[tuple[str, bytes]]:
    """Every record, shard after shard, each shard in sequence order (per-key order holds)."""
    found = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            found.extend((record["PartitionKey"], record["Data"]) for record in page["Records"])
            iterator = page.get("NextShardIterator")
            if not page["Records"]:
                break
    return found


def replicated_pair(emulator, plant=None):
    """A spec whose new stream holds KEYS x PER_KEY records and whose old stream holds their
    copy (after `plant` edited the list of copies). Returns (spec, since)."""
    spec = make_spec(emulator, shards=2)
    create_streams(emulator, spec, "new")
    create_streams(emulator, spec, "old")
    stream = spec.streams[0]
    since = time.time() - 1
    produced = [
        (f"user-{key}", f'{{"key": {key}, "n": {n}}}'.encode())
        for n in range(PER_KEY)
        for key in range(KEYS)
    ]
    put_in_order(emulator.client("kinesis", "new"), stream.name_in("new"), produced)
    copies = read_in_order(emulator.client("kinesis", "new"), stream.name_in("new"))
    if plant:
        plant(copies)
    put_in_order(emulator.client("kinesis", "old"), stream.name_in("old"), copies)
    time.sleep(0.01)
    return spec, since


def run_verify(emulator, spec, since, **options):
    aws = AwsAccess.for_emulator(spec, emulator)
    return verify(spec, aws, since_window(since), VerifyOptions(grace_seconds=0, **options))


def index_of(copies, key: str, n: int) -> int:
    return copies.index((key, f'{{"key": {key.split("-")[1]}, "n": {n}}}'.encode()))


def plant_faults(copies: list) -> None:
    del copies[index_of(copies, "user-1", 4)]  # deleted
    duplicate = index_of(copies, "user-2", 6)
    copies.insert(duplicate + 1, copies[duplicate])  # duplicated
    first, second = index_of(copies, "user-3", 2), index_of(copies, "user-3", 3)
    copies[first], copies[second] = copies[second], copies[first]  # reordered
    copies.append(("user-4", b"never produced"))  # extra


def test_a_clean_replica_passes(emulator):
    spec, since = replicated_pair(emulator)
    report = run_verify(emulator, spec, since)
    document = report.document
    assert report.passed and report.exit_code == 0
    counts = document["streams"]["events"]["records"]
    assert counts["new"] == counts["old"] == counts["matched"] == KEYS * PER_KEY
    assert document["streams"]["events"]["keys"] == KEYS
    assert len(document["streams"]["events"]["new"]["shards"]) == 2
    efo = run_verify(emulator, spec, since, efo=True).document
    assert efo["passed"] and efo["reader"]["mode"] == "polling"
    assert any("not available" in note for note in efo["notes"]), "no silent EFO"


def test_a_deleted_a_duplicated_a_reordered_and_an_extra_record_are_each_found(emulator):
    spec, since = replicated_pair(emulator, plant_faults)
    report = run_verify(emulator, spec, since)
    assert not report.passed and report.exit_code == 1
    stream = report.document["streams"]["events"]
    counts = stream["records"]
    assert (counts["missing"], counts["duplicated"], counts["reordered"], counts["extra"]) == (
        1,
        1,
        1,
        1,
    )
    found = {(finding["kind"], finding["key"]) for finding in stream["findings"]}
    assert found == {
        ("missing", "user-1"),
        ("duplicated", "user-2"),
        ("reordered", "user-3"),
        ("extra", "user-4"),
    }
    assert stream["keys_with_problems"] == 4
    assert sum(shard["problems"] for shard in stream["old"]["shards"].values()) == 3
    assert "never produced" not in json.dumps(report.document), "payloads are never printed"


def test_a_sample_checks_a_deterministic_subset_of_keys_on_both_sides(emulator):
    spec, since = replicated_pair(emulator, plant_faults)
    report = run_verify(emulator, spec, since, sample=0.5)
    stream = report.document["streams"]["events"]
    assert report.document["sample"] == {"fraction": 0.5, "sampled": True}
    assert 0 < stream["keys"] < KEYS + 1
    assert stream["records"]["new"] == stream["records"]["matched"] + stream["records"]["missing"]


def test_young_records_without_a_copy_are_not_yet_replicated_not_missing(emulator):
    spec, since = replicated_pair(emulator)
    stream = spec.streams[0]
    put_in_order(
        emulator.client("kinesis", "new"), stream.name_in("new"), [("user-9", b"just now")]
    )
    aws = AwsAccess.for_emulator(spec, emulator)
    report = verify(spec, aws, since_window(since), VerifyOptions(grace_seconds=30))
    counts = report.document["streams"]["events"]["records"]
    assert report.passed and counts["not_yet_replicated"] == 1 and counts["missing"] == 0
    strict = verify(spec, aws, since_window(since), VerifyOptions(grace_seconds=0))
    assert not strict.passed and strict.document["streams"]["events"]["records"]["missing"] == 1


def test_the_commit_gate_hook_fails_listing_the_problems_and_passes_a_clean_replica(emulator):
    spec, since = replicated_pair(emulator, plant_faults)
    since_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since - 1))
    with pytest.raises(HookFailed) as failed:
        run_hook(
            "verify_replication_complete",
            {"since": since_text, "grace_seconds": 0},
            context(emulator, spec),
        )
    message = str(failed.value)
    for words in ("1 missing", "1 extra", "1 duplicated", "1 reordered", "user-1"):
        assert words in message
    clean, clean_since = replicated_pair(emulator)
    data = run_hook(
        "verify_replication_complete",
        {"since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(clean_since - 1))},
        context(emulator, clean),
    )
    assert data["passed"] and data["totals"]["matched"] == KEYS * PER_KEY


def test_the_command_takes_its_window_from_the_journal_and_exits_1_on_problems(
    emulator, monkeypatch, capsys
):
    spec = make_spec(emulator, shards=2)
    control = control_plane(spec)
    environment = control.environment
    state_table = control.state_table
    dynamodb = emulator.client("dynamodb", environment)
    create_state_table(dynamodb, state_table)
    store = StateStore(dynamodb, state_table, spec.migration)
    store.save(MigrationState(phase="new-live", version=0), 0)
    for name in ("new", "old"):
        create_streams(emulator, spec, name)
    stream = spec.streams[0]
    # Before the switch, old traffic: outside the journal window, never compared.
    put_in_order(emulator.client("kinesis", "old"), stream.name_in("old"), [("a", b"pre-switch")])
    time.sleep(CLOCK_MARGIN + 0.5)
    store.journal("run-1", "step", "started", transition="baseline->switched", step="route-to-new")
    produced = [(f"k{n % 5}", f"event {n}".encode()) for n in range(50)]
    put_in_order(emulator.client("kinesis", "new"), stream.name_in("new"), produced)
    store.journal(
        "run-1", "step", "started", transition="switched->mirrored", step="replicate-new-to-old"
    )
    copies = read_in_order(emulator.client("kinesis", "new"), stream.name_in("new"))
    del copies[7]
    put_in_order(emulator.client("kinesis", "old"), stream.name_in("old"), copies)
    engine = SimpleNamespace(spec=spec, aws=AwsAccess.for_emulator(spec, emulator), store=store)
    monkeypatch.setattr("turnout.cli.inspect_commands.build_engine", lambda *a, **k: engine)
    assert main(["verify", "--json", "--grace-seconds", "0"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["window"]["source"] == "journal"
    counts = document["streams"]["events"]["records"]
    assert (counts["new"], counts["old"], counts["missing"], counts["extra"]) == (50, 49, 1, 0)
    assert main(["verify", "--grace-seconds", "0"]) == 1
    assert "verify FAILED" in capsys.readouterr().out


def test_duplicates_can_be_allowed_but_are_still_reported(emulator):
    def duplicate_one(copies: list) -> None:
        position = index_of(copies, "user-5", 0)
        copies.insert(position + 1, copies[position])

    spec, since = replicated_pair(emulator, duplicate_one)
    assert not run_verify(emulator, spec, since).passed
    allowed = run_verify(emulator, spec, since, allow_duplicates=True)
    assert allowed.passed and allowed.document["totals"]["duplicated"] == 1
