"""Concurrent batches per shard (``ParallelizationFactor``) and the checkpoint over them.

AWS: "the number of batches to process from each shard concurrently" (1 to 10), and "Lambda
still ensures in-order processing at the partition-key level"
(https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html,
ParallelizationFactor; https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html). How AWS
assigns keys to its concurrent batches is not documented; here a record goes to one of
``factor`` lanes by its partition key's MD5 hash (the hash Kinesis routes by), split into equal
ranges. Each lane runs one batch at a time, in shard order, so the records of one key are never
in two batches at once; with a factor of 1 there is one lane.

Every lane runs its batch in a thread of its own, so the poller reads the shard's next records
while a batch is in the function (at most two batches' worth buffered per lane, ``room``): the
next batch starts as soon as the function returns, not one GetRecords round trip later. AWS
does not document whether its pollers read ahead; nothing of the delivery depends on it (a lane
still runs its batches in order, one at a time, and the checkpoint only covers finished records).

The shard's checkpoint advances only over the longest prefix of read records that are all
finished (processed or discarded), whatever lane they were in: a restart resumes after it and
may process again records a faster lane had finished (at-least-once, as on AWS).
"""

from __future__ import annotations

import collections
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .batches import Abandon, BatchRun, Records
from .config import MappingConfig
from .log import log_event

if TYPE_CHECKING:
    from .poller import ShardPoller

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous invocation payload limit
RECORD_OVERHEAD = 512  # JSON around one record in the event, roughly


def lane_of(partition_key: str, factor: int) -> int:
    """The lane (0 .. factor-1) of a partition key."""
    if factor <= 1:
        return 0
    hash_key = int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")
    return hash_key * factor >> 128


def take_batch(records: Records, batch_size: int) -> Records:
    """The first records that fit one invocation: ``batch_size`` and the 6 MB payload."""
    size = 0
    batch: Records = []
    for record in records[:batch_size]:
        rsize = len(record["Data"]) * 4 // 3 + len(record["PartitionKey"]) + RECORD_OVERHEAD
        if batch and size + rsize > MAX_PAYLOAD_BYTES:
            break
        batch.append(record)
        size += rsize
    return batch


class ShardProgress:
    """The checkpoint of one (mapping, shard) over records finished in any order."""

    def __init__(self, save: Callable[[str], Any]) -> None:
        self._save = save
        self._lock = threading.Lock()
        self._order: collections.deque[str] = collections.deque()  # read, in shard order
        self._done: set[str] = set()

    def read(self, records: Records) -> None:
        with self._lock:
            self._order.extend(r["SequenceNumber"] for r in records)

    def finish(self, records: Records) -> None:
        with self._lock:
            self._done.update(r["SequenceNumber"] for r in records)
            last = None
            while self._order and self._order[0] in self._done:
                last = self._order.popleft()
                self._done.discard(last)
            if last is not None:
                self._save(last)


@dataclass
class Lane:
    records: Records = field(default_factory=list)
    first_buffered: float | None = None
    busy: bool = False


class LaneSet:
    """The lanes of one shard poller: buffered records per lane, one batch in flight per lane."""

    def __init__(self, poller: ShardPoller, progress: ShardProgress, factor: int) -> None:
        self.poller = poller
        self.progress = progress
        self.factor = factor
        self.lanes = [Lane() for _ in range(factor)]
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.changed = threading.Event()  # a lane finished a batch

    def queued(self) -> int:
        with self._lock:
            return sum(len(lane.records) for lane in self.lanes)

    def idle(self) -> bool:
        """Nothing buffered and nothing in flight."""
        with self._lock:
            return not any(lane.records or lane.busy for lane in self.lanes)

    def room(self, cfg: MappingConfig) -> bool:
        """Whether to read more. A new ParallelizationFactor takes effect once every lane is
        idle, so that one key is never in two lanes."""
        wanted = cfg.parallelization_factor
        if wanted != self.factor:
            if not self.idle():
                return False
            self.factor = wanted
            self.lanes = [Lane() for _ in range(wanted)]
        return self.queued() < max(2 * cfg.batch_size * self.factor, 100)

    def add(self, records: Records) -> None:
        now = time.monotonic()
        with self._lock:
            for record in records:
                lane = self.lanes[lane_of(record["PartitionKey"], self.factor)]
                lane.records.append(record)
                if lane.first_buffered is None:
                    lane.first_buffered = now

    def dispatch(self, cfg: MappingConfig, at_end: bool) -> tuple[bool, float | None]:
        """Start a batch in every free lane whose batch is ready. Returns (started anything,
        seconds until a lane's batching window closes)."""
        started, pause = False, None
        for lane in list(self.lanes):
            with self._lock:
                if lane.busy or not lane.records:
                    continue
                assert lane.first_buffered is not None
                left = cfg.batching_window - (time.monotonic() - lane.first_buffered)
                if len(lane.records) < cfg.batch_size and left > 0 and not at_end:
                    pause = left if pause is None else min(pause, left)
                    continue
                batch = take_batch(lane.records, cfg.batch_size)
                del lane.records[: len(batch)]
                lane.first_buffered = time.monotonic() if lane.records else None
                lane.busy = True
            started = True
            self._start(lane, batch)
        return started, pause

    def _run(self, lane: Lane, batch: Records) -> None:
        try:
            BatchRun(self.poller, batch, self.progress.finish).run()
        finally:
            with self._lock:
                lane.busy = False
            self.changed.set()

    def _start(self, lane: Lane, batch: Records) -> None:
        def run() -> None:
            try:
                self._run(lane, batch)
            except Abandon:
                pass
            except Exception as exc:  # the poller restarts from its checkpoint
                log_event("lane_failed", logging.ERROR, **self.poller.fields(error=repr(exc)))
                self.poller.stop_event.set()

        thread = threading.Thread(target=run, daemon=True, name=f"{self.poller.name}-lane")
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def join(self) -> None:
        """Wait for the batches in flight (they finish, or abandon when stopping)."""
        for thread in list(self._threads):
            thread.join()
