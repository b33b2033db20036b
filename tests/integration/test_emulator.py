"""The local AWS emulator: start/stop by PID, accounts, and moto's Lambda execution kept
neutralised."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import sys
import time
import urllib.request
import zipfile

import pytest

from turnout.emulator import Emulator, EmulatorError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_each_account_sees_only_its_own_resources(emulator, aws_client, lambda_kit):
    assert aws_client("sts", "old").get_caller_identity()["Account"] == "111111111111"
    assert aws_client("sts", "new").get_caller_identity()["Account"] == "222222222222"
    name = lambda_kit.name("isolated")
    arn = lambda_kit.stream("old", name=name)
    assert arn == f"arn:aws:kinesis:eu-west-1:111111111111:stream/{name}"
    assert name in aws_client("kinesis", "old").list_streams()["StreamNames"]
    assert name not in aws_client("kinesis", "new").list_streams()["StreamNames"]
    session = emulator.session("222222222222")
    sts = session.client("sts", endpoint_url=emulator.endpoint_url)
    assert sts.get_caller_identity()["Account"] == "222222222222"


def test_moto_never_runs_function_code_for_stream_records(emulator, lambda_kit):
    """moto would call the function (through Docker) once per record put to a stream with any
    mapping, even a disabled or deleted one. The launcher's patch makes that a counted no-op:
    without it, ``function_code_runs`` rises with every record (checked by removing it)."""
    kit = lambda_kit
    table = kit.table()
    fn = kit.function(table=table)
    streams = [kit.stream(name=kit.name(f"neutral{i}")) for i in range(3)]
    lam = kit.client("lambda")
    kit.mapping("old", fn, streams[0])  # enabled
    kit.mapping("old", fn, streams[1], Enabled=False)  # disabled
    deleted = kit.mapping("old", fn, streams[2])
    lam.delete_event_source_mapping(UUID=deleted)  # deleted: moto still keeps it on the stream
    before = emulator.status()["counters"]
    kinesis = kit.client("kinesis")
    started = time.monotonic()
    for stream in streams:
        for chunk in range(2):
            kinesis.put_records(
                StreamARN=stream,
                Records=[
                    {"Data": f"{chunk}-{i}".encode(), "PartitionKey": str(i)} for i in range(100)
                ],
            )
    for i in range(20):
        kinesis.put_record(StreamARN=streams[0], Data=b"single", PartitionKey=str(i))
    elapsed = time.monotonic() - started
    after = emulator.status()["counters"]
    assert after["function_code_runs"] == before["function_code_runs"]
    assert after["suppressed_kinesis_deliveries"] - before["suppressed_kinesis_deliveries"] == 620
    assert elapsed < 15
    log = emulator.log_path.read_text().lower()
    assert "docker" not in log and "error running" not in log


def test_sqs_queue_with_a_mapping_keeps_its_messages(emulator, lambda_kit):
    kit = lambda_kit
    fn = kit.function(table=kit.table())
    sqs = kit.client("sqs")
    url, arn = kit.queue()
    kit.client("lambda").create_event_source_mapping(FunctionName=fn, EventSourceArn=arn)
    before = emulator.status()["counters"]["function_code_runs"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    msgs = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in msgs] == ["hello"]
    assert msgs[0]["Attributes"]["ApproximateReceiveCount"] == "1"  # not received by moto
    assert emulator.status()["counters"]["function_code_runs"] == before


def test_get_function_code_location_serves_the_deployed_zip(emulator, lambda_kit):
    kit = lambda_kit
    fn = kit.function(table="unused")
    info = kit.client("lambda").get_function(FunctionName=fn)
    location = info["Code"]["Location"]
    assert location.startswith(emulator.endpoint_url + "/")
    with urllib.request.urlopen(location, timeout=10) as resp:
        body = resp.read()
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert digest == info["Configuration"]["CodeSha256"]
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["recorder.py"]


def test_mapping_returns_its_starting_position_timestamp(lambda_kit):
    kit = lambda_kit
    fn = kit.function(table="unused")
    stream = kit.stream()
    at = int(time.time()) - 60
    uuid = kit.mapping(
        "old", fn, stream, StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=at
    )
    esm = kit.client("lambda").get_event_source_mapping(UUID=uuid)
    assert esm["StartingPositionTimestamp"].timestamp() == at


def test_attach_reuses_the_running_emulator(emulator):
    attached = Emulator.attach_work_dir(emulator.work_dir)
    assert attached.endpoint_url == emulator.endpoint_url
    assert attached.pid == emulator.pid
    with attached:
        assert attached.client("sts", "new").get_caller_identity()["Account"] == "222222222222"
    assert emulator.is_running()  # leaving the block of an attached emulator does not stop it
    by_pid_file = Emulator.attach(emulator.endpoint_url, emulator.pid_file)
    assert by_pid_file.is_running()


def test_start_and_stop_by_pid(tmp_path):
    emu = Emulator(tmp_path / "emu", old_account_id="333333333333")
    with emu:
        pid = emu.pid
        assert int(emu.pid_file.read_text()) == pid
        assert json.loads(emu.state_file.read_text())["pid"] == pid
        assert emu.client("sts", "old").get_caller_identity()["Account"] == "333333333333"
    assert not emu.pid_file.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_server_that_cannot_start_fails_loudly_with_its_log(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("import sys\nprint('boom: no moto here', file=sys.stderr)\nsys.exit(3)\n")
    emu = Emulator(tmp_path / "emu", python=sys.executable, startup_timeout=10)
    emu.python = str(tmp_path / "python-shim")
    shim = tmp_path / "python-shim"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    shim.chmod(0o755)
    with pytest.raises(EmulatorError, match="boom: no moto here"):
        emu.start()
    assert emu.pid is None


def test_list_mappings_by_function_name_finds_mappings_created_with_its_arn(lambda_kit):
    kit = lambda_kit
    fn = kit.function(table="unused")
    uuid = kit.mapping("old", fn, kit.stream())  # created with the ARN, as Terraform does
    lam = kit.client("lambda")
    for name in (fn.split(":")[-1], fn):
        found = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
        assert [m["UUID"] for m in found] == [uuid]
