"""Read the shards verify compares: every shard of a stream (open and closed parents still in
retention), concurrently, each from AT_TIMESTAMP `since` to the tip snapshot, within a share of
the shard's read limit.

Read limits. A shard serves 5 GetRecords calls/s shared by every reader, the live consumers
included. Each shard is read by one worker at most `reads_per_second` times per second (default
1: a fifth of the shard's budget), and a `ProvisionedThroughputExceededException` backs off
exponentially before the same call is tried again. Only digests are kept, never payloads.

The tip. The run snapshots the time before reading (`tip`); a record that arrived after it is out
of scope (counted as `after_tip`) and ends that shard's read, so writes during the run cannot
make it endless.

Enhanced fan-out (SubscribeToShard, 2 MB/s per consumer) is not implemented: the local emulator
(moto) has no SubscribeToShard to test it against. `--efo` says so and reads by polling.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code
from turnout.aws.kinesis import arrival_seconds, list_shards
from turnout.spec.names import MARKER_KEY_PREFIX
from turnout.verify.compare import Seen, digest

GET_RECORDS_LIMIT = 10_000  # AWS's maximum per call (moto has no default limit)
MAX_BACKOFF_SECONDS = 10.0
MAX_THROTTLED_RETRIES = 20

EFO_NOT_AVAILABLE = (
    "enhanced fan-out reading (SubscribeToShard) is not available in this version of turnout "
    "(the local emulator has no SubscribeToShard to prove it against); reading with GetRecords "
    "within --max-reads-per-shard-per-second instead."
)


class KeySample:
    """A deterministic subset of partition keys: a key is in or out on both sides alike."""

    def __init__(self, fraction: float):
        self.fraction = fraction
        self._bound = int(fraction * 2**64)

    def __contains__(self, key: str) -> bool:
        if self.fraction >= 1:
            return True
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") < self._bound


@dataclass(frozen=True)
class ReadWindow:
    """Where one side's reading starts and how its edge records are flagged."""

    since: float
    tip: float
    edge_after: float | None = None  # new side: arrived after this = in the in-flight tail
    edge_before: float | None = None  # old side: arrived before this = head window

    def is_edge(self, arrival: float) -> bool:
        if self.edge_after is not None and arrival > self.edge_after:
            return True
        return self.edge_before is not None and arrival < self.edge_before


