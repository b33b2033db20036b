"""The local Lambda runtime against the emulator (real moto server over HTTP, real boto3):
one test per semantic point of AWS's Kinesis event source mappings."""

from __future__ import annotations

import base64
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from turnout.sandbox.lambda_runtime.checkpoints import CheckpointStore
from turnout.sandbox.lambda_runtime.poller import ShardReader

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _ok_batches(kit, table, account="old"):
    return [inv["seqs"] for inv in kit.invocations(table, account) if inv["outcome"] == "ok"]


def test_trim_horizon_delivers_every_record_in_aws_event_format(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table, timeout=7)
    seqs = kit.put(stream, [f"r{i}" for i in range(7)])
    kit.mapping("old", fn, stream, StartingPosition="TRIM_HORIZON", BatchSize=100)
    with kit.runtime():
        kit.wait_for(lambda: len(kit.processed(table)) == 7)
    inv = kit.invocations(table)
    assert kit.processed(table) == [f"r{i}" for i in range(7)]
    first = inv[0]["first"]
    assert set(first) == {
        "kinesis",
        "eventSource",
        "eventVersion",
        "eventID",
        "eventName",
        "invokeIdentityArn",
        "awsRegion",
        "eventSourceARN",
    }
    assert first["kinesis"]["kinesisSchemaVersion"] == "1.0"
    assert first["kinesis"]["partitionKey"] == "k"
    assert first["kinesis"]["sequenceNumber"] == seqs[0]
    assert base64.b64decode(first["kinesis"]["data"]) == b"r0"
    assert abs(first["kinesis"]["approximateArrivalTimestamp"] - time.time()) < 120
    assert first["eventSource"] == "aws:kinesis"
    assert first["eventVersion"] == "1.0"
    assert first["eventName"] == "aws:kinesis:record"
    assert first["eventID"] == f"shardId-000000000000:{seqs[0]}"
    assert first["invokeIdentityArn"] == kit.role("old")
    assert first["awsRegion"] == "eu-west-1"
    assert first["eventSourceARN"] == stream
    assert inv[0]["function"] == fn.split(":")[-1]
    assert inv[0]["arn"] == fn
    assert 0 < inv[0]["remaining_ms"] <= 7000


def test_batch_size_limits_each_invocation(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table)
    seqs = kit.put(stream, [f"r{i}" for i in range(12)])
    kit.mapping("old", fn, stream, BatchSize=5)
    with kit.runtime():
        kit.wait_for(lambda: len(kit.processed(table)) == 12)
    assert _ok_batches(kit, table) == [seqs[0:5], seqs[5:10], seqs[10:12]]


def test_batching_window_gathers_records_until_it_expires(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table)
    # A 5 s window and a second put 0.6 s after the first: a busy machine may delay the second
    # put by a few seconds and still leave it inside the window.
    uuid = kit.mapping("old", fn, stream, BatchSize=100, MaximumBatchingWindowInSeconds=5)
    rt = kit.runtime()
    with rt:
        kit.wait_for(lambda: uuid in rt.running_mappings())
        t0 = time.time()
        kit.put(stream, ["a0", "a1", "a2"])
        time.sleep(0.6)
        kit.put(stream, ["a3", "a4"])
        kit.wait_for(lambda: len(kit.processed(table)) == 5)
    inv = kit.invocations(table)
    assert [i["datas"] for i in inv] == [["a0", "a1", "a2", "a3", "a4"]]
    assert inv[0]["start"] - t0 >= 4.8  # the window (5 s) ran out; the batch was not full


def test_starting_position_latest_skips_records_before_the_mapping(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table)
    kit.put(stream, ["old0", "old1"])
    time.sleep(0.05)
    uuid = kit.mapping("old", fn, stream, StartingPosition="LATEST")
    rt = kit.runtime()
    with rt:
        kit.wait_for(lambda: uuid in rt.running_mappings())
        kit.put(stream, ["new0", "new1"])
        kit.wait_for(lambda: len(kit.processed(table)) >= 2)
        time.sleep(0.3)
    assert kit.processed(table) == ["new0", "new1"]


