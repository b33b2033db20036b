"""How old the oldest record a stream still holds is, against the stream's retention, measured
from the stream itself (read-only).

While the new environment's consumers are paused (switched, mirrored), the oldest record a new
stream holds is the oldest record they have not processed: they start at TRIM_HORIZON, the oldest
untrimmed record. Per shard: GetShardIterator(TRIM_HORIZON) and GetRecords(Limit=1) give that
record's `ApproximateArrivalTimestamp` and `MillisBehindLatest`, "the number of milliseconds
the GetRecords response is from the tip of the stream, indicating how far behind current time
the consumer is" (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html).
With one record returned, that is its age on the stream's own clock: right on AWS and on the
sandbox's accelerated clock alike, where this machine's clock would be wrong.

`MillisBehindLatest` is 0 when the record returned is the shard's newest: then its age is taken
from the stream's clock as another shard showed it (its arrival + MillisBehindLatest), or, when
no shard did, from this machine's clock (said in `clock`). A GetRecords answer can be empty
although records lie further on (AWS: follow NextShardIterator): up to `PAGES` answers are read.
Retention is the stream's live `RetentionPeriodHours` (DescribeStreamSummary).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from turnout.aws.errors import READ_ERRORS
from turnout.aws.kinesis import list_shards
from turnout.errors import TurnoutError
from turnout.spec.names import names

PAGES = 5  # GetRecords answers followed per shard while they are empty and behind the tip
STREAM_CLOCK = "MillisBehindLatest"
SHARED_CLOCK = "the stream's clock, as another shard's MillisBehindLatest showed it"
MACHINE_CLOCK = "this machine's clock (no shard had a record behind its tip)"


@dataclass(frozen=True)
class ShardOldest:
    """The oldest record of one shard: None fields when the shard holds none."""

    shard_id: str
    sequence_number: str | None = None
    arrival: float | None = None  # ApproximateArrivalTimestamp, epoch seconds (stream's clock)
    behind_seconds: float = 0.0  # MillisBehindLatest of the answer that returned it
    read_at: float = 0.0  # this machine's clock when it was read


@dataclass(frozen=True)
class StreamAge:
    """One stream's oldest record against its retention."""

    stream: str  # logical name
    retention_hours: int | None = None
    oldest_age_seconds: float | None = None  # None: the stream holds no record
    oldest_shard: str | None = None
    clock: str = ""
    problem: str = ""  # what could not be read

    @property
    def retention_seconds(self) -> float:
        return float(self.retention_hours or 0) * 3600

    @property
    def share(self) -> float | None:
        """The share of retention the oldest record has used (0-1+)."""
        if self.oldest_age_seconds is None or not self.retention_hours:
            return None
        return self.oldest_age_seconds / self.retention_seconds

    @property
    def left_seconds(self) -> float | None:
        if self.oldest_age_seconds is None or not self.retention_hours:
            return None
        return max(0.0, self.retention_seconds - self.oldest_age_seconds)

    def to_dict(self) -> dict:
        return {
            "stream": self.stream,
            "retention_hours": self.retention_hours,
            "oldest_age_seconds": _rounded(self.oldest_age_seconds),
            "left_seconds": _rounded(self.left_seconds),
            "share": None if self.share is None else round(self.share, 4),
            "oldest_shard": self.oldest_shard,
            "clock": self.clock,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class StreamRead:
    """What was read of one stream: its retention and each shard's oldest record."""

    stream: str
    retention_hours: int
    shards: tuple[ShardOldest, ...]


def measure_streams(
    spec: Any, aws: Any, environment: str, clock: Callable[[], float] = time.time
) -> list[StreamAge]:
    """Every spec stream of `environment`: its oldest record's age and its retention."""
    place = names(spec, environment)
    try:
        kinesis = aws.client(environment, "kinesis")
    except (TurnoutError, *READ_ERRORS) as problem:
        reason = unreadable(f"the {environment} environment", problem)
        return [StreamAge(stream.name, problem=reason) for stream in spec.streams]
    found: list[StreamAge | StreamRead] = []
    for stream in spec.streams:
        physical = place.stream(stream.name)
        try:
            retention = kinesis.describe_stream_summary(StreamName=physical)[
                "StreamDescriptionSummary"
            ]["RetentionPeriodHours"]
            shards = tuple(
                oldest_of(kinesis, physical, shard["ShardId"], clock)
                for shard in list_shards(kinesis, physical)
            )
        except READ_ERRORS as problem:
            found.append(StreamAge(stream.name, problem=unreadable(f"stream {physical}", problem)))
            continue
        found.append(StreamRead(stream.name, int(retention), shards))
    return aged(found)


def oldest_of(kinesis: Any, stream: str, shard_id: str, clock: Callable[[], float]) -> ShardOldest:
    """The shard's oldest untrimmed record (TRIM_HORIZON, one record per answer)."""
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    ).get("ShardIterator")
    for _ in range(PAGES):
        if not iterator:
            break
        answer = kinesis.get_records(ShardIterator=iterator, Limit=1)
        behind = float(answer.get("MillisBehindLatest") or 0) / 1000
        records = answer.get("Records") or []
        if records:
            first = records[0]
            return ShardOldest(
                shard_id,
                first["SequenceNumber"],
                _epoch(first["ApproximateArrivalTimestamp"]),
                behind,
                clock(),
            )
        if behind == 0:
            break  # at the tip: the shard holds nothing
        iterator = answer.get("NextShardIterator")
    return ShardOldest(shard_id, read_at=clock())


def aged(found: list[StreamAge | StreamRead]) -> list[StreamAge]:
    """Ages from the shards' reads: a record behind its tip gives its own age; one at its tip is
    aged on the stream clock another shard showed (arrival + behind - read time, the largest
    such offset), else on this machine's clock."""
    reads = [item for item in found if isinstance(item, StreamRead)]
    offsets = [
        shard.arrival + shard.behind_seconds - shard.read_at
        for read in reads
        for shard in read.shards
        if shard.arrival is not None and shard.behind_seconds > 0
    ]
    offset = max(offsets) if offsets else None
    return [item if isinstance(item, StreamAge) else _stream_age(item, offset) for item in found]


def _stream_age(read: StreamRead, offset: float | None) -> StreamAge:
    ages: dict[str, float] = {}
    clocks = set()
    for shard in read.shards:
        if shard.arrival is None:
            continue
        if shard.behind_seconds > 0:
            ages[shard.shard_id] = shard.behind_seconds
            clocks.add(STREAM_CLOCK)
        else:
            now = shard.read_at + (offset or 0.0)
            ages[shard.shard_id] = max(0.0, now - shard.arrival)
            clocks.add(MACHINE_CLOCK if offset is None else SHARED_CLOCK)
    if not ages:
        return StreamAge(read.stream, read.retention_hours)
    oldest = max(ages, key=lambda shard_id: ages[shard_id])
    return StreamAge(
        read.stream, read.retention_hours, ages[oldest], oldest, "; ".join(sorted(clocks))
    )


def unreadable(what: str, problem: Exception) -> str:
    detail = " ".join(str(problem).split()).rstrip(".")
    return f"could not read {what} (kinesis): {type(problem).__name__}: {detail}"


def hours(seconds: float) -> str:
    """`5.0 h`, `45 min`, `30 s`: a duration as an operator reads it."""
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
