"""The sandbox's KCL-style worker (turnout.sandbox.pipeline.kcl_worker) on the emulator: it keeps
a lease table in KCL's format that turnout's KCL drain predicate reads as it reads KCL's, stores
every record in order through the sandbox consumer's code, and reads again what the code did not
store. (KCL's lease table: https://docs.aws.amazon.com/streams/latest/dev/shared-throughput-kcl-consumers.html)"""

from __future__ import annotations

import json
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
from turnout.sandbox.pipeline.kcl_worker import SHARD_END, KclStyleWorker, WorkerConfig

pytestmark = pytest.mark.integration
ARGS = {"environment": "old", "timeout_seconds": 3, "poll_seconds": 0.2, "reads_per_second": 5}


@pytest.fixture
def kcl_app(emulator):
    """An old-environment spec with one KCL application on a 2-shard stream, its processed and
    markers tables, and a worker for it (its lease table created as KCL creates it)."""
    tag = uuid.uuid4().hex[:8]
    leases = f"kcl-leases-{tag}"
    consumer = {
        "kind": "kcl",
        "application": f"app-{tag}",
        "lease_table": leases,
        "streams": ["events"],
    }
    spec = make_spec(emulator, consumers_old=[consumer])
    arn = create_streams(emulator, spec, "old")["events"]
    config = WorkerConfig(
        application=f"app-{tag}",
        stream_arns=(arn,),
        lease_table=leases,
        environment="old",
        processed_table=create_table(emulator, "old", f"processed-{tag}", "processing_id"),
        markers_table=create_table(emulator, "old", f"markers-{tag}", "marker_id"),
    )
    worker = KclStyleWorker(
        config, emulator.client("kinesis", "old"), emulator.client("dynamodb", "old")
    )
    worker.ensure_lease_table()
    return spec, worker


def put_events(emulator, spec, count: int) -> dict[str, list[str]]:
    """`count` sandbox events spread over both shards: shard id -> event ids in put order."""
    name = spec.streams[0].name_in("old")
    shards = shard_ids(emulator, "old", name)
    put: dict[str, list[str]] = {shard: [] for shard in shards}
    for seq in range(count):
        shard = shards[seq % len(shards)]
        event = {"id": f"e{seq}", "key": f"k{seq % 7}", "stream": "events", "seq": seq}
        put_to_shard(emulator, "old", name, shard, json.dumps(event))
        put[shard].append(f"e{seq}")
    return put


def drain(worker: KclStyleWorker) -> None:
    while worker.process_once():
        pass


def stored(emulator, worker: KclStyleWorker) -> dict[str, list[str]]:
    """shard id -> event ids in the order the worker stored them."""
    items = emulator.client("dynamodb", "old").scan(TableName=worker.config.processed_table)
    rows = sorted(items["Items"], key=lambda item: item["processed_order"]["S"])
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row["shard_id"]["S"], []).append(row["event_id"]["S"])
    return found


def test_every_record_is_stored_in_order_and_the_leases_prove_the_drain_as_kcls_would(
    emulator, kcl_app
):
    spec, worker = kcl_app
    put = put_events(emulator, spec, 20)
    drain(worker)
    assert stored(emulator, worker) == put
    leases = worker.leases()
    assert {lease["leaseOwner"] for lease in leases.values()} == {worker.config.worker_id}
    assert set(leases) == set(put), "single-stream application: leaseKey is the shard id"
    ctx = context(emulator, spec)
    assert run_hook("verify_consumers_drained", ARGS, ctx)["drained"] is True

    behind = put_events(emulator, spec, 1)  # one more record, not yet processed
    with pytest.raises(HookFailed, match="not_drained"):
        run_hook("verify_consumers_drained", ARGS, ctx)
    drain(worker)
    assert run_hook("verify_consumers_drained", ARGS, ctx)["drained"] is True
    assert stored(emulator, worker)[next(iter(behind))][-1] == "e0"


def test_a_record_the_code_did_not_store_is_read_again_and_nothing_is_skipped(emulator, kcl_app):
    """The consumer's code stores two records of a batch and reports the third unstored (as a
    Lambda consumer answers batchItemFailures): the lease is checkpointed at the second, the next
    read starts at the third, and every record is stored once, in order."""
    spec, worker = kcl_app
    put = put_events(emulator, spec, 10)
    failed_once: list[str] = []
    store = worker.handler

    def stores_two_then_fails(records: list[dict], request_id: str) -> dict:
        if failed_once:
            return store(records, request_id)
        failed_once.append(records[2]["kinesis"]["sequenceNumber"])
        store(records[:2], request_id)
        return {"batchItemFailures": [{"itemIdentifier": failed_once[0]}]}

    worker.handler = stores_two_then_fails
    worker.process_once()
    (shard,) = [s for s, ids in stored(emulator, worker).items() if len(ids) == 2]
    checkpoint = worker.leases()[shard]["checkpoint"]
    assert int(checkpoint) < int(failed_once[0]), "checkpointed past the unstored record"
    drain(worker)
    assert stored(emulator, worker) == put
    assert all(lease["checkpoint"] != SHARD_END for lease in worker.leases().values())
