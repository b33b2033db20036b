"""Copy one declared data store: check it, copy from the last checkpoint, verify, record.

The built-in hooks `copy_s3` and `copy_dynamodb` call `copy_store`. The copy only reads the old
environment. Every way it can stop says, in one paragraph, what happened to the data: the old
environment is unchanged, the target holds what was copied so far, the checkpoint keeps the
progress, and how to go on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from turnout.datastores import dynamodb_verify, s3_verify
from turnout.datastores.checkpoint import VERIFIED, Checkpoint, CheckpointStore
from turnout.datastores.clients import StoreClients
from turnout.datastores.dynamodb_copy import DynamoDbCopy, SegmentStopped
from turnout.datastores.preflight import check_store, describe_problem
from turnout.datastores.s3_copy import SourceChanged
from turnout.datastores.s3_run import CopyStopped, S3CopyPass
from turnout.hooks import HookFailed
from turnout.spec.datastores import S3DataStore
from turnout.spec.names import (
    control_plane,
    datastore_checkpoint_key,
    datastore_manifest_file,
    datastore_manifest_key,
)

STOPPED = (CopyStopped, SegmentStopped, ClientError, BotoCoreError)


def store_index(spec: Any, name: str) -> int:
    for index, store in enumerate(spec.data_stores):
        if store.name == name:
            return index
    known = ", ".join(store.name for store in spec.data_stores) or "none"
    raise HookFailed(f"no data store named '{name}' in the spec's data_stores (declared: {known}).")


def copy_store(context: Any, name: str) -> dict:
    """Copy and verify the data store `name` of the spec; returns what was done and found."""
    index = store_index(context.spec, name)
    store = context.spec.data_stores[index]
    checked = check_store(context, index)
    if context.dry_run:
        return {"store": name, "kind": store.kind, "dry_run": True, "checked": checked}
    control = control_plane(context.spec)
    book = CheckpointStore(
        context.client(control.environment, "dynamodb"),
        control.state_table,
        context.spec,
        store.name,
        store.kind,
    )
    checkpoint = book.load()
    resumed = checkpoint.resumable
    if not resumed:
        checkpoint = Checkpoint(store.name, store.kind)
    checkpoint.run = f"{context.phase_from}->{context.phase_to}"

    def save(current: Checkpoint) -> None:
        book.save(current, context.clock())

    started = time.monotonic()
    clients = StoreClients(
        context, store.parallelism if isinstance(store, S3DataStore) else store.segments
    )
    try:
        copied = _copy(context, clients, store, checkpoint, save)
        verified = _verify(context, clients, store)
    except STOPPED as problem:
        raise HookFailed(_stopped(context, store, index, problem, checkpoint)) from None
    if not _verified(store, verified):
        raise HookFailed(_differences(store, index, verified))
    checkpoint.status = VERIFIED
    save(checkpoint)
    return {
        "store": name,
        "kind": store.kind,
        "source": store.source,
        "target": store.target,
        "resumed": resumed,
        "copy": copied,
        "verification": verified,
        "checkpoint_writes": book.writes,
        "seconds": round(time.monotonic() - started, 2),
    }


def _copy(context: Any, clients: StoreClients, store: Any, checkpoint: Checkpoint, save) -> dict:
    if isinstance(store, S3DataStore):
        return S3CopyPass(
            s3=clients.client("old", "s3"),
            store=store,
            checkpoint=checkpoint,
            save=save,
            progress=context.progress,
            skip_key=datastore_manifest_key(context.spec, store.name),
        ).run()
    return DynamoDbCopy(
        source=clients.client("old", "dynamodb"),
        target=clients.client("new", "dynamodb"),
        store=store,
        checkpoint=checkpoint,
        save=save,
        progress=context.progress,
        sleep=context.sleep,
    ).run()


def _verify(context: Any, clients: StoreClients, store: Any) -> dict:
    if isinstance(store, S3DataStore):
        work_dir = getattr(context, "work_dir", None)
        return s3_verify.verify_s3(
            clients.client("old", "s3"),
            store,
            datastore_manifest_key(context.spec, store.name),
            Path(work_dir) / datastore_manifest_file(store.name) if work_dir else None,
            context.spec.migration,
        )
    return dynamodb_verify.verify_dynamodb(
        clients.client("old", "dynamodb"),
        clients.client("new", "dynamodb"),
        store,
        context.progress,
    )


def _verified(store: Any, summary: dict) -> bool:
    if isinstance(store, S3DataStore):
        return summary["differences"] == 0
    same = summary["source_checksum"] == summary["target_checksum"]
    return same and summary["source_items"] == summary["target_items"]


def _stopped(context: Any, store: Any, index: int, problem: Exception, checkpoint) -> str:
    control = control_plane(context.spec)
    where, cause = _cause(problem)
    done = (
        f"{checkpoint.progress.get('copied', 0):,} object(s) copied"
        if isinstance(store, S3DataStore)
        else f"{sum(p['items'] for p in checkpoint.progress.get('positions', {}).values()):,} "
        f"item(s) written"
    )
    return (
        f"copying data store '{store.name}' (data_stores[{index}], {store.kind} {store.source} -> "
        f"{store.target}) stopped{where}: {cause}. The old environment was only read: nothing in "
        f"it changed. The target holds what was copied so far ({done} in all); the checkpoint "
        f"({control.state_table}, {datastore_checkpoint_key(store.name)}) records it, so "
        f"`turnout cutover` resumes after it without copying it again, and `turnout rollback` "
        f"leaves the old environment as it is."
    )


def _cause(problem: Exception) -> tuple[str, str]:
    if isinstance(problem, CopyStopped):
        inner = problem.problem
        if isinstance(inner, SourceChanged):
            return (
                f" at object '{problem.key}'",
                "the source object changed after it was listed (its ETag no longer matches), so "
                "something still writes to the old bucket at this point of the cutover: stop "
                "its writers or declare the store at a later point (at:)",
            )
        return f" at object '{problem.key}'", describe_problem(inner)
    if isinstance(problem, SegmentStopped):
        return f" in scan segment {problem.segment}", describe_problem(problem.problem)
    return "", describe_problem(problem)


def _differences(store: Any, index: int, summary: dict) -> str:
    if isinstance(store, S3DataStore):
        found = s3_verify.describe_differences(summary)
        where = summary.get("manifest_file") or summary.get("manifest_s3") or "the journal"
    else:
        found = dynamodb_verify.describe_differences(summary) or (
            f"the checksums differ ({summary['source_checksum']} / {summary['target_checksum']}) "
            f"although no item differed on a second look: the source changed during the check"
        )
        where = "the journal (this step's result)"
    return (
        f"data store '{store.name}' (data_stores[{index}]) was copied but the verification found "
        f"differences: {found}. Nothing in the old environment changed; details in {where}. "
        f"Run `turnout cutover` again: the copy is incremental (it copies only what differs) and "
        f"verifies again. turnout never deletes in the target: remove what is only in the target "
        f"yourself. If the source is still written at this point, stop its writers or declare "
        f"the store at a later point (at:)."
    )
