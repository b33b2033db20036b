"""Pacing per target shard: never more than a shard's write limits in any one-second window.

Kinesis maps a partition key to a shard by the MD5 of the key read as a 128-bit integer, which
falls in exactly one open shard's hash key range
(https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecords.html). A shard accepts
1,000 records and 1 MiB per second
(https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html); AWS does not say
over which window it measures, so the pacer takes the strictest reading: in *any* one-second
window. Each call's entries are charged to their shards when the call is answered (the latest
moment they can have arrived; to the shard the answer names, else the one the map predicts),
and a call only takes a record while its shard's charges leave room for it in the second before
the call's own answer: the charges older than that second, taken as the fastest of the last 20
answer times from now, do not count. (Counting the second before *now* would leave a shard one
answer time short of its limit in every second: 2 % at 20 ms. Both the old charges and the new
entries are timed by their answers, so a steady latency shifts them alike; a faster answer than
any of the last 20 can make the shard throttle a few entries, which are sent again.)

The window alone would let a shard take its whole second at once and then block it for a
second; with the near-prefix schedule a blocked shard holds the first unwritten record, and so
every other shard. So each shard also has a token bucket at the same rates, three cycles of
calls deep (a cycle: the recent average time from one call to the next; 5-200 ms in all):
records go out in a steady flow of one cycle's worth per call, and the window, which still
guarantees the limit, hardly ever has to stop it. A call that comes after a longer gap (a slow
answer, a busy endpoint, the next batch) may also carry what the shard's rate earned in that
gap, up to a second's worth: a slow answer then costs no throughput, and a gap delays every
shard alike, so their catch-ups go together. A record
larger than the bucket goes when the bucket is full (and the window has room), leaving a debt.

The ranges come from ListShards on the target stream through the writer role (1,000
transactions per second per stream, https://docs.aws.amazon.com/kinesis/latest/APIReference/API_ListShards.html),
cached per stream for ``shard_map_max_age_seconds`` and read again at once when an answer shows
a record in a shard the map did not predict (a resharding).
"""

from __future__ import annotations

import bisect
from collections import deque
from typing import Any

from .aggregates import partition_key_hash
from .infra import JsonLogger

WINDOW_SECONDS = 1.0
MIN_BURST_SECONDS, MAX_BURST_SECONDS = 0.005, 0.2  # how deep a bucket may be, in seconds
CYCLE_MARGIN = 3.0  # cycles a bucket holds: the call after a pause (a new batch) catches up
UNPACED = -1  # the shard index of every record while the stream's shards are unknown
_KEY_CACHE_LIMIT = 100_000
ANSWER_TIMES_KEPT = 20  # the calls whose fastest answer time is the lead


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
            index = self.shard_of_hash(partition_key_hash(partition_key))
            self._by_key[partition_key] = index
        return index

    def shards_of(self, partition_keys: list[str]) -> list[int]:
        """shard_of of every key: the known keys at once, then the others."""
        known = self._by_key.get
        shards = [known(key, UNPACED) for key in partition_keys]
        if UNPACED in shards:
            shard_of = self.shard_of
            shards = [
                shard_of(key) if shard == UNPACED else shard
                for key, shard in zip(partition_keys, shards, strict=True)
            ]
        return shards

    def shard_of_hash(self, hash_value: int) -> int:
        return max(0, bisect.bisect_right(self.starts, hash_value) - 1)


class ShardWindow:
    """What one shard was sent in the last second: (answered at, records, bytes) per call; and
    its token bucket (records and bytes at the shard's rates)."""

    __slots__ = (
        "byte_tokens",
        "byte_total",
        "charges",
        "record_tokens",
        "record_total",
        "refilled",
    )

    def __init__(self) -> None:
        self.charges: deque[tuple[float, int, int]] = deque()
        self.record_total = 0
        self.byte_total = 0
        self.record_tokens = 0.0
        self.byte_tokens = 0.0
        self.refilled: float | None = None  # None: a fresh bucket, full at its first refill

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

    def expiring_by(self, moment: float) -> tuple[int, int]:
        """Records and bytes of the charges made at or before `moment` (still in the window
        now, out of it when the next call's entries are answered)."""
        records = size = 0
        for at, count, length in self.charges:
            if at > moment:
                break
            records += count
            size += length
        return records, size

    def frees_at(self, moment: float) -> float | None:
        """When the oldest charge after `moment` leaves the window."""
        for at, _, _ in self.charges:
            if at > moment:
                return at + WINDOW_SECONDS
        return None


class Allowance:
    """Room per shard for the next call; the scheduler takes from it record by record.

    A record of ``size`` bytes may go to a shard with a record left when it fits the bucket's
    bytes (or the bucket is full: one larger record, a debt) and the window's bytes (or the
    window is empty: one record of any size). Taking a record ends both exceptions.

    ``room`` is the bytes that fit both, less what was taken: schedule.CallScheduler.take takes
    a record within it inline (it runs once per record) and asks ``allows_beyond_room`` about a
    larger one. ``bucket`` and ``window`` stay as they were when the allowance was sealed."""

    __slots__ = ("bucket", "full", "idle", "records", "room", "start", "window")

    def __init__(self, shards: int) -> None:
        self.records = [0] * shards
        self.bucket = [0.0] * shards
        self.window = [0.0] * shards
        self.full = [False] * shards
        self.idle = [False] * shards
        self.room: list[float] = []
        self.start: tuple[list[int], list[float]] = ([], [])

    def seal(self) -> None:
        """Remember the room before the scheduler takes from it."""
        self.room = list(map(min, self.bucket, self.window))
        self.start = (list(self.records), list(self.room))

    def allows_beyond_room(self, shard: int, size: int) -> bool:
        """Whether a record larger than the shard's room may go (the shard has a record left):
        each limit it does not fit has its exception."""
        records, room = self.start
        taken = room[shard] - self.room[shard]
        untouched = self.records[shard] == records[shard]
        fits_bucket = size <= self.bucket[shard] - taken or (self.full[shard] and untouched)
        fits_window = size <= self.window[shard] - taken or (self.idle[shard] and untouched)
        return fits_bucket and fits_window

    def taken(self) -> dict[int, list]:
        """Shard index -> [records, bytes] the scheduler took."""
        records, room = self.start
        return {
            shard: [records[shard] - left, room[shard] - self.room[shard]]
            for shard, left in enumerate(self.records)
            if left != records[shard]
        }


