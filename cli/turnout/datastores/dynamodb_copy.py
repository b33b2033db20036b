"""Copy a DynamoDB table: parallel scan segments of the source (old credentials, consistent
reads), BatchWriteItem into the target (new credentials) at a bounded item rate, unprocessed
items retried with backoff, a checkpoint per segment after every page written.

A segment's checkpoint is the scan position after its last fully written page, so a killed
copy reads and writes again at most one page per segment; writing an item twice puts the same
item (idempotent). The segment count of a copy in progress is kept: a changed `segments`
starts the copy over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from turnout.datastores.checkpoint import Checkpoint
from turnout.datastores.ratelimit import RateLimiter
from turnout.spec.datastores import DynamoDbDataStore

BATCH = 25  # BatchWriteItem takes at most 25 put requests
# (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html)
WRITE_ATTEMPTS = 12


class UnprocessedItems(Exception):
    """BatchWriteItem kept returning unprocessed items after every retry."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} item(s) still unprocessed after {WRITE_ATTEMPTS} attempts")
        self.count = count


@dataclass
class SegmentStopped(Exception):
    segment: int
    problem: BaseException


@dataclass
class DynamoDbCopy:
    source: Any  # dynamodb client of the old environment
    target: Any  # dynamodb client of the new environment
    store: DynamoDbDataStore
    checkpoint: Checkpoint
    save: Callable[[Checkpoint], None]
    progress: Callable[[str], None]
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    note_every_seconds: float = 2.0
    _last_note: float = float("-inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> dict:
        state = self._state()
        limiter = RateLimiter(self.store.max_write_items_per_second, sleep=self.sleep)
        started = self.clock()
        written_before = sum(p["items"] for p in state["positions"].values())
        pending = [int(n) for n, p in sorted(state["positions"].items()) if not p["done"]]
        with ThreadPoolExecutor(max(1, len(pending)), thread_name_prefix="ddb-copy") as pool:
            futures = [pool.submit(self._segment, n, state, limiter) for n in pending]
            while not all(future.done() for future in futures):
                time.sleep(min(0.2, self.note_every_seconds))
                self._note(state, written_before, started)
            stopped = [f.exception() for f in futures if f.exception() is not None]
        written = sum(p["items"] for p in state["positions"].values())
        counts = {"items_written": written, "this_run": {"items_written": written - written_before}}
        if stopped:
            raise stopped[0]
        self._note(state, written_before, started, force=True)
        return counts

    def _state(self) -> dict:
        state = self.checkpoint.progress
        if state.get("segments") != self.store.segments or "positions" not in state:
            state.clear()
            state["segments"] = self.store.segments
            state["positions"] = {
                str(n): {"after": None, "done": False, "items": 0}
                for n in range(self.store.segments)
            }
        return state

    def _segment(self, segment: int, state: dict, limiter: RateLimiter) -> None:
        position = state["positions"][str(segment)]
        try:
            while not self._stop.is_set():
                arguments: dict[str, Any] = {
                    "TableName": self.store.source,
                    "Segment": segment,
                    "TotalSegments": self.store.segments,
                    "ConsistentRead": True,
                    "Limit": self.store.page_size,
                }
                if position["after"] is not None:
                    arguments["ExclusiveStartKey"] = position["after"]
                page = self.source.scan(**arguments)
                items = page.get("Items", [])
                for first in range(0, len(items), BATCH):
                    self._write(items[first : first + BATCH], limiter)
                with self._lock:
                    position["items"] += len(items)
                    position["after"] = page.get("LastEvaluatedKey")
                    position["done"] = position["after"] is None
                    self.save(self.checkpoint)
                if position["done"]:
                    return
        except Exception as problem:
            self._stop.set()  # the other segments stop after their current page
            raise SegmentStopped(segment, problem) from None

    def _write(self, items: list[dict], limiter: RateLimiter) -> None:
        limiter.acquire(len(items))
        requests = [{"PutRequest": {"Item": item}} for item in items]
        for attempt in range(WRITE_ATTEMPTS):
            answer = self.target.batch_write_item(RequestItems={self.store.target: requests})
            requests = (answer.get("UnprocessedItems") or {}).get(self.store.target) or []
            if not requests:
                return
            self.sleep(min(2.0, 0.05 * 2**attempt))
        raise UnprocessedItems(len(requests))

    def _note(self, state: dict, written_before: int, started: float, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_note < self.note_every_seconds:
            return
        self._last_note = now
        with self._lock:
            written = sum(p["items"] for p in state["positions"].values())
            finished = sum(1 for p in state["positions"].values() if p["done"])
        self.progress(
            f"data store {self.store.name}: dynamodb {self.store.source} -> {self.store.target}: "
            f"{written:,} items written ({written - written_before:,} in this run), "
            f"{finished}/{self.store.segments} segments done, {now - started:,.0f} s"
        )
