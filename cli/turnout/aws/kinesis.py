"""Reading Kinesis shards: listing them (open and closed), their lineage, and paced reads.

Everything here works the same on AWS and on the local emulator.

Read limits. A shard serves 5 GetRecords calls per second, shared by *every* reader (the live
consumers too). `ShardReader` therefore paces itself to at most `reads_per_second` (default 2)
GetRecords calls per shard, and as many GetShardIterator calls, so that a drain check never
throttles the consumers it is watching. Time comes from injected `clock`/`sleep` functions, so
unit tests run without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# KCL checkpoint sentinels (and the shard-iterator types of the same names).
SENTINELS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP", "SHARD_END")


def sequence_int(sequence_number: str) -> int:
    """Sequence numbers grow within a shard; compare them as integers, never as strings."""
    return int(sequence_number)


def list_shards(kinesis: Any, stream: str) -> list[dict]:
    """Every shard of a stream still in retention, open and closed, in ListShards order.
    `stream`: its name, or its ARN (a stream of another account is named by ARN)."""
    shards: list[dict] = []
    token: str | None = None
    first = {"StreamARN" if stream.startswith("arn:") else "StreamName": stream}
    while True:
        page = kinesis.list_shards(NextToken=token) if token else kinesis.list_shards(**first)
        shards.extend(page.get("Shards", []))
        token = page.get("NextToken")
        if not token:
            return shards


def is_open(shard: dict) -> bool:
    return "EndingSequenceNumber" not in shard.get("SequenceNumberRange", {})


def children_of(shards: Iterable[dict], shard_id: str) -> list[dict]:
    """Shards whose parent or adjacent parent is `shard_id` (split: two children; merge: one)."""
    return [
        shard
        for shard in shards
        if shard_id in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId"))
    ]


def open_descendants(shards: list[dict], shard_id: str) -> list[dict]:
    """The open shards a closed shard's hash range now lives in (children, grandchildren ...)."""
    found: dict[str, dict] = {}
    seen: set[str] = set()
    pending = [shard_id]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for child in children_of(shards, current):
            if is_open(child):
                found[child["ShardId"]] = child
            else:
                pending.append(child["ShardId"])
    return list(found.values())


def describe_stream_arn(kinesis: Any, stream_name: str) -> str:
    """The ARN the service reports for a stream (it also proves the stream exists)."""
    return kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"][
        "StreamARN"
    ]


def arrival_seconds(record: dict) -> float:
    value = record.get("ApproximateArrivalTimestamp")
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value or 0.0)


# --------------------------------------------------------------------------- reading


@dataclass
class ScanResult:
    """What a read of one shard from a position to its end (or to a call budget) saw."""

    count: int = 0
    first: dict | None = None
    last: dict | None = None
    complete: bool = True  # False: the call budget ran out before the end of the shard

    @property
    def newest_arrival(self) -> float | None:
        return arrival_seconds(self.last) if self.last else None

    def summary(self) -> dict:
        return {
            "records": self.count,
            "complete": self.complete,
            "first_sequence_number": self.first["SequenceNumber"] if self.first else None,
            "last_sequence_number": self.last["SequenceNumber"] if self.last else None,
        }


@dataclass
class ShardReader:
    """Paced GetShardIterator/GetRecords over one Kinesis client."""

    kinesis: Any
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    reads_per_second: float = 2.0
    _last_call: dict[tuple[str, str, str], float] = field(default_factory=dict)
    calls: int = 0

    def _pace(self, kind: str, stream: str, shard: str) -> None:
        key = (kind, stream, shard)
        interval = 1.0 / self.reads_per_second
        last = self._last_call.get(key)
        if last is not None:
            wait = last + interval - self.clock()
            if wait > 0:
                self.sleep(wait)
        self._last_call[key] = self.clock()
        self.calls += 1

    def iterator(
        self,
        stream: str,
        shard: str,
        iterator_type: str,
        sequence_number: str | None = None,
        timestamp: float | None = None,
    ) -> str:
        arguments: dict[str, Any] = {
            "StreamName": stream,
            "ShardId": shard,
            "ShardIteratorType": iterator_type,
        }
        if sequence_number is not None:
            arguments["StartingSequenceNumber"] = sequence_number
        if timestamp is not None:
            arguments["Timestamp"] = timestamp
        self._pace("iterator", stream, shard)
        return self.kinesis.get_shard_iterator(**arguments)["ShardIterator"]

    def get_records(self, stream: str, shard: str, iterator: str, limit: int | None = None) -> dict:
        self._pace("records", stream, shard)
        arguments: dict[str, Any] = {"ShardIterator": iterator}
        if limit is not None:
            arguments["Limit"] = limit
        return self.kinesis.get_records(**arguments)

    def start_iterator(self, stream: str, shard: str, after: str | None) -> str:
        """TRIM_HORIZON when `after` is None, else AFTER_SEQUENCE_NUMBER `after`."""
        if after is None:
            return self.iterator(stream, shard, "TRIM_HORIZON")
        return self.iterator(stream, shard, "AFTER_SEQUENCE_NUMBER", sequence_number=after)

    def scan(
        self,
        stream: str,
        shard: str,
        after: str | None = None,
        *,
        max_calls: int = 20,
        stop_at_first: bool = False,
    ) -> ScanResult:
        """Read a shard after `after` (None: from TRIM_HORIZON) to its end.

        The end is reached when the shard is closed and read through (no NextShardIterator) or
        when GetRecords returns nothing and MillisBehindLatest is 0. (AWS may return an empty
        page while records remain further on, with MillisBehindLatest > 0: keep reading.)
        """
        result = ScanResult()
        iterator: str | None = self.start_iterator(stream, shard, after)
        for _ in range(max_calls):
            if iterator is None:
                return result
            page = self.get_records(stream, shard, iterator, limit=1 if stop_at_first else None)
            records = page.get("Records", [])
            if records:
                result.count += len(records)
                result.first = result.first or records[0]
                result.last = records[-1]
                if stop_at_first:
                    return result
            iterator = page.get("NextShardIterator")
            if not records and page.get("MillisBehindLatest", 0) == 0:
                return result
        result.complete = iterator is None
        return result

    def first_record_after(self, stream: str, shard: str, after: str | None) -> dict | None:
        """The first record after `after` (None: the shard's first record), or None."""
        return self.scan(stream, shard, after, stop_at_first=True).first
