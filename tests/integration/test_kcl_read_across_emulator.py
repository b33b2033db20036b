"""A KCL application in replication mode read-across, on the emulator (docs/read-across.md):
turnout starts and stops its second instance by the spec's commands, with the instance's
settings in TURNOUT_READ_ACROSS_* variables; the check that everything reads the new streams
requires the instance's leases on the new streams' shards; the drain of the new streams' tail
reads the instance's lease table (old account) against the new streams' shards (new account).
The instance is the sandbox's KCL-style worker (turnout.sandbox.pipeline.kcl_worker), reading
the new stream with the new account's Kinesis and keeping its leases in the old account."""

from __future__ import annotations

import json
import sys
import time
import uuid

import pytest
from hooks_kit import (
    context,
    create_streams,
    create_table,
    make_spec,
    put_to_shard,
    run_hook,
    shard_ids,
)

from turnout.hooks import HookFailed
from turnout.sandbox.pipeline.kcl_worker import KclStyleWorker, WorkerConfig
from turnout.sandbox.processes import pid_alive
from turnout.spec.model import MigrationSpec
from turnout.spec.names import names

pytestmark = pytest.mark.integration
DRAIN = {"timeout_seconds": 3, "poll_seconds": 0.2, "reads_per_second": 5}
# Writes the variables turnout gives the command, one JSON file per call.
RECORD_ENV = (
    f'{sys.executable} -c "import json, os, sys; '
    "json.dump({k: v for k, v in os.environ.items() if k.startswith('TURNOUT_READ_ACROSS_')}, "
    "open(sys.argv[1], 'w'))\" "
)


@pytest.fixture
def read_across_kcl(emulator, tmp_path):
    """A read-across spec whose one old consumer is a KCL application on a 2-shard stream; its
    start and stop commands record their environment; the new stream exists."""
    tag = uuid.uuid4().hex[:8]
    consumer = {
        "kind": "kcl",
        "application": f"app-{tag}",
        "lease_table": f"app-leases-{tag}",
        "streams": ["events"],
        "read_across": {
            "role_arn": f"arn:aws:iam::{emulator.old_account_id}:role/app-{tag}-reader",
            "lease_table": f"app-leases-new-{tag}",
            "start_command": RECORD_ENV + str(tmp_path / "started.json"),
            "stop_command": RECORD_ENV + str(tmp_path / "stopped.json"),
        },
    }
    document = make_spec(emulator, consumers_old=[consumer]).model_dump(
        mode="json", exclude_none=True
    )
    document["replication"]["mode"] = "read-across"
    document["streams"][0]["encryption"] = "customer_managed"
    spec = MigrationSpec.model_validate(document)
    create_streams(emulator, spec, "new")
    tables = {
        name: create_table(emulator, "old", f"{name}-{tag}", key)
        for name, key in (("processed", "processing_id"), ("markers", "marker_id"))
    }
    return spec, consumer, tables


def instance(emulator, spec, consumer, tables) -> KclStyleWorker:
    """The application's read-across instance: the new stream, its own leases in the old account."""
    worker = KclStyleWorker(
        WorkerConfig(
            application=consumer["application"],
            stream_arns=(names(spec, "new").stream_arn("events"),),
            lease_table=consumer["read_across"]["lease_table"],
            environment="old",
            processed_table=tables["processed"],
            markers_table=tables["markers"],
        ),
        emulator.client("kinesis", "new"),
        emulator.client("dynamodb", "old"),
    )
    worker.ensure_lease_table()
    return worker


def put_events(emulator, spec, count: int) -> None:
    name = spec.streams[0].name_in("new")
    shards = shard_ids(emulator, "new", name)
    for seq in range(count):
        event = {"id": f"e{seq}", "key": f"k{seq}", "stream": "events", "seq": seq}
        put_to_shard(emulator, "new", name, shards[seq % len(shards)], json.dumps(event))


