"""One copy pass over an S3 location: list source and target side by side, copy what differs
with bounded parallelism, checkpoint a watermark (every key at or below it is done) as it moves.

Objects finish out of order; the watermark only passes a key once every key before it has
finished, so a resumed pass starts listing after the watermark and copies again at most the
objects that were in flight (multipart copies resume from their finished parts).
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from turnout.datastores.checkpoint import Checkpoint
from turnout.datastores.ratelimit import RateLimiter
from turnout.datastores.s3_copy import MIB, ObjectCopier, UploadBook
from turnout.datastores.s3_objects import list_objects, paired, same_content
from turnout.spec.datastores import S3DataStore

TOTALS = ("copied", "copied_bytes", "identical", "parts_resumed")


class Watermark:
    """The last key such that it and every key listed before it are done."""

    def __init__(self, start: str | None) -> None:
        self.mark = start
        self._pending: deque[str] = deque()
        self._done: set[str] = set()

    def add(self, key: str) -> None:
        self._pending.append(key)

    def finish(self, key: str) -> None:
        self._done.add(key)
        while self._pending and self._pending[0] in self._done:
            self.mark = self._pending.popleft()
            self._done.discard(self.mark)


@dataclass
class CopyStopped(Exception):
    """A pass stopped on an object; the checkpoint holds everything done before it."""

    key: str
    problem: BaseException
    counts: dict


@dataclass
class S3CopyPass:
    s3: Any
    store: S3DataStore
    checkpoint: Checkpoint
    save: Callable[[Checkpoint], None]
    progress: Callable[[str], None]
    skip_key: str | None = None  # the manifest, in the target bucket
    clock: Callable[[], float] = time.monotonic
    save_every_seconds: float = 2.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> dict:
        state = self.checkpoint.progress
        for name in TOTALS:
            state.setdefault(name, 0)
        state.setdefault("uploads", {})
        watermark = Watermark(state.get("after"))
        this_run: Counter = Counter()
        started = last_save = last_note = self.clock()
        failure: CopyStopped | None = None
        copier = self._copier(state)
        in_flight: dict[Future, str] = {}
        with ThreadPoolExecutor(self.store.parallelism, thread_name_prefix="s3-copy") as pool:
            for source, target in self._pairs(watermark.mark):
                if failure is not None:
                    break
                if source is None:
                    continue  # only in the target: the verification lists it
                watermark.add(source.key)
                target_key = self.store.target_prefix + source.key
                if target is not None and same_content(
                    self.s3, source, target, self.store.target_bucket, target_key
                ):
                    self._finished(state, watermark, source.key, this_run, {"identical": 1})
                    continue
                while len(in_flight) >= 2 * self.store.parallelism and failure is None:
                    failure = self._collect(in_flight, state, watermark, this_run)
                in_flight[pool.submit(copier.copy, source)] = source.key
                now = self.clock()
                if now - last_save >= self.save_every_seconds:
                    self._save(state, watermark)
                    last_save = now
                if now - last_note >= self.save_every_seconds:
                    self._note(this_run, len(in_flight), now - started)
                    last_note = now
            while in_flight:
                failure = self._collect(in_flight, state, watermark, this_run) or failure
        self._save(state, watermark)
        counts = {"this_run": dict(this_run), **{name: state[name] for name in TOTALS}}
        if failure is not None:
            failure.counts = counts
            raise failure
        self._note(this_run, 0, self.clock() - started)
        return counts

    def _pairs(self, after: str | None):
        store = self.store
        source = list_objects(self.s3, store.source_bucket, store.source_prefix, after)
        target = list_objects(
            self.s3, store.target_bucket, store.target_prefix, after, skip=self.skip_key
        )
        return paired(source, target)

    def _copier(self, state: dict) -> ObjectCopier:
        store = self.store
        return ObjectCopier(
            s3=self.s3,
            source_bucket=store.source_bucket,
            source_prefix=store.source_prefix,
            target_bucket=store.target_bucket,
            target_prefix=store.target_prefix,
            multipart_threshold=store.multipart_threshold_mib * MIB,
            part_size=store.part_size_mib * MIB,
            limiter=RateLimiter(store.max_requests_per_second),
            book=UploadBook(persist=self._uploads_changed, uploads=dict(state["uploads"])),
        )

    def _collect(
        self, in_flight: dict[Future, str], state: dict, watermark: Watermark, this_run: Counter
    ) -> CopyStopped | None:
        """Wait for at least one copy to end; account for every ended one."""
        done, _ = wait(
            list(in_flight), timeout=self.save_every_seconds, return_when=FIRST_COMPLETED
        )
        failure = None
        for future in done:
            key = in_flight.pop(future)
            problem = future.exception()
            if problem is not None:
                failure = failure or CopyStopped(key, problem, {})
                continue
            outcome = future.result()
            self._finished(
                state,
                watermark,
                key,
                this_run,
                {
                    "copied": 1,
                    "copied_bytes": outcome["bytes"],
                    "parts_resumed": outcome["parts_resumed"],
                },
            )
        return failure

    def _finished(
        self, state: dict, watermark: Watermark, key: str, this_run: Counter, counts: dict
    ) -> None:
        with self._lock:
            for name, value in counts.items():
                state[name] += value
                this_run[name] += value
            watermark.finish(key)

    def _uploads_changed(self, uploads: dict) -> None:
        with self._lock:
            self.checkpoint.progress["uploads"] = uploads
            self.save(self.checkpoint)

    def _save(self, state: dict, watermark: Watermark) -> None:
        with self._lock:
            state["after"] = watermark.mark
            self.save(self.checkpoint)

    def _note(self, this_run: Counter, in_flight: int, seconds: float) -> None:
        self.progress(
            f"data store {self.store.name}: s3://{self.store.source} -> s3://{self.store.target}: "
            f"{this_run['copied']:,} copied ({this_run['copied_bytes'] / MIB:,.1f} MiB), "
            f"{this_run['identical']:,} already identical, {in_flight} in flight, "
            f"{seconds:,.0f} s"
        )
