"""verify_route, verify_replication_off, verify_new_streams_empty, detect_unrouted_producers,
verify_replicator_drained and verify_replication_flowing on the emulator."""

from __future__ import annotations

import threading
import time

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
from turnout.spec.names import (
    direction_parameter,
    names,
    route_item_key,
    route_table,
    route_value,
)

pytestmark = pytest.mark.integration


# --------------------------------------------------------------------------- route


def write_route_item(emulator, spec, target: str) -> None:
    """The route table's item, as Terraform writes it (modules/control-plane)."""
    emulator.client("dynamodb", "old").put_item(
        TableName=route_table(spec).route_table,
        Item={"route_id": {"S": route_item_key(spec)}, "value": {"S": route_value(spec, target)}},
    )


def test_route_pointing_at_the_target_passes_and_at_the_other_environment_fails(emulator):
    spec = make_spec(emulator)
    (parameter,) = spec.route.parameters
    ssm = emulator.client("ssm", "old")
    ssm.put_parameter(Name=parameter, Value=route_value(spec, "old"), Type="String")
    create_table(emulator, "old", route_table(spec).route_table, "route_id")
    write_route_item(emulator, spec, "old")
    ctx = context(emulator, spec)
    data = run_hook("verify_route", {"target": "old"}, ctx)
    assert data["parameters"][parameter]["ok"] is True
    assert data["route_table"]["ok"] is True
    with pytest.raises(HookFailed, match="environment is 'old'") as failure:
        run_hook("verify_route", {"target": "new"}, ctx)
    assert spec.streams[0].name_in("new") in str(failure.value)
    ssm.put_parameter(Name=parameter, Value=route_value(spec, "new"), Overwrite=True)
    with pytest.raises(HookFailed, match=r"the route table .*: environment is 'old'"):
        run_hook("verify_route", {"target": "new"}, ctx)
    write_route_item(emulator, spec, "new")
    run_hook("verify_route", {"target": "new"}, ctx)


def test_missing_route_parameter_or_route_table_fails(emulator):
    spec = make_spec(emulator)
    with pytest.raises(HookFailed, match="does not exist in old") as failure:
        run_hook("verify_route", {"target": "old"}, context(emulator, spec))
    assert f"the route table {route_table(spec).route_table} does not exist" in str(failure.value)


# --------------------------------------------------------------------------- replication off


def replicator(emulator, lambda_kit, spec, environment, enabled: bool) -> str:
    arn = create_streams(emulator, spec, environment)["events"]
    function = lambda_kit.function(
        environment, table=lambda_kit.table(environment), name=names(spec, environment).replicator
    )
    return lambda_kit.mapping(environment, function, arn, Enabled=enabled)


def set_direction(emulator, spec, environment: str, value: str) -> None:
    emulator.client("ssm", environment).put_parameter(
        Name=direction_parameter(spec), Value=value, Type="String", Overwrite=True
    )


def test_replication_off_needs_disabled_mappings_and_parameters_that_enable_neither(
    emulator, lambda_kit
):
    spec = make_spec(emulator)
    old_mapping = replicator(emulator, lambda_kit, spec, "old", enabled=False)
    replicator(emulator, lambda_kit, spec, "new", enabled=False)
    for environment in ("old", "new"):
        set_direction(emulator, spec, environment, "none")
    ctx = context(emulator, spec)
    data = run_hook("verify_replication_off", {}, ctx)
    assert data["values"] == {"old": "none", "new": "none"}

    set_direction(emulator, spec, "old", "old_to_new")
    with pytest.raises(HookFailed, match="direction of the replicator deployed there"):
        run_hook("verify_replication_off", {}, ctx)
    set_direction(emulator, spec, "old", "new_to_old")
    set_direction(emulator, spec, "new", "new_to_old")
    with pytest.raises(HookFailed, match="both keys"):
        run_hook("verify_replication_off", {}, ctx)
    set_direction(emulator, spec, "new", "none")

    emulator.client("lambda", "old").update_event_source_mapping(UUID=old_mapping, Enabled=True)
    # Enabling for a while, then Enabled (the aws profile, as AWS): not off either way.
    with pytest.raises(HookFailed, match=f"mapping {old_mapping} .* is Enabl(ing|ed)"):
        run_hook("verify_replication_off", {}, ctx)