def test_starting_position_at_timestamp_starts_at_that_time(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table)
    kit.put(stream, ["before0", "before1"])
    time.sleep(0.3)
    at = time.time()
    time.sleep(0.3)
    kit.put(stream, ["after0", "after1"])
    kit.mapping("old", fn, stream, StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=at)
    with kit.runtime():
        kit.wait_for(lambda: len(kit.processed(table)) >= 2)
        time.sleep(0.3)
    assert kit.processed(table) == ["after0", "after1"]


def test_checkpoint_advances_only_on_success(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table, env={"MODE": "raise", "FAIL_TIMES": "-1"})
    seqs = kit.put(stream, ["r0", "r1", "r2", "FAIL-r3", "r4", "r5"])
    uuid = kit.mapping("old", fn, stream, BatchSize=3)
    rt = kit.runtime()
    with rt:
        kit.wait_for(lambda: sum(i["outcome"] == "error" for i in kit.invocations(table)) >= 3)
        assert rt.mapping_positions(uuid) == {"shardId-000000000000": seqs[2]}
    # The failing batch was retried whole and never checkpointed.
    inv = kit.invocations(table)
    assert inv[0]["seqs"] == seqs[0:3] and inv[0]["outcome"] == "ok"
    assert all(i["seqs"] == seqs[3:6] and i["outcome"] == "error" for i in inv[1:])
    state_dir = rt.state_dir
    assert CheckpointStore(state_dir).shard(uuid, "shardId-000000000000")["checkpoint"] == seqs[2]
    # Fix the function (a configuration change replaces the worker): the same batch succeeds.
    kit.client("lambda").update_function_configuration(
        FunctionName=fn, Environment={"Variables": {"TABLE": table, "MODE": "ok"}}
    )
    rt2 = kit.runtime(state_dir)
    with rt2:
        kit.wait_for(lambda: rt2.mapping_positions(uuid) == {"shardId-000000000000": seqs[5]})
    assert kit.processed(table) == ["r0", "r1", "r2", "FAIL-r3", "r4", "r5"]


