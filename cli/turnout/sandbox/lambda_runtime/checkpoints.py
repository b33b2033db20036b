"""Checkpoints of the local Lambda runtime, persisted atomically in one JSON file.

Layout::

    {"version": 1,
     "mappings": {
        "<mapping uuid>": {
            "function_arn": "...", "event_source_arn": "...",
            "first_seen": <epoch s>, "starting_position": "TRIM_HORIZON|LATEST|AT_TIMESTAMP",
            "starting_timestamp": <epoch s or null>,
            "initial_shards": ["shardId-..."],
            "shards": {"shardId-...": {"start": {"type": "...", "timestamp": ...},
                                        "checkpoint": "<last processed sequence number>|null",
                                        "ended": false}}}}}

A checkpoint is written only after the batch up to it succeeded (or was sent to the on-failure
destination), so a killed runtime resumes after the last finished batch: at-least-once.
"""

from __future__ import annotations

import copy
import json
import os
import threading
from pathlib import Path
from typing import Any

FILE_NAME = "checkpoints.json"


class CheckpointStore:
    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = Path(state_dir) / FILE_NAME
        self._lock = threading.RLock()
        self._data: dict[str, Any] = {"version": 1, "mappings": {}}
        if self.path.exists():
            loaded = json.loads(self.path.read_text())
            if loaded.get("version") != 1:
                raise ValueError(f"unknown checkpoint file version in {self.path}")
            self._data = loaded

    def _save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self._data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    # -------------------------------------------------------------- mappings
    def mapping_uuids(self) -> list[str]:
        with self._lock:
            return list(self._data["mappings"])

    def mapping(self, uuid: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._data["mappings"].get(uuid)
            return copy.deepcopy(entry) if entry is not None else None

    def init_mapping(self, uuid: str, entry: dict[str, Any]) -> None:
        with self._lock:
            if uuid in self._data["mappings"]:
                return
            self._data["mappings"][uuid] = {**entry, "shards": {}}
            self._save()

    def update_mapping(self, uuid: str, fields: dict[str, Any]) -> None:
        """Set ``fields`` of a known mapping's entry (never its shards)."""
        with self._lock:
            entry = self._data["mappings"].get(uuid)
            if entry is None:
                return
            entry.update({k: v for k, v in fields.items() if k != "shards"})
            self._save()

    def forget(self, uuid: str) -> None:
        with self._lock:
            if self._data["mappings"].pop(uuid, None) is not None:
                self._save()

    # -------------------------------------------------------------- shards
    def shard(self, uuid: str, shard_id: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._data["mappings"].get(uuid, {}).get("shards", {}).get(shard_id)
            return dict(entry) if entry is not None else None

    def init_shard(self, uuid: str, shard_id: str, start: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            shards = self._data["mappings"][uuid]["shards"]
            if shard_id not in shards:
                shards[shard_id] = {"start": start, "checkpoint": None, "ended": False}
                self._save()
            return dict(shards[shard_id])

    def checkpoint(self, uuid: str, shard_id: str, sequence_number: str) -> bool:
        """Record that everything up to ``sequence_number`` is done. False if the mapping was
        forgotten meanwhile (deleted): nothing is written then."""
        with self._lock:
            mapping = self._data["mappings"].get(uuid)
            if mapping is None or shard_id not in mapping["shards"]:
                return False
            entry = mapping["shards"][shard_id]
            current = entry.get("checkpoint")
            if current is not None and int(current) >= int(sequence_number):
                return True
            entry["checkpoint"] = str(sequence_number)
            self._save()
            return True

    def mark_ended(self, uuid: str, shard_id: str) -> None:
        with self._lock:
            mapping = self._data["mappings"].get(uuid)
            if mapping is None or shard_id not in mapping["shards"]:
                return
            if not mapping["shards"][shard_id].get("ended"):
                mapping["shards"][shard_id]["ended"] = True
                self._save()

    def shard_ended(self, uuid: str, shard_id: str) -> bool:
        with self._lock:
            entry = self._data["mappings"].get(uuid, {}).get("shards", {}).get(shard_id)
            return bool(entry and entry.get("ended"))