def test_the_instance_is_started_with_its_settings_and_stopped_by_the_specs_commands(
    emulator, read_across_kcl, tmp_path
):
    spec, consumer, _ = read_across_kcl
    ctx = context(emulator, spec, project_root=tmp_path)
    started = run_hook("start_read_across", {}, ctx)
    assert [entry["exit_code"] for entry in started["instances"]] == [0]
    given = json.loads((tmp_path / "started.json").read_text())
    assert given == {
        "TURNOUT_READ_ACROSS_APPLICATION": consumer["application"],
        "TURNOUT_READ_ACROSS_STREAM_ARNS": names(spec, "new").stream_arn("events"),
        "TURNOUT_READ_ACROSS_REGION": spec.environments.new.region,
        "TURNOUT_READ_ACROSS_ROLE_ARN": consumer["read_across"]["role_arn"],
        "TURNOUT_READ_ACROSS_LEASE_TABLE": consumer["read_across"]["lease_table"],
        "TURNOUT_READ_ACROSS_INITIAL_POSITION": "TRIM_HORIZON",
    }
    run_hook("stop_read_across", {}, ctx)
    assert json.loads((tmp_path / "stopped.json").read_text()) == given


def test_a_failing_start_command_fails_the_step_naming_the_application(
    emulator, read_across_kcl, tmp_path
):
    spec, consumer, _ = read_across_kcl
    document = spec.model_dump(mode="json", exclude_none=True)
    document["consumers"]["old"][0]["read_across"]["start_command"] = (
        "echo 'no credentials' >&2; exit 3"
    )
    failing = MigrationSpec.model_validate(document)
    with pytest.raises(HookFailed) as refused:
        run_hook("start_read_across", {}, context(emulator, failing, project_root=tmp_path))
    message = str(refused.value)
    assert (
        f"kcl:{consumer['application']}" in message and "exited with 3 (no credentials)" in message
    )


def test_reading_the_new_streams_is_proved_by_the_instances_leases_and_its_tail_by_their_checkpoints(
    emulator, read_across_kcl
):
    spec, consumer, tables = read_across_kcl
    ctx = context(emulator, spec)
    with pytest.raises(HookFailed, match="does not exist \\(not started\\)"):
        run_hook("verify_read_across", {"state": "Enabled"}, ctx)

    worker = instance(emulator, spec, consumer, tables)
    put_events(emulator, spec, 12)
    worker.process_once()
    assert (
        run_hook("verify_read_across", {"state": "Enabled"}, ctx)["kcl_instances"][0]["leases"] == 2
    )
    while worker.process_once():
        pass
    drained = run_hook("verify_read_across_drained", DRAIN, ctx)
    assert drained["drained"] is True

    put_events(emulator, spec, 1)  # the new streams' tail grows by one record, not yet read
    with pytest.raises(HookFailed, match="did not read the new streams' tail"):
        run_hook("verify_read_across_drained", DRAIN, ctx)
    worker.process_once()
    assert run_hook("verify_read_across_drained", DRAIN, ctx)["drained"] is True


def test_an_instance_started_at_latest_is_refused_before_it_skips_the_records_since_the_switch(
    emulator, read_across_kcl
):
    """KCL keeps the initial position as a lease's checkpoint until its first checkpoint: an
    instance started at LATEST would never read what producers wrote to the new streams before
    it started."""
    spec, consumer, tables = read_across_kcl
    worker = instance(emulator, spec, consumer, tables)
    worker.sync()
    (first, *_) = sorted(worker.leases())
    emulator.client("dynamodb", "old").update_item(
        TableName=consumer["read_across"]["lease_table"],
        Key={"leaseKey": {"S": first}},
        UpdateExpression="SET checkpoint = :latest",
        ExpressionAttributeValues={":latest": {"S": "LATEST"}},
    )
    with pytest.raises(HookFailed) as refused:
        run_hook("verify_read_across", {"state": "Enabled"}, context(emulator, spec))
    message = str(refused.value)
    assert (
        f"the leases {first} start at LATEST" in message and "start it at TRIM_HORIZON" in message
    )