# --------------------------------------------------------------------------- new streams empty


def test_new_streams_empty_passes_then_fails_with_counts_after_one_record(emulator):
    spec = make_spec(emulator)
    create_streams(emulator, spec, "new")
    ctx = context(emulator, spec)
    data = run_hook("verify_new_streams_empty", {}, ctx)
    assert data["streams"]["events"]["records"] == 0
    name = spec.streams[0].name_in("new")
    second = shard_ids(emulator, "new", name)[1]
    put_to_shard(emulator, "new", name, second, "left-over test traffic")
    with pytest.raises(HookFailed, match=f"{second}: 1 records") as failure:
        run_hook("verify_new_streams_empty", {}, ctx)
    assert "replicated into the old environment" in str(failure.value)


# --------------------------------------------------------------------------- unrouted producers


def test_quiet_streams_pass_after_the_quiet_window(emulator):
    spec = make_spec(emulator)
    create_streams(emulator, spec, "old")
    started = time.monotonic()
    data = run_hook(
        "detect_unrouted_producers",
        {"environment": "old", "quiet_seconds": 1, "timeout_seconds": 10, "poll_seconds": 0.2},
        context(emulator, spec),
    )
    assert 1.0 <= time.monotonic() - started < 10  # passed, without waiting for the timeout
    assert data["streams"]["events"]["records"] == 0


def writer(
    emulator, name: str, shard: str, every: float, stop: threading.Event
) -> threading.Thread:
    def run() -> None:
        count = 0
        while not stop.is_set():
            put_to_shard(emulator, "old", name, shard, f"late-{count}")
            count += 1
            time.sleep(every)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_producer_that_keeps_writing_fails_the_check_naming_its_shard(emulator):
    spec = make_spec(emulator)
    create_streams(emulator, spec, "old")
    name = spec.streams[0].name_in("old")
    busy = shard_ids(emulator, "old", name)[1]
    stop = threading.Event()
    thread = writer(emulator, name, busy, every=0.2, stop=stop)
    try:
        with pytest.raises(HookFailed, match=f"{busy}: [1-9][0-9]* records") as failure:
            run_hook(
                "detect_unrouted_producers",
                {
                    "environment": "old",
                    "quiet_seconds": 3,
                    "timeout_seconds": 6,
                    "poll_seconds": 0.2,
                },
                context(emulator, spec),
            )
    finally:
        stop.set()
        thread.join()
    assert failure.value.data["streams"]["events"]["records"] > 0


def test_a_producer_that_stops_restarts_the_quiet_window_then_passes(emulator):
    spec = make_spec(emulator)
    create_streams(emulator, spec, "old")
    name = spec.streams[0].name_in("old")
    shard = shard_ids(emulator, "old", name)[0]
    written: list[str] = []

    def write_six_late_records() -> None:
        for count in range(6):
            put_to_shard(emulator, "old", name, shard, f"late-{count}")
            written.append(f"late-{count}")
            time.sleep(0.2)

    thread = threading.Thread(target=write_six_late_records, daemon=True)

    def start_writing_once_watched(message: str) -> None:
        # The hook reports progress only after a full round of reads from its LATEST
        # iterators: every record written from now on must be seen.
        if thread.ident is None:
            thread.start()

    data = run_hook(
        "detect_unrouted_producers",
        {"environment": "old", "quiet_seconds": 3, "timeout_seconds": 60, "poll_seconds": 0.2},
        context(emulator, spec, progress=start_writing_once_watched),
    )
    thread.join()
    assert data["streams"]["events"]["records"] == len(written) == 6
    assert data["elapsed_seconds"] >= 3 + 5 * 0.2


# --------------------------------------------------------------------------- replicator ledger


