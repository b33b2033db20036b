"""Reading a shard of the emulator's Kinesis in time proportional to what is read.

moto keeps a shard's records in an ordered dict and finds a read's starting point by walking
every record the shard ever held (``Shard.get_records``), and its first and last sequence numbers
by copying all keys into a list (``get_min_sequence_number``, ``get_max_sequence_number``, which
``put_record``, ``DescribeStream`` and ``ListShards`` call). A reader at the tip of a shard that
holds N records therefore costs O(N) per GetRecords: over a sandbox run at 200 events/s the
emulator spent most of its CPU re-walking old records, which AWS does not (a read costs what it
returns). Answers are unchanged: the same records, next position and ``MillisBehindLatest``.

Every writer of a shard (moto's ``put_record`` and turnout's replacements) numbers a record one
past the newest, and trimming only removes the oldest, so a shard's sequence numbers are
consecutive integers and the record after position p is simply p + 1. When that does not hold
(a shape this module has not seen) the read falls back to moto's walk.

Numbering and storing a record is one step (``number_records_one_at_a_time``): moto's server
answers each request in its own thread, and ``put_record`` reads the newest number and then
stores its record under the next one. Two writers of one shard in between each other took the
same number, and the later record replaced the earlier: both callers were told their record was
stored, one was gone (an end-to-end run lost a record that way when the replicator and the
producer wrote the same shard of an old stream at once). AWS orders a shard's writes.

Only the emulator's server process imports this module.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_numbering = threading.Lock()


def first_number(records: dict[int, Any]) -> int:
    """The oldest sequence number a shard holds (0 when it holds none)."""
    return next(iter(records)) if records else 0


def newest_number(records: dict[int, Any]) -> int:
    """The newest sequence number a shard holds (0 when it holds none)."""
    return next(reversed(records)) if records else 0


def last_number(shard: Any) -> int:
    """The last sequence number a shard gave out: its newest record's, or, once trimming or a
    split emptied it, the high-water mark turnout's patches keep (``_turnout_high_water``)."""
    return max(newest_number(shard.records), getattr(shard, "_turnout_high_water", 0))


def read_shards_by_position() -> None:
    """Patch moto's ``Shard`` so reads and its sequence-number bounds cost O(records read)."""
    from moto.kinesis.models import Shard

    walk_every_record = Shard.get_records

    def get_records(self: Any, last_sequence_id: str, limit: int | None) -> Any:
        records = self.records
        after = int(last_sequence_id)
        if not records:
            return [], after, 0
        first, newest = first_number(records), newest_number(records)
        if newest - first + 1 != len(records):
            return walk_every_record(self, last_sequence_id, limit)
        start = max(after + 1, first)
        stop = newest if not limit else min(newest, start + limit - 1)
        results = [records[number] for number in range(start, stop + 1)]
        if not results:
            return [], after, 0
        behind_seconds = records[newest].created_at - results[-1].created_at
        return results, results[-1].sequence_number, int(behind_seconds * 1000)

    def get_min_sequence_number(self: Any) -> int:
        return first_number(self.records)

    def get_max_sequence_number(self: Any) -> int:
        return newest_number(self.records)

    def get_sequence_number_at(self: Any, at_timestamp: float) -> int:
        records = self.records
        if not records or at_timestamp <= records[first_number(records)].created_at:
            return 0
        # The first record is older than at_timestamp, so this finds one (as moto's code does).
        return next(
            r for r in reversed(records.values()) if r.created_at < at_timestamp
        ).sequence_number

    Shard.get_records = get_records  # type: ignore[method-assign]
    Shard.get_sequence_number_at = get_sequence_number_at  # type: ignore[method-assign]
    Shard.get_min_sequence_number = get_min_sequence_number  # type: ignore[method-assign]
    Shard.get_max_sequence_number = get_max_sequence_number  # type: ignore[method-assign]


def number_records_one_at_a_time() -> None:
    """Wrap whichever ``Shard.put_record`` is in place (apply after the patches that replace it):
    a record's sequence number is taken and the record stored under one lock."""
    from moto.kinesis.models import Shard

    put_record = Shard.put_record
    if getattr(put_record, "_turnout_numbered", False):
        return

    @functools.wraps(put_record)
    def numbered(self: Any, *args: Any, **kwargs: Any) -> str:
        with _numbering:
            return put_record(self, *args, **kwargs)

    numbered._turnout_numbered = True  # type: ignore[attr-defined]
    Shard.put_record = numbered  # type: ignore[method-assign]
