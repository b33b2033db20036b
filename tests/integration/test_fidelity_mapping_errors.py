"""Event source mapping semantics where records can be skipped or reordered: concurrent batches
per shard (ParallelizationFactor), records discarded past MaximumRecordAgeInSeconds with AWS's
metadata record sent to the on-failure destination, and the idle polling rate. Each check runs
with the behaviour on and again with it switched off, where it must fail. (MaximumRetryAttempts
and BisectBatchOnFunctionError: tests/integration/test_lambda_runtime.py.)"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator

import pytest

from turnout.sandbox.emulator.launcher import Emulator
from turnout.sandbox.emulator.profile import AWS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

REGION = "eu-west-1"
# One simulated minute per real second.
CLOCK_RATE = 60.0
# Ten simulated minutes: the failing records age out after ten real seconds, and the good record
# written after them has as long to be processed before it too would be discarded. (AWS's minimum,
# 60 s, left the good record one real second, which a loaded CI machine overran: it was discarded
# as well and never processed.)
MAX_RECORD_AGE = 600


@pytest.fixture(scope="module")
def minute_clock_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    emu = Emulator(
        tmp_path_factory.mktemp("minute-clock-emulator"),
        region=REGION,
        profile=AWS.with_changes(clock_rate=CLOCK_RATE),
    ).start()
    yield emu
    emu.stop()


# --------------------------------------------------------------------------- parallelization
def _parallel_run(kit, factor: int) -> tuple[list[dict], list[str], dict, str]:
    """32 records of 8 keys on one shard, batches of 4, each invocation 0.4 s."""
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table, env={"SLEEP": "0.4"})
    entries = [
        {"Data": f"key{k}:{n}".encode(), "PartitionKey": f"key{k}"}
        for n in range(4)
        for k in range(8)
    ]
    answer = kit.client("kinesis").put_records(StreamARN=stream, Records=entries)
    assert answer["FailedRecordCount"] == 0
    last = answer["Records"][-1]["SequenceNumber"]
    uuid = kit.mapping("old", fn, stream, BatchSize=4, ParallelizationFactor=factor)
    runtime = kit.runtime()
    with runtime:
        kit.wait_for(lambda: len(kit.processed(table)) >= len(entries), 60)
        kit.wait_for(lambda: runtime.mapping_positions(uuid).get("shardId-000000000000") == last)
        positions = runtime.mapping_positions(uuid)
    return kit.invocations(table), [e["Data"].decode() for e in entries], positions, last


def _check_parallel_batches(kit, factor: int) -> None:
    invocations, written, positions, last = _parallel_run(kit, factor)
    assert all(i["outcome"] == "ok" for i in invocations)
    assert sorted(d for i in invocations for d in i["datas"]) == sorted(written), "each once"
    assert positions == {"shardId-000000000000": last}, "the checkpoint covers every record"
    per_key: dict[str, list[int]] = {}
    for invocation in invocations:  # ordered by start
        for data in invocation["datas"]:
            key, n = data.split(":")
            per_key.setdefault(key, []).append(int(n))
    assert all(ns == [0, 1, 2, 3] for ns in per_key.values()), f"order per key: {per_key}"
    overlapping = 0
    for a, b in itertools.combinations(invocations, 2):
        if a["start"] < b["end"] and b["start"] < a["end"]:
            keys_a = {d.split(":")[0] for d in a["datas"]}
            keys_b = {d.split(":")[0] for d in b["datas"]}
            assert not keys_a & keys_b, "one key in two concurrent batches"
            overlapping += 1
    most = max(
        sum(1 for i in invocations if i["start"] <= a["start"] < i["end"]) for a in invocations
    )
    assert most <= factor, f"{most} concurrent batches with ParallelizationFactor {factor}"
    assert overlapping > 0, "no two batches of the shard ran at the same time"


def test_parallelization_factor_runs_concurrent_batches_per_shard_keeping_key_order(
    emulator, lambda_kit_for
):
    """ParallelizationFactor N: up to N batches of one shard are processed at once, and the
    records of one partition key are still processed in order, never in two concurrent
    batches; the shard's checkpoint covers every record at the end. With a factor of 1 (the
    behaviour switched off) no two batches of the shard overlap, and the check fails.
    https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html
    (ParallelizationFactor: "the number of batches to process from each shard concurrently")
    https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html ("Lambda still ensures
    in-order processing at the partition-key level")"""
    _check_parallel_batches(lambda_kit_for(emulator), 4)
    with pytest.raises(AssertionError, match="no two batches"):
        _check_parallel_batches(lambda_kit_for(emulator), 1)


# --------------------------------------------------------------------------- record age
def _aged_records_run(kit, max_age: int, settle_seconds: float) -> tuple[list[str], str, list]:
    """Two records the function always fails on, then a good one; retries are unlimited."""
    table = kit.table()
    stream = kit.stream()
    queue_url, queue_arn = kit.queue()
    fn = kit.function(table=table, env={"MODE": "raise", "FAIL_TIMES": "-1"})
    failing = kit.put(stream, ["FAIL-a", "FAIL-b"])
    uuid = kit.mapping(
        "old",
        fn,
        stream,
        BatchSize=10,
        MaximumRecordAgeInSeconds=max_age,
        MaximumRetryAttempts=-1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    runtime = kit.runtime()
    with runtime:
        kit.wait_for(
            lambda: runtime.mapping_positions(uuid).get("shardId-000000000000") == failing[-1],
            settle_seconds,
        )
        kit.put(stream, ["ok-c"])
        kit.wait_for(lambda: kit.processed(table) == ["ok-c"], 60)  # 20 s was short on CI
    messages = kit.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    return failing, stream, [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_records_older_than_maximum_record_age_are_discarded_with_metadata_to_the_destination(
    minute_clock_emulator, lambda_kit_for
):
    """MaximumRecordAgeInSeconds: records older than that (on the sandbox clock, here one
    simulated minute per second) are discarded although retries are unlimited, the shard moves
    on, and the on-failure destination receives AWS's metadata record (no record data).
    Switched off (-1, "Lambda doesn't discard records") the failing records block the shard.
    https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
    https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html"""
    failing, stream, messages = _aged_records_run(
        lambda_kit_for(minute_clock_emulator), MAX_RECORD_AGE, 60
    )
    assert messages, "no metadata record reached the destination"
    first = messages[0]
    assert set(first) == {
        "requestContext",
        "responseContext",
        "version",
        "timestamp",
        "KinesisBatchInfo",
    }
    assert first["requestContext"]["condition"] == "RecordAgeExceeded"
    assert "FAIL" not in json.dumps(messages), "metadata only"
    discarded = [
        (m["KinesisBatchInfo"]["startSequenceNumber"], m["KinesisBatchInfo"]["endSequenceNumber"])
        for m in messages
    ]
    assert discarded == [(failing[0], failing[-1])]
    assert messages[0]["KinesisBatchInfo"]["streamArn"] == stream
    with pytest.raises(AssertionError, match="not reached"):
        _aged_records_run(lambda_kit_for(minute_clock_emulator), -1, 4)


# --------------------------------------------------------------------------- idle polling
def _get_records_calls(emu: Emulator) -> int:
    return int(emu.status().get("requests", {}).get("kinesis GetRecords", 0))


def _idle_polls_per_shard_second(kit, poll_interval: float) -> float:
    table = kit.table()
    stream = kit.stream(shards=2)
    fn = kit.function(table=table)
    uuid = kit.mapping("old", fn, stream)
    runtime = kit.runtime(poll_interval=poll_interval)
    with runtime:
        kit.wait_for(lambda: len(runtime.mapping_positions(uuid)) == 2, 20)
        time.sleep(1.0)
        before, started = _get_records_calls(kit.emu), time.monotonic()
        time.sleep(6.0)
        calls = _get_records_calls(kit.emu) - before
        seconds = time.monotonic() - started
    return calls / 2 / seconds


def test_an_idle_shard_is_polled_about_once_a_second(emulator, lambda_kit_for):
    """With nothing to read, the runtime reads each shard about once a second (the sandbox's
    poll interval, AWS's base rate), leaving the shard's other 4 reads a second to the other
    consumers. A runtime polling as fast as it can (switched off) fails the check.
    https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html ("Lambda polls each shard
    in your Kinesis stream for records at a base rate of once per second")"""
    rate = _idle_polls_per_shard_second(lambda_kit_for(emulator), 1.0)
    assert 0.6 <= rate <= 1.3, f"{rate:.2f} GetRecords calls per idle shard and second"
    assert _idle_polls_per_shard_second(lambda_kit_for(emulator), 0.05) > 1.3
