"""Pacing per target shard: never more than a shard's write limits in any one-second window.

Kinesis maps a partition key to a shard by the MD5 of the key read as a 128-bit integer, which
falls in exactly one open shard's hash key range
(https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html). A shard accepts
1,000 records and 1 MiB per second
(https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html); AWS does not say
over which window it measures, so the pacer takes the strictest reading: in *any* one-second
window. Each call's entries are charged to their shards when the call is answered (the latest
moment they can have arrived; to the shard the answer names, else the one the map predicts),
and a call only takes a record while its shard's charges of the last second leave room for it.

The ranges come from ListShards on the target stream through the writer role (1,000
transactions per second per stream, https://docs.aws.amazon.com/kinesis/latest/APIReference/API_ListShards.html),
cached per stream for ``shard_map_max_age_seconds`` and read again at once when an answer shows
a record in a shard the map did not predict (a resharding).
"""

from __future__ import annotations

import bisect
import hashlib
from collections import deque
from typing import Any

from .infra import JsonLogger

WINDOW_SECONDS = 1.0
UNPACED = -1  # the shard index of every record while the stream's shards are unknown
_KEY_CACHE_LIMIT = 100_000


def hash_key(partition_key: str) -> int:
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


class ShardMap:
    """The open shards of one target stream, by starting hash key."""

    def __init__(self, shards: list[dict[str, Any]], fetched_at: float) -> None:
        open_shards = sorted(
            (int(shard["HashKeyRange"]["StartingHashKey"]), shard["ShardId"])
            for shard in shards
            if "EndingSequenceNumber" not in (shard.get("SequenceNumberRange") or {})
        )
        self.starts = [start for start, _ in open_shards]
        self.ids = [shard_id for _, shard_id in open_shards]
        self.fetched_at = fetched_at
        self._by_key: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def shard_of(self, partition_key: str) -> int:
        index = self._by_key.get(partition_key)
        if index is None:
            if len(self._by_key) >= _KEY_CACHE_LIMIT:
                self._by_key.clear()
            index = max(0, bisect.bisect_right(self.starts, hash_key(partition_key)) - 1)
            self._by_key[partition_key] = index
        return index


class ShardWindow:
    """What one shard was sent in the last second: (answered at, records, bytes) per call."""

    __slots__ = ("byte_total", "charges", "record_total")

    def __init__(self) -> None:
        self.charges: deque[tuple[float, int, int]] = deque()
        self.record_total = 0
        self.byte_total = 0

    def forget_before(self, moment: float) -> None:
        charges = self.charges
        while charges and charges[0][0] <= moment:
            _, records, size = charges.popleft()
            self.record_total -= records
            self.byte_total -= size

    def charge(self, moment: float, records: int, size: int) -> None:
        self.charges.append((moment, records, size))
        self.record_total += records
        self.byte_total += size

    def frees_at(self) -> float | None:
        return self.charges[0][0] + WINDOW_SECONDS if self.charges else None


class Allowance:
    """Room left per shard for the next call (records, bytes); the scheduler draws from it."""

    __slots__ = ("byte_limit", "bytes", "records")

    def __init__(self, records: list[int], byte_room: list[int], byte_limit: int) -> None:
        self.records = records
        self.bytes = byte_room
        self.byte_limit = byte_limit


class ShardPacer:
    """Shard maps and one-second windows per target stream; kept across invocations."""

    def __init__(
        self,
        records_per_second: int,
        bytes_per_second: int,
        max_age: float,
        clock: Any,
        logger: JsonLogger,
    ) -> None:
        self.records_per_second = records_per_second
        self.bytes_per_second = bytes_per_second
        self.max_age = max_age
        self._clock = clock
        self._log = logger
        self._maps: dict[str, ShardMap] = {}
        self._windows: dict[str, dict[str, ShardWindow]] = {}
        self.refreshes = 0

    def shard_map(self, stream: str, kinesis: Any) -> ShardMap | None:
        """The stream's shard map, read again when stale; None when ListShards fails (the
        records then go unpaced, and the map is asked for again at the next batch)."""
        current = self._maps.get(stream)
        now = self._clock.monotonic()
        if current is not None and now - current.fetched_at < self.max_age:
            return current
        try:
            shards = self._list_shards(stream, kinesis)
        except Exception as exc:  # pacing is an optimisation: never fail the batch for it
            self._log.warning(
                "shard_map_unavailable",
                stream=stream,
                error=type(exc).__name__,
                action="records go unpaced until the map can be read",
            )
            self._maps.pop(stream, None)
            return None
        fresh = ShardMap(shards, now)
        self._maps[stream] = fresh
        self.refreshes += 1
        return fresh if len(fresh) else None

    def invalidate(self, stream: str) -> None:
        self._maps.pop(stream, None)

    def allowance(self, stream: str, shard_map: ShardMap | None) -> Allowance | None:
        if shard_map is None:
            return None
        windows = self._windows.setdefault(stream, {})
        horizon = self._clock.monotonic() - WINDOW_SECONDS
        records, room = [], []
        for shard_id in shard_map.ids:
            window = windows.get(shard_id)
            if window is None:
                window = windows[shard_id] = ShardWindow()
            window.forget_before(horizon)
            records.append(self.records_per_second - window.record_total)
            room.append(self.bytes_per_second - window.byte_total)
        return Allowance(records, room, self.bytes_per_second)

    def charge(self, stream: str, per_shard: dict[str, list[int]]) -> None:
        """Charge one answered (or failed) call: shard id -> [records, bytes]."""
        windows = self._windows.setdefault(stream, {})
        now = self._clock.monotonic()
        for shard_id, (records, size) in per_shard.items():
            window = windows.get(shard_id)
            if window is None:
                window = windows[shard_id] = ShardWindow()
            window.charge(now, records, size)

    def seconds_until_room(self, stream: str, shard_map: ShardMap, shard: int) -> float:
        window = self._windows.get(stream, {}).get(shard_map.ids[shard])
        frees_at = window.frees_at() if window is not None else None
        if frees_at is None:
            return 0.0
        return max(0.0, frees_at - self._clock.monotonic())

    def _list_shards(self, stream: str, kinesis: Any) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {"StreamName": stream}
        while True:
            page = kinesis.list_shards(**arguments)
            shards.extend(page.get("Shards") or [])
            token = page.get("NextToken")
            if not token:
                return shards
            arguments = {"NextToken": token}