@dataclass
class ShardRead:
    side: str
    stream: str
    shard_id: str
    depth: int
    open: bool
    records: int = 0
    after_tip: int = 0
    markers: int = 0
    not_sampled: int = 0
    calls: int = 0
    throttled: int = 0
    seconds: float = 0.0
    by_key: dict[str, list[Seen]] = field(default_factory=lambda: defaultdict(list))

    def summary(self) -> dict:
        return {
            "records": self.records,
            "after_tip": self.after_tip,
            "markers_skipped": self.markers,
            "not_sampled": self.not_sampled,
            "get_records_calls": self.calls,
            "throttled": self.throttled,
            "open": self.open,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class ShardReaderSettings:
    reads_per_second: float = 1.0
    sample: KeySample = field(default_factory=lambda: KeySample(1.0))
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    progress: Callable[[str], None] = lambda message: None
    progress_every_seconds: float = 30.0


def shard_depths(shards: list[dict]) -> dict[str, int]:
    """Generation of each shard (0: no parent in retention): a key's records in a parent come
    before its records in the children."""
    by_id = {shard["ShardId"]: shard for shard in shards}
    depths: dict[str, int] = {}

    def depth(shard_id: str) -> int:
        if shard_id not in depths:
            shard = by_id[shard_id]
            parents = [
                parent
                for parent in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId"))
                if parent in by_id
            ]
            depths[shard_id] = 1 + max(map(depth, parents)) if parents else 0
        return depths[shard_id]

    for shard_id in by_id:
        depth(shard_id)
    return depths


def read_shard(
    kinesis: Any,
    side: str,
    stream: str,
    shard: dict,
    depth: int,
    window: ReadWindow,
    settings: ShardReaderSettings,
) -> ShardRead:
    """Read one shard from `window.since` to the tip; keep each sampled record's digest."""
    result = ShardRead(
        side,
        stream,
        shard["ShardId"],
        depth,
        open="EndingSequenceNumber" not in shard.get("SequenceNumberRange", {}),
    )
    started = settings.clock()
    interval = 1.0 / settings.reads_per_second
    last_call: float | None = None
    last_sequence: str | None = None
    iterator: str | None = _iterator(kinesis, stream, result.shard_id, window.since, None)
    throttled_in_a_row = 0
    reported = started
    while iterator is not None:
        if settings.clock() - reported >= settings.progress_every_seconds:
            reported = settings.clock()
            settings.progress(
                f"verify: still reading {side} {stream}/{result.shard_id}: "
                f"{result.records:,} records so far, {reported - started:.0f} s"
            )
        if last_call is not None:
            wait = last_call + interval - settings.clock()
            if wait > 0:
                settings.sleep(wait)
        last_call = settings.clock()
        try:
            page = kinesis.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
        except ClientError as problem:
            code = error_code(problem)
            if code == "ProvisionedThroughputExceededException":
                result.throttled += 1
                throttled_in_a_row += 1
                if throttled_in_a_row > MAX_THROTTLED_RETRIES:
                    raise
                settings.sleep(min(MAX_BACKOFF_SECONDS, interval * 2**throttled_in_a_row))
                continue
            if code == "ExpiredIteratorException":
                iterator = _iterator(kinesis, stream, result.shard_id, window.since, last_sequence)
                continue
            raise
        throttled_in_a_row = 0
        result.calls += 1
        records = page.get("Records", [])
        last_sequence, reached_tip = _keep(records, result, window, settings, last_sequence)
        iterator = page.get("NextShardIterator")
        if reached_tip or (not records and page.get("MillisBehindLatest", 0) == 0):
            break
    result.seconds = settings.clock() - started
    return result


def _keep(
    records: list[dict],
    result: ShardRead,
    window: ReadWindow,
    settings: ShardReaderSettings,
    last_sequence: str | None,
) -> tuple[str | None, bool]:
    """Count one page into `result` (sampled data records by key; markers and records of keys
    outside the sample only counted); returns the last sequence number kept and whether the
    page reached past the tip."""
    reached_tip = False
    for record in records:
        arrival = arrival_seconds(record)
        if arrival > window.tip:
            result.after_tip += 1
            reached_tip = True
            continue
        last_sequence = record["SequenceNumber"]
        key = record["PartitionKey"]
        if key.startswith(MARKER_KEY_PREFIX):
            result.markers += 1
        elif key not in settings.sample:
            result.not_sampled += 1
        else:
            result.records += 1
            result.by_key[key].append(
                Seen(
                    digest(record["Data"]),
                    result.shard_id,
                    record["SequenceNumber"],
                    window.is_edge(arrival),
                )
            )
    return last_sequence, reached_tip


def _iterator(
    kinesis: Any, stream: str, shard_id: str, since: float, after: str | None
) -> str | None:
    arguments: dict[str, Any] = {"StreamName": stream, "ShardId": shard_id}
    if after is None:
        arguments["ShardIteratorType"] = "AT_TIMESTAMP"
        arguments["Timestamp"] = datetime.fromtimestamp(since, UTC)
    else:
        arguments["ShardIteratorType"] = "AFTER_SEQUENCE_NUMBER"
        arguments["StartingSequenceNumber"] = after
    return kinesis.get_shard_iterator(**arguments).get("ShardIterator")


@dataclass(frozen=True)
class StreamSide:
    """One physical stream to read: which side it is and its window."""

    logical: str
    side: str
    name: str
    kinesis: Any
    window: ReadWindow


def read_streams(
    sides: list[StreamSide],
    settings: ShardReaderSettings,
    workers: int,
    progress: Callable[[str], None],
) -> dict[tuple[str, str], list[ShardRead]]:
    """Read every shard of every stream side concurrently (at most `workers` at a time)."""
    tasks = []
    for side in sides:
        shards = list_shards(side.kinesis, side.name)
        depths = shard_depths(shards)
        tasks.extend((side, shard, depths[shard["ShardId"]]) for shard in shards)
    results: dict[tuple[str, str], list[ShardRead]] = {
        (side.logical, side.side): [] for side in sides
    }
    done = 0
    records = 0
    lock = threading.Lock()
    started = settings.clock()
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="verify") as pool:
        futures = {
            pool.submit(
                read_shard, side.kinesis, side.side, side.name, shard, depth, side.window, settings
            ): side
            for side, shard, depth in tasks
        }
        for future in as_completed(futures):
            side = futures[future]
            try:
                shard_read = future.result()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)  # one unreadable shard ends the run
                raise
            with lock:
                results[(side.logical, side.side)].append(shard_read)
                done += 1
                records += shard_read.records
            progress(
                f"verify: read {done}/{len(tasks)} shards, {records:,} records, "
                f"{settings.clock() - started:.0f} s (last: {side.side} {side.name}/"
                f"{shard_read.shard_id}, {shard_read.records:,} records)"
            )
    for reads in results.values():
        reads.sort(key=lambda read: (read.depth, read.shard_id))
    return results


def records_by_key(reads: list[ShardRead]) -> dict[str, list[Seen]]:
    """One side's records per key, in stream order (parents before children, then sequence)."""
    merged: dict[str, list[Seen]] = defaultdict(list)
    for shard_read in reads:  # sorted by (depth, shard id); each shard's list is in order
        for key, seen in shard_read.by_key.items():
            merged[key].extend(seen)
    return merged