class ShardPacer:
    """Shard maps, one-second windows and token buckets per target stream; kept across
    invocations."""

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
        self.cycle_seconds = 0.05  # the recent time from one call to the next
        self._last_took: float | None = None
        self._answer_times: deque[float] = deque(maxlen=ANSWER_TIMES_KEPT)
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

    def _window(self, stream: str, shard_id: str) -> ShardWindow:
        windows = self._windows.setdefault(stream, {})
        window = windows.get(shard_id)
        if window is None:
            window = windows[shard_id] = ShardWindow()
        return window

    def _depth(self) -> tuple[float, float]:
        seconds = self.cycle_seconds * CYCLE_MARGIN
        seconds = min(MAX_BURST_SECONDS, max(MIN_BURST_SECONDS, seconds))
        return self.records_per_second * seconds, self.bytes_per_second * seconds

    def _refill(self, window: ShardWindow, now: float) -> tuple[float, float]:
        deep_records, deep_bytes = self._depth()
        if window.refilled is None:
            window.record_tokens, window.byte_tokens = deep_records, deep_bytes
        else:
            earned = min(now - window.refilled, WINDOW_SECONDS)
            earned_records = earned * self.records_per_second
            earned_bytes = earned * self.bytes_per_second
            window.record_tokens = min(
                max(deep_records, earned_records), window.record_tokens + earned_records
            )
            window.byte_tokens = min(
                max(deep_bytes, earned_bytes), window.byte_tokens + earned_bytes
            )
        window.refilled = now
        return deep_records, deep_bytes

    def answer_lead(self) -> float:
        """How soon after it goes a call is answered at the earliest: the fastest of the recent
        calls (0 before the first)."""
        return min(self._answer_times, default=0.0)

    def allowance(self, stream: str, shard_map: ShardMap | None) -> Allowance | None:
        """Room per shard for the next call: what both the window and the bucket allow. The
        window is the one the call's entries will be charged in: the second before its answer,
        no sooner than `answer_lead` from now (charges older than that second leave it)."""
        if shard_map is None:
            return None
        now = self._clock.monotonic()
        expiring_moment = now + self.answer_lead() - WINDOW_SECONDS
        allowance = Allowance(len(shard_map))
        for index, shard_id in enumerate(shard_map.ids):
            window = self._window(stream, shard_id)
            window.forget_before(now - WINDOW_SECONDS)
            expiring_records, expiring_bytes = window.expiring_by(expiring_moment)
            _, deep_bytes = self._refill(window, now)
            allowance.records[index] = int(
                min(
                    self.records_per_second - window.record_total + expiring_records,
                    window.record_tokens,
                )
            )
            allowance.bucket[index] = window.byte_tokens
            allowance.window[index] = self.bytes_per_second - window.byte_total + expiring_bytes
            allowance.full[index] = window.byte_tokens >= deep_bytes
            allowance.idle[index] = not window.charges
        allowance.seal()
        return allowance

    def took(self, stream: str, shard_map: ShardMap, per_shard: dict[int, list[int]]) -> None:
        """A call is about to go: take its records and bytes from the shards' buckets, and
        learn how long a cycle of calls lasts (the time since the previous call went)."""
        now = self._clock.monotonic()
        if self._last_took is not None and now - self._last_took < MAX_BURST_SECONDS:
            self.cycle_seconds += 0.2 * (now - self._last_took - self.cycle_seconds)
        self._last_took = now
        for index, (records, size) in per_shard.items():
            window = self._window(stream, shard_map.ids[index])
            window.record_tokens -= records
            window.byte_tokens -= size

    def charge(
        self, stream: str, per_shard: dict[str, list[int]], answered: float | None = None
    ) -> None:
        """Charge one answered (or failed) call: shard id -> [records, bytes], at the moment
        the answer came (now when not given)."""
        moment = self._clock.monotonic() if answered is None else answered
        if self._last_took is not None:
            self._answer_times.append(moment - self._last_took)
        for shard_id, (records, size) in per_shard.items():
            self._window(stream, shard_id).charge(moment, records, size)

    def seconds_until_room(self, stream: str, shard_map: ShardMap, shard: int, size: int) -> float:
        """How long until the shard has room for one record of ``size`` bytes."""
        window = self._window(stream, shard_map.ids[shard])
        now = self._clock.monotonic()
        lead = self.answer_lead()
        expiring_moment = now + lead - WINDOW_SECONDS
        expiring_records, expiring_bytes = window.expiring_by(expiring_moment)
        _, deep_bytes = self._depth()
        waits = [
            max(0.0, 1.0 - window.record_tokens) / self.records_per_second,
            max(0.0, min(size, deep_bytes) - window.byte_tokens) / self.bytes_per_second,
        ]
        full = window.record_total - expiring_records >= self.records_per_second or (
            window.byte_total - expiring_bytes + size > self.bytes_per_second
        )
        frees_at = window.frees_at(expiring_moment)
        if full and frees_at is not None:
            waits.append(frees_at - lead - now)
        return max(0.0, *waits)

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