def ledger_put(emulator, spec, stream_name: str, shard: str, record: dict) -> None:
    emulator.client("dynamodb", "old").put_item(
        TableName=names(spec, "old").ledger_table,
        Item={
            "shard_key": {"S": f"{stream_name}/{shard}"},
            "last_sequence_number": {"S": record["SequenceNumber"]},
            "last_arrival_time": {"N": repr(record["arrival"])},
            "record_count": {"N": "1"},
        },
    )


def put_and_read(emulator, name: str, shard: str, data: str) -> dict:
    response = put_to_shard(emulator, "old", name, shard, data)
    kinesis = emulator.client("kinesis", "old")
    iterator = kinesis.get_shard_iterator(
        StreamName=name,
        ShardId=shard,
        ShardIteratorType="AT_SEQUENCE_NUMBER",
        StartingSequenceNumber=response["SequenceNumber"],
    )["ShardIterator"]
    record = kinesis.get_records(ShardIterator=iterator, Limit=1)["Records"][0]
    return {**record, "arrival": record["ApproximateArrivalTimestamp"].timestamp()}


def test_replicator_drained_when_the_ledger_holds_every_shards_last_record(emulator):
    spec = make_spec(emulator)
    create_streams(emulator, spec, "old")
    create_table(emulator, "old", names(spec, "old").ledger_table, "shard_key")
    name = spec.streams[0].name_in("old")
    first, second = shard_ids(emulator, "old", name)
    ledger_put(emulator, spec, name, first, put_and_read(emulator, name, first, "a"))
    ctx = context(emulator, spec)
    args = {"direction": "old_to_new", "timeout_seconds": 1, "poll_seconds": 0.3}
    data = run_hook("verify_replicator_drained", args, ctx)  # second shard: empty, no item
    assert data["drained"] is True
    last = put_and_read(emulator, name, second, "b")
    with pytest.raises(HookFailed, match=f"{second}: not_drained"):
        run_hook("verify_replicator_drained", args, ctx)
    assert any("waiting for the old_to_new replicator" in line for line in ctx.progress)
    ledger_put(emulator, spec, name, second, last)
    assert run_hook("verify_replicator_drained", args, ctx)["drained"] is True


def test_replication_flowing_needs_an_enabled_replicator_and_lag_within_the_limit(
    emulator, lambda_kit
):
    spec = make_spec(emulator)
    replicator(emulator, lambda_kit, spec, "old", enabled=True)
    create_table(emulator, "old", names(spec, "old").ledger_table, "shard_key")
    name = spec.streams[0].name_in("old")
    shard = shard_ids(emulator, "old", name)[0]
    args = {
        "direction": "old_to_new",
        "max_lag_seconds": 0.5,
        "timeout_seconds": 0.5,
        "poll_seconds": 0.2,
    }
    ctx = context(emulator, spec)
    with pytest.raises(HookFailed, match="active-direction in old is None"):
        run_hook("verify_replication_flowing", args, ctx)
    set_direction(emulator, spec, "old", "old_to_new")
    set_direction(emulator, spec, "new", "old_to_new")

    written = put_and_read(emulator, name, shard, "a")
    ledger_put(emulator, spec, name, shard, written)
    data = run_hook("verify_replication_flowing", args, ctx)
    assert data["lag"]["streams"]["events"]["lag_seconds"] == 0.0

    put_and_read(emulator, name, shard, "b")  # not replicated: its age is the lag
    time.sleep(1.2)
    with pytest.raises(HookFailed, match="oldest record not yet replicated arrived") as failure:
        run_hook("verify_replication_flowing", args, ctx)
    lag = failure.value.data["lag"]["streams"]["events"]["lag_seconds"]
    assert lag >= 1.0
    data = run_hook("verify_replication_flowing", {**args, "max_lag_seconds": 30}, ctx)
    assert (
        data["lag"]["streams"]["events"]["shards"][0]["ledger_sequence_number"]
        == written["SequenceNumber"]
    )
