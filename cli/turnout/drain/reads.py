"""Reading a shard from a consumer's position, remembering where each read stopped.

A drain predicate asks, per shard, which records follow a consumer's position: the ledger after
its `last_sequence_number`, KCL at its checkpoint (to see the checkpointed record too) or from
the shard's start. A first answer costs a GetShardIterator and a GetRecords call. Every
GetRecords answer also carries `NextShardIterator`, the position right after what it returned,
and AWS documents exactly this use of it: "use a GetShardIterator request to get the first shard
iterator to use in your first GetRecords request and then use the shard iterator returned in
NextShardIterator for subsequent reads"
(https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html). So when a later
check asks about the position a read stopped at (a drained shard whose consumer has not moved, a
shard polled by `wait_until_drained`, a KCL application checkpointed where the last check saw
the end), one GetRecords with that iterator answers it: the GetShardIterator answer is already
known. The answer is as fresh as a new iterator's: the iterator returns every record written
after that position since, as one made now would.

Kept apart from a fresh read:

- an iterator expires 5 minutes after it is returned
  (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetShardIterator.html): one older
  than `MAX_ITERATOR_AGE_SECONDS` (on the reader's clock) is not used, and one refused with
  `ExpiredIteratorException` is replaced by a fresh read;
- no `NextShardIterator` (a closed shard read to its end) is not remembered: the next check reads
  afresh;
- an AT read is answered from a remembered stop only when the stop's last record is the one asked
  for; its data is kept from the earlier answer (a record never changes; one trimmed since is
  still shown, which can only make a KCL verdict stricter).

The pacing per shard (`ShardReader`, `reads_per_second`) applies to every call as before. One
`ShardPositions` lives in a `DrainScope`: the predicates of one scope and their rounds share it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code
from turnout.aws.kinesis import ShardReader, sequence_int

MAX_ITERATOR_AGE_SECONDS = 240.0  # AWS: an iterator expires 5 minutes after it was returned
MAX_CALLS = 20  # GetRecords calls per read (AWS may return empty pages while records remain)


@dataclass
class _Stop:
    """Where a read of a shard stopped: `iterator` points right after `last` (the last record
    read), or, when the read returned no record, right at where it started (`start`)."""

    iterator: str
    issued: float  # reader clock when the iterator was returned
    last: dict | None = None
    start: tuple[str, str | None] = ("TRIM_HORIZON", None)


@dataclass
class ShardPositions:
    """The last stop of every shard read through it, to start the next read there."""

    _stops: dict[tuple[str, str], _Stop] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    fresh_reads: int = 0  # reads that began with GetShardIterator
    resumed_reads: int = 0  # reads answered from a stop (GetShardIterator saved)

    def records(
        self,
        reader: ShardReader,
        stream: str,
        shard: str,
        *,
        at: str | None = None,
        after: str | None = None,
        wanted: int,
    ) -> list[dict]:
        """Up to `wanted` records of the shard: from sequence number `at` (itself included),
        after sequence number `after`, or from its start (TRIM_HORIZON) when neither is given.
        A short page ends the read only when MillisBehindLatest is 0 (AWS may return fewer
        records, even none, while more remain further on); usually one GetRecords call."""
        start: tuple[str, str | None] = (
            ("AT_SEQUENCE_NUMBER", at)
            if at is not None
            else ("AFTER_SEQUENCE_NUMBER", after)
            if after is not None
            else ("TRIM_HORIZON", None)
        )
        resumed = self._resume(reader, stream, shard, start)
        if resumed is not None:
            known, stop = resumed
            try:
                found = self._read(
                    reader,
                    stream,
                    shard,
                    stop.iterator,
                    stop.issued,
                    start,
                    known,
                    wanted,
                    stop.last,
                )
            except ClientError as problem:
                self._forget(stream, shard)
                if error_code(problem) != "ExpiredIteratorException":
                    raise
            else:
                with self._lock:
                    self.resumed_reads += 1
                return found
        kind, sequence = start
        self._forget(stream, shard)
        iterator = (
            reader.iterator(stream, shard, kind, sequence_number=sequence)
            if sequence is not None
            else reader.iterator(stream, shard, kind)
        )
        with self._lock:
            self.fresh_reads += 1
        return self._read(reader, stream, shard, iterator, reader.clock(), start, [], wanted)

    def _resume(
        self, reader: ShardReader, stream: str, shard: str, start: tuple[str, str | None]
    ) -> tuple[list[dict], _Stop] | None:
        """(records already known to come first, iterator after them) for a read from `start`,
        when the shard's last stop is there and its iterator is young enough."""
        with self._lock:
            stop = self._stops.get((stream, shard))
        if stop is None or reader.clock() - stop.issued >= MAX_ITERATOR_AGE_SECONDS:
            return None
        kind, sequence = start
        if stop.last is None:
            return ([], stop) if stop.start == start else None
        last = sequence_int(stop.last["SequenceNumber"])
        if kind == "AFTER_SEQUENCE_NUMBER" and sequence is not None and int(sequence) == last:
            return [], stop
        if kind == "AT_SEQUENCE_NUMBER" and sequence is not None and int(sequence) == last:
            return [stop.last], stop
        return None

    def _read(
        self,
        reader: ShardReader,
        stream: str,
        shard: str,
        iterator: str | None,
        issued: float,
        start: tuple[str, str | None],
        known: list[dict],
        wanted: int,
        before: dict | None = None,
    ) -> list[dict]:
        """Read on from `iterator` (issued at `issued`, right after the `known` records, or
        after the record `before` when there are none) and remember where the read stopped."""
        found = list(known)
        for _ in range(MAX_CALLS):
            if iterator is None or len(found) >= wanted:
                break
            page: dict[str, Any] = reader.get_records(
                stream, shard, iterator, limit=wanted - len(found)
            )
            issued = reader.clock()
            found.extend(page.get("Records", []))
            iterator = page.get("NextShardIterator")
            if page.get("MillisBehindLatest", 0) == 0:
                break  # the page reached the tip: nothing follows
        with self._lock:
            if iterator is None:  # a closed shard read to its end: the next read is fresh
                self._stops.pop((stream, shard), None)
            else:
                self._stops[(stream, shard)] = _Stop(
                    iterator, issued, found[-1] if found else before, start
                )
        return found[:wanted]

    def _forget(self, stream: str, shard: str) -> None:
        with self._lock:
            self._stops.pop((stream, shard), None)