def instance_commands(emulator, tables, state_dir) -> dict[str, str]:
    """The sandbox's read-across instance as the spec's start and stop commands."""
    base = f"{sys.executable} -m turnout.sandbox.pipeline.kcl_instance"
    return {
        "start_command": (
            f"{base} start --endpoint {emulator.endpoint_url} --state-dir {state_dir} "
            f"--processed-table {tables['processed']} --markers-table {tables['markers']} "
            "--interval 0.2 --lifetime 300"
        ),
        "stop_command": f"{base} stop --state-dir {state_dir}",
    }


def with_instance_commands(spec, emulator, tables, state_dir) -> MigrationSpec:
    document = spec.model_dump(mode="json", exclude_none=True)
    document["consumers"]["old"][0]["read_across"].update(
        instance_commands(emulator, tables, state_dir)
    )
    return MigrationSpec.model_validate(document)


def let_read(emulator, spec, role_arn: str) -> None:
    """The new stream's resource policy lets `role_arn` read it (what Terraform renders)."""
    arn = names(spec, "new").stream_arn("events")
    actions = ["kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:GetShardIterator"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": role_arn},
                "Action": [*actions, "kinesis:GetRecords", "kinesis:DescribeStream"],
                "Resource": arn,
            }
        ],
    }
    emulator.client("kinesis", "new").put_resource_policy(
        ResourceARN=arn, Policy=json.dumps(policy)
    )


def processed_ids(emulator, table: str, application: str) -> set[str]:
    items = emulator.client("dynamodb", "old").scan(TableName=table, ConsistentRead=True)["Items"]
    return {
        item["event_id"]["S"]
        for item in items
        if item.get("consumer", {}).get("S") == application and "event_id" in item
    }


def test_the_sandbox_instance_reads_the_new_stream_through_its_role_until_stopped(
    emulator, read_across_kcl, tmp_path
):
    """Started by the spec's command, the instance assumes its role, reads the new stream by
    ARN under the stream's policy, processes every record into the old account's table and
    keeps its leases there; the stop command ends it, and both commands can run twice."""
    spec, consumer, tables = read_across_kcl
    let_read(emulator, spec, consumer["read_across"]["role_arn"])
    spec = with_instance_commands(spec, emulator, tables, tmp_path / "kcl")
    ctx = context(emulator, spec, project_root=tmp_path)
    put_events(emulator, spec, 12)
    for _ in range(2):
        started = run_hook("start_read_across", {}, ctx)
        assert [entry["exit_code"] for entry in started["instances"]] == [0], started
    pid_file = tmp_path / "kcl" / f"kcl-read-across-{consumer['application']}.pid"
    pid = int(pid_file.read_text().split()[0])
    deadline = time.monotonic() + 60
    while len(processed_ids(emulator, tables["processed"], consumer["application"])) < 12:
        assert time.monotonic() < deadline, "the instance did not process every record"
        time.sleep(0.5)
    checked = run_hook("verify_read_across", {"state": "Enabled"}, ctx)
    assert checked["kcl_instances"][0]["leases"] == 2
    assert run_hook("verify_read_across_drained", DRAIN, ctx)["drained"] is True
    for _ in range(2):
        stopped = run_hook("stop_read_across", {}, ctx)
        assert [entry["exit_code"] for entry in stopped["instances"]] == [0], stopped
    assert not pid_file.exists() and not pid_alive(pid)


def test_an_instance_whose_role_the_stream_policy_does_not_name_fails_its_start_step(
    emulator, read_across_kcl, tmp_path
):
    spec, consumer, tables = read_across_kcl
    let_read(emulator, spec, f"arn:aws:iam::{emulator.old_account_id}:role/someone-else")
    spec = with_instance_commands(spec, emulator, tables, tmp_path / "kcl")
    with pytest.raises(HookFailed) as refused:
        run_hook("start_read_across", {}, context(emulator, spec, project_root=tmp_path))
    message = str(refused.value)
    assert f"kcl:{consumer['application']}" in message and "exited with 1" in message
    assert "AccessDeniedException" in message, message
    assert not (tmp_path / "kcl" / f"kcl-read-across-{consumer['application']}.pid").exists()
