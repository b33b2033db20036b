"""How fast each partition key arrives on a stream, and how many of its records are KPL
aggregates: a bounded, read-only sample of its recent records.

Per shard: GetShardIterator(`AT_TIMESTAMP`, now minus the window) and then at most
`READS_PER_SHARD` GetRecords calls, until the answer is at the shard's tip
(`MillisBehindLatest` 0) (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetShardIterator.html).
A shard serves 5 GetRecords calls and 2 MiB per second to all its readers together, and a call
may return up to 10,000 records and 10 MiB, after which the shard's reads in the next 5 seconds
are throttled (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html,
https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html). The sample takes
at most one of those 5 calls per second per shard, and after an answer of B bytes waits
B / 2 MiB seconds before that shard's next call, so it stays within the byte budget on average
and leaves the other 4 calls to the consumers and the replicator.

A key's rate is its records over the seconds its shard's reads covered: the whole window when
the shard was read to its tip, else from the window's start to the last record read (the rest of
that shard is not counted, so a busy shard's rates come from its first records).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from turnout.aws.errors import READ_ERRORS
from turnout.aws.kinesis import arrival_seconds, list_shards
from turnout.errors import TurnoutError
from turnout.lambdas.replicator.aggregates import sub_records
from turnout.preflight.stream_age import unreadable
from turnout.spec.names import names

WINDOW_SECONDS = 60.0
READS_PER_SHARD = 5
GET_RECORDS_LIMIT = 10_000  # GetRecords' largest Limit
READ_INTERVAL_SECONDS = 1.0  # one of a shard's 5 GetRecords calls per second
READ_BYTES_PER_SECOND = 2 * 1024 * 1024
MIN_SPAN_SECONDS = 1.0  # rates over less than a second of arrivals say nothing


@dataclass
class ShardTally:
    """What the reads of one shard found: records and bytes per key, the seconds covered."""

    records: Counter = field(default_factory=Counter)
    bytes: Counter = field(default_factory=Counter)
    last_arrival: float | None = None
    at_tip: bool = False
    aggregates: int = 0  # KPL aggregated records among them


@dataclass(frozen=True)
class KeyRate:
    key: str
    records: int
    per_second: float
    mean_bytes: float  # data + partition key, as a target shard's byte limit counts them


@dataclass(frozen=True)
class StreamSample:
    """One stream's keys by rate, fastest first."""

    stream: str  # logical name
    environment: str
    physical: str
    window_seconds: float
    records: int = 0
    keys: tuple[KeyRate, ...] = ()
    shortest_span: float = 0.0  # the least seconds a shard's reads covered
    problem: str = ""  # what could not be read
    aggregates: int = 0  # KPL aggregated records among `records`


def sample_streams(
    spec: Any,
    aws: Any,
    environment: str,
    window_seconds: float = WINDOW_SECONDS,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> list[StreamSample]:
    """Every spec stream of `environment`, sampled over the last `window_seconds`."""
    place = names(spec, environment)
    try:
        kinesis = aws.client(environment, "kinesis")
    except (TurnoutError, *READ_ERRORS) as problem:
        reason = unreadable(f"the {environment} environment", problem)
        return [
            StreamSample(s.name, environment, place.stream(s.name), window_seconds, problem=reason)
            for s in spec.streams
        ]
    samples = []
    for stream in spec.streams:
        physical = place.stream(stream.name)
        start = clock() - window_seconds
        try:
            tallies = read_window(kinesis, physical, start, sleep)
        except READ_ERRORS as problem:
            reason = unreadable(f"stream {physical}", problem)
            samples.append(
                StreamSample(stream.name, environment, physical, window_seconds, problem=reason)
            )
            continue
        samples.append(rates(stream.name, environment, physical, window_seconds, start, tallies))
    return samples


def read_window(
    kinesis: Any, physical: str, start: float, sleep: Callable[[float], None]
) -> dict[str, ShardTally]:
    """Shard id -> what its records since `start` (epoch seconds) hold, read round by round
    (one call per shard per round, each no sooner than the shard's read budget allows)."""
    since = datetime.fromtimestamp(start, tz=UTC)
    iterators: dict[str, str] = {}
    for shard in list_shards(kinesis, physical):
        iterator = kinesis.get_shard_iterator(
            StreamName=physical,
            ShardId=shard["ShardId"],
            ShardIteratorType="AT_TIMESTAMP",
            Timestamp=since,
        ).get("ShardIterator")
        if iterator:
            iterators[shard["ShardId"]] = iterator
    tallies = {shard_id: ShardTally() for shard_id in iterators}
    ready_at = dict.fromkeys(iterators, 0.0)
    for _ in range(READS_PER_SHARD):
        for shard_id in [s for s, iterator in iterators.items() if iterator]:
            sleep(max(0.0, ready_at[shard_id] - time.monotonic()))
            answer = kinesis.get_records(ShardIterator=iterators[shard_id], Limit=GET_RECORDS_LIMIT)
            size = _tally(tallies[shard_id], answer.get("Records") or [])
            ready_at[shard_id] = time.monotonic() + max(
                READ_INTERVAL_SECONDS, size / READ_BYTES_PER_SECOND
            )
            at_tip = not answer.get("MillisBehindLatest") or not answer.get("NextShardIterator")
            tallies[shard_id].at_tip = at_tip
            iterators[shard_id] = "" if at_tip else answer["NextShardIterator"]
        if not any(iterators.values()):
            break
    return tallies


def _tally(tally: ShardTally, records: list[dict]) -> int:
    size = 0
    for record in records:
        key = record["PartitionKey"]
        length = len(record["Data"]) + len(key.encode("utf-8"))
        tally.records[key] += 1
        tally.bytes[key] += length
        if sub_records(record["Data"]) is not None:
            tally.aggregates += 1
        size += length
        tally.last_arrival = arrival_seconds(record)
    return size


def rates(
    stream: str,
    environment: str,
    physical: str,
    window_seconds: float,
    start: float,
    tallies: dict[str, ShardTally],
) -> StreamSample:
    """Per-key rates: each shard's counts over the seconds its reads covered."""
    per_key: dict[str, list[float]] = {}  # key -> [records, per second, bytes]
    spans = []
    for tally in tallies.values():
        span = window_seconds
        if not tally.at_tip and tally.last_arrival is not None:
            span = min(window_seconds, max(MIN_SPAN_SECONDS, tally.last_arrival - start))
        spans.append(span)
        for key, count in tally.records.items():
            found = per_key.setdefault(key, [0, 0.0, 0])
            found[0] += count
            found[1] += count / span
            found[2] += tally.bytes[key]
    keys = sorted(
        (KeyRate(key, int(n), rate, size / n) for key, (n, rate, size) in per_key.items()),
        key=lambda found: (-found.per_second, found.key),
    )
    return StreamSample(
        stream,
        environment,
        physical,
        window_seconds,
        records=sum(found.records for found in keys),
        keys=tuple(keys),
        shortest_span=min(spans, default=window_seconds),
        aggregates=sum(tally.aggregates for tally in tallies.values()),
    )