def test_report_batch_item_failures_resumes_at_lowest_failed_record(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table, env={"MODE": "report", "FAIL_TIMES": "1"})
    datas = ["r0", "r1", "r2", "FAIL-r3", "r4", "r5", "FAIL-r6", "r7"]
    seqs = kit.put(stream, datas)
    uuid = kit.mapping(
        "old", fn, stream, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    rt = kit.runtime()
    with rt:
        kit.wait_for(lambda: rt.mapping_positions(uuid).get("shardId-000000000000") == seqs[-1])
    inv = kit.invocations(table)
    # First call reported r6 and r3 failed: Lambda checkpoints before r3 and retries from r3.
    assert [(i["seqs"], i["outcome"]) for i in inv] == [(seqs, "partial"), (seqs[3:], "ok")]


def test_malformed_batch_item_failures_fail_the_whole_batch(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table, env={"MODE": "malformed", "FAIL_TIMES": "1"})
    seqs = kit.put(stream, ["r0", "FAIL-r1", "r2"])
    uuid = kit.mapping(
        "old", fn, stream, BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"]
    )
    rt = kit.runtime()
    with rt:
        kit.wait_for(lambda: rt.mapping_positions(uuid).get("shardId-000000000000") == seqs[-1])
    inv = kit.invocations(table)
    assert [(i["seqs"], i["outcome"]) for i in inv] == [(seqs, "malformed"), (seqs, "ok")]


def test_exhausted_retries_send_metadata_only_to_on_failure_destination(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    queue_url, queue_arn = kit.queue()
    fn = kit.function(table=table, env={"MODE": "raise", "FAIL_TIMES": "-1"})
    datas = ["secret-r0", "FAIL-secret-r1", "secret-r2", "r3", "r4"]
    seqs = kit.put(stream, datas)
    uuid = kit.mapping(
        "old",
        fn,
        stream,
        BatchSize=3,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    rt = kit.runtime()
    with rt:
        kit.wait_for(lambda: rt.mapping_positions(uuid).get("shardId-000000000000") == seqs[-1])
    inv = kit.invocations(table)
    assert [(i["seqs"], i["outcome"]) for i in inv] == [(seqs[:3], "error")] * 3 + [
        (seqs[3:], "ok")
    ]
    messages = kit.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)[
        "Messages"
    ]
    assert len(messages) == 1
    body = messages[0]["Body"]
    assert "secret" not in body and "FAIL" not in body  # metadata only
    msg = json.loads(body)
    assert set(msg) == {
        "requestContext",
        "responseContext",
        "version",
        "timestamp",
        "KinesisBatchInfo",
    }
    assert msg["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert msg["requestContext"]["functionArn"] == fn
    assert msg["requestContext"]["approximateInvokeCount"] == 3
    assert msg["responseContext"]["functionError"] == "Unhandled"
    info = msg["KinesisBatchInfo"]
    assert info["shardId"] == "shardId-000000000000"
    assert info["startSequenceNumber"] == seqs[0]
    assert info["endSequenceNumber"] == seqs[2]
    assert info["batchSize"] == 3
    assert info["streamArn"] == stream
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")
    assert info["approximateArrivalOfLastRecord"] >= info["approximateArrivalOfFirstRecord"]


def test_bisect_on_function_error_isolates_the_bad_record(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    queue_url, queue_arn = kit.queue()
    fn = kit.function(table=table, env={"MODE": "raise", "FAIL_TIMES": "-1"})
    datas = [f"r{i}" for i in range(8)]
    datas[5] = "FAIL-r5"
    seqs = kit.put(stream, datas)
    uuid = kit.mapping(
        "old",
        fn,
        stream,
        BatchSize=8,
        BisectBatchOnFunctionError=True,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    rt = kit.runtime()
    with rt:
        kit.wait_for(lambda: rt.mapping_positions(uuid).get("shardId-000000000000") == seqs[-1])
    inv = [(i["seqs"], i["outcome"]) for i in kit.invocations(table)]
    assert (
        inv
        == [
            (seqs[0:8], "error"),
            (seqs[0:4], "ok"),
            (seqs[4:8], "error"),
            (seqs[4:6], "error"),
            (seqs[4:5], "ok"),
            (seqs[5:6], "error"),  # a single record: now retries count (1 retry allowed)
            (seqs[5:6], "error"),
            (seqs[6:8], "ok"),
        ]
    )
    msgs = kit.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)
    (message,) = msgs["Messages"]
    info = json.loads(message["Body"])["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (
        seqs[5],
        seqs[5],
        1,
    )


def test_disabled_mapping_keeps_its_position_and_resumes_when_enabled(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table)
    first = kit.put(stream, ["r0", "r1", "r2"])
    uuid = kit.mapping("old", fn, stream)
    rt = kit.runtime()
    with rt:
        kit.wait_for(lambda: len(kit.processed(table)) == 3)
        kit.set_enabled("old", uuid, False)
        kit.wait_for(lambda: uuid not in rt.running_mappings())
        second = kit.put(stream, ["r3", "r4"])
        time.sleep(0.5)
        assert len(kit.processed(table)) == 3  # paused: nothing delivered
        assert rt.mapping_positions(uuid) == {"shardId-000000000000": first[-1]}
        kit.set_enabled("old", uuid, True)
        kit.wait_for(lambda: len(kit.processed(table)) == 5)
    assert _ok_batches(kit, table) == [first, second]  # resumed exactly after r2


def test_deleted_mapping_is_forgotten_and_a_new_one_starts_afresh(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table)
    lam = kit.client("lambda")
    seqs = kit.put(stream, ["r0", "r1", "r2"])
    uuid = kit.mapping("old", fn, stream)
    rt = kit.runtime()
    with rt:
        kit.wait_for(lambda: len(kit.processed(table)) == 3)
        lam.delete_event_source_mapping(UUID=uuid)
        kit.wait_for(lambda: rt.store.mapping(uuid) is None)
        uuid2 = kit.mapping("old", fn, stream, StartingPosition="TRIM_HORIZON")
        kit.wait_for(lambda: len(kit.processed(table)) == 6)
        assert rt.store.mapping_uuids() == [uuid2]
    assert _ok_batches(kit, table) == [seqs, seqs]


@pytest.mark.timeout(120)  # 7 s of trickle, then the shard polled once a second
def test_a_reader_at_the_shards_tip_polls_it_about_once_a_second(lambda_kit):
    """AWS polls a shard at a base rate of once per second
    (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html): a reader that reached the
    tip reads again a poll interval after that read, not as soon as its batch is handed over
    (which read a trickling shard twice a second, and made the emulator's busiest calls)."""
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table)
    kit.mapping("old", fn, stream, StartingPosition="TRIM_HORIZON", BatchSize=100)
    with kit.runtime(poll_interval=1.0):
        kit.put(stream, ["r0"])
        kit.wait_for(lambda: len(kit.processed(table)) == 1)
        before = kit.emu.status()["requests"].get("kinesis GetRecords", 0)
        started = time.monotonic()
        for i in range(1, 29):  # a record every 0.25 s for 7 s
            kit.put(stream, [f"r{i}"])
            time.sleep(0.25)
        kit.wait_for(lambda: len(kit.processed(table)) == 29)
        reads = kit.emu.status()["requests"].get("kinesis GetRecords", 0) - before
        seconds = time.monotonic() - started
    assert kit.processed(table) == [f"r{i}" for i in range(29)]
    assert reads <= seconds + 2, f"{reads} GetRecords in {seconds:.1f} s"
    assert kit.emu.status()["cpu_seconds"]["kinesis GetRecords"] > 0


def test_a_throttled_read_is_an_empty_read_at_once_and_loses_no_position(lambda_kit):
    """A shard serves 5 GetRecords a second to all its readers
    (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html); Lambda's
    poller reads again on its next poll. The runtime's read client does not retry inside
    botocore (which waited up to 2 s and held back the shard's next batch): reads back to
    back are as many requests, the throttled ones come back empty and counted, and the next read
    after them continues where the last one that succeeded left off."""
    kit = lambda_kit
    assert kit.emu.profile.shard_limits, "needs the aws profile's read limit"
    stream = kit.stream()
    kit.put(stream, ["r0"])
    rt = kit.runtime()
    kinesis = rt.client("kinesis", kit.emu.old_account_id, kit.emu.region, reads=True)
    requests: list[str] = []
    kinesis.meta.events.register(
        "before-send.kinesis.GetRecords", lambda **_: requests.append("GetRecords")
    )
    config = SimpleNamespace(batch_size=100, event_source_arn=stream)
    poller = SimpleNamespace(
        runner=SimpleNamespace(config=config), shard_id="shardId-000000000000", rt=rt
    )
    reader = ShardReader(poller, kinesis, None, {"type": "TRIM_HORIZON"})
    # The limit counts calls per calendar second, so ten reads that straddle a second's end
    # may meet only two throttles: read until five were throttled (bounded), whatever the load.
    reads: list[list[bytes]] = []
    while rt.stats["read_throttles"] < 5 and len(reads) < 200:
        reads.append([r["Data"] for r in reader.read(config)])
    assert len(requests) == len(reads), f"{len(requests)} requests for {len(reads)} reads"
    assert reads[0] == [b"r0"] and not any(reads[1:]), reads
    assert rt.stats["read_throttles"] >= 5, rt.stats
    kit.put(stream, ["r1"])
    time.sleep(1.2)  # the shard's next second of reads
    assert [r["Data"] for r in reader.read(config)] == [b"r1"]


def test_one_batch_in_flight_per_shard(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream(shards=2)
    fn = kit.function(table=table, env={"SLEEP": "0.15"})
    seqs = kit.put(stream, [f"r{i}" for i in range(8)], key="same-key")
    kit.mapping("old", fn, stream, BatchSize=2)
    with kit.runtime():
        kit.wait_for(lambda: len(kit.processed(table)) == 8)
    inv = kit.invocations(table)
    assert [i["seqs"] for i in inv] == [seqs[i : i + 2] for i in range(0, 8, 2)]
    for earlier, later in itertools.pairwise(inv):
        assert later["start"] >= earlier["end"], "two batches of one shard overlapped"


def _start_cli(kit, state_dir: Path, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with open(log.with_suffix(".err"), "ab") as err:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "turnout.sandbox.lambda_runtime",
                "--endpoint",
                kit.emu.endpoint_url,
                "--accounts",
                f"{kit.emu.old_account_id},{kit.emu.new_account_id}",
                "--regions",
                "eu-west-1",
                "--state-dir",
                str(state_dir),
                "--poll-interval",
                "0.05",
                "--refresh-interval",
                "0.2",
                "--log-file",
                str(log),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def test_killed_runtime_restarts_without_losing_records(lambda_kit, tmp_path):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table, env={"SLEEP": "0.05"})
    expected = [f"r{i}" for i in range(60)]
    kit.put(stream, expected[:40])
    kit.mapping("old", fn, stream, BatchSize=4)
    state_dir = tmp_path / "cli-state"
    log = tmp_path / "runtime.log"
    proc = _start_cli(kit, state_dir, log)
    try:
        kit.wait_for(lambda: len(kit.processed(table)) >= 8)
        assert (state_dir / "lambda-runtime.pid").read_text().strip() == str(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up or checkpoint
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    kit.put(stream, expected[40:])
    proc = _start_cli(kit, state_dir, log)
    try:
        kit.wait_for(lambda: set(kit.processed(table)) == set(expected), timeout=30)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    processed = kit.processed(table)
    assert set(processed) == set(expected)  # at-least-once: nothing lost
    # In order per shard, duplicates only where the kill interrupted (redelivered batches).
    firsts = [processed.index(x) for x in expected]
    assert firsts == sorted(firsts)
    assert not (state_dir / "lambda-runtime.pid").exists()
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # structured: JSON lines
    assert any(line["event"] == "batch_succeeded" for line in lines)
    assert any(line["event"] == "runtime_stopped" for line in lines)
    for data in expected:  # never a payload in the runtime's log
        assert f'"{data}"' not in text
        assert base64.b64encode(data.encode()).decode() not in text


def test_functions_in_each_account_read_their_own_streams(lambda_kit):
    kit = lambda_kit
    results = {}
    for account in ("old", "new"):
        table = kit.table(account, name=kit.name("shared-table"))
        stream = kit.stream(account, name=kit.name("shared-stream"))
        fn = kit.function(account, table=table, env={"WHOAMI": "1"}, name=kit.name("shared-fn"))
        kit.put(stream, [f"{account}-0", f"{account}-1"], account=account)
        kit.mapping(account, fn, stream)
        results[account] = (table, fn, stream)
    with kit.runtime():
        for account, (table, _, _) in results.items():
            kit.wait_for(lambda t=table, a=account: len(kit.processed(t, a)) == 2)
    for account, (table, fn, stream) in results.items():
        account_id = kit.emu.account_id(account)
        (inv,) = kit.invocations(table, account)
        assert inv["datas"] == [f"{account}-0", f"{account}-1"]
        assert inv["account"] == account_id  # the function's own calls land in its account
        assert inv["arn"] == fn and f":{account_id}:" in fn
        assert inv["first"]["eventSourceARN"] == stream and f":{account_id}:" in stream
        assert inv["first"]["invokeIdentityArn"].startswith(f"arn:aws:iam::{account_id}:")


def test_function_timeout_is_a_function_error_and_the_worker_restarts(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table, timeout=1, env={"MODE": "timeout", "FAIL_TIMES": "1"})
    seqs = kit.put(stream, ["FAIL-r0", "r1"])
    uuid = kit.mapping("old", fn, stream)
    rt = kit.runtime()
    with rt:
        kit.wait_for(lambda: rt.mapping_positions(uuid).get("shardId-000000000000") == seqs[-1])
    inv = kit.invocations(table)
    assert [(i["seqs"], i["outcome"]) for i in inv] == [(seqs, "timeout"), (seqs, "ok")]
    assert inv[1]["start"] - inv[0]["start"] >= 1.0


def test_updated_function_code_is_used_for_the_next_batch(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream()
    fn = kit.function(table=table)
    uuid = kit.mapping("old", fn, stream)
    rt = kit.runtime()
    with rt:
        kit.put(stream, ["r0"])
        kit.wait_for(lambda: kit.processed(table) == ["r0"])
        new_source = kit.recorder_source.replace(
            '"function": {"S": context.function_name}',
            '"function": {"S": "v2:" + context.function_name}',
        )
        kit.client("lambda").update_function_code(
            FunctionName=fn, ZipFile=kit.make_zip({"recorder.py": new_source})
        )
        # Two passes: the first may have listed the functions before the update.
        rt.wait_refreshed()
        rt.wait_refreshed()
        kit.put(stream, ["r1"])
        kit.wait_for(lambda: kit.processed(table) == ["r0", "r1"])
        assert uuid in rt.running_mappings()
    assert [i["function"].startswith("v2:") for i in kit.invocations(table)] == [False, True]
