"""A data store copy's progress, kept in the control plane's state table.

One item per store (`pk = migration#<name>`, `sk = datastore#<store>`), replaced as the copy
advances: what is done (an S3 key below which every object is copied; per DynamoDB segment the
scan position after the last page written), the multipart uploads in flight and the counts. A
run killed at any moment resumes from the last item written and copies again at most what was
in flight. The state table lives wherever the cutover's state lives, so any operator host can
resume. A finished (verified) copy is never resumed from: the next run starts a fresh
incremental pass.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from turnout.spec.names import datastore_checkpoint_key, state_partition_key

COPYING = "copying"
VERIFIED = "verified"


@dataclass
class Checkpoint:
    store: str
    kind: str
    status: str = COPYING
    run: str = ""
    progress: dict[str, Any] = field(default_factory=dict)

    @property
    def resumable(self) -> bool:
        return self.status == COPYING and bool(self.progress)


class CheckpointStore:
    """Reads and writes one store's checkpoint; writes are serialised across worker threads."""

    def __init__(self, dynamodb: Any, table: str, spec: Any, store: str, kind: str) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.key = {
            "pk": {"S": state_partition_key(spec)},
            "sk": {"S": datastore_checkpoint_key(store)},
        }
        self.store = store
        self.kind = kind
        self._lock = threading.Lock()
        self.writes = 0

    def load(self) -> Checkpoint:
        item = self.dynamodb.get_item(TableName=self.table, Key=self.key, ConsistentRead=True).get(
            "Item"
        )
        if not item or item.get("kind", {}).get("S") != self.kind:
            return Checkpoint(self.store, self.kind)
        return Checkpoint(
            store=self.store,
            kind=self.kind,
            status=item.get("status", {}).get("S", COPYING),
            run=item.get("run", {}).get("S", ""),
            progress=decode(json.loads(item.get("progress", {}).get("S", "{}"))),
        )

    def save(self, checkpoint: Checkpoint, updated_at: float) -> None:
        item = {
            **self.key,
            "kind": {"S": self.kind},
            "status": {"S": checkpoint.status},
            "run": {"S": checkpoint.run},
            "updated_at": {"N": repr(updated_at)},
            "progress": {"S": json.dumps(encode(checkpoint.progress), sort_keys=True)},
        }
        with self._lock:
            self.dynamodb.put_item(TableName=self.table, Item=item)
            self.writes += 1


def encode(value: Any) -> Any:
    """JSON for what a checkpoint holds, DynamoDB binary key values included."""
    if isinstance(value, bytes | bytearray):
        return {"__bytes__": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__bytes__"}:
            return base64.b64decode(value["__bytes__"])
        return {key: decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [decode(item) for item in value]
    return value
