"""Time in the emulator's Kinesis, on the sandbox clock (the ``aws`` fidelity profile):

- a record's ``ApproximateArrivalTimestamp`` is the sandbox clock's time of its write;
- records older than the stream's retention are trimmed when the shard is next touched: they
  are gone, ``TRIM_HORIZON`` and ``StartingSequenceNumber`` move to the oldest record left, and
  an iterator (or ``AFTER_SEQUENCE_NUMBER``/``AT_SEQUENCE_NUMBER``) at a trimmed position reads
  on from the oldest record left; sequence numbers keep increasing after a shard was emptied;
- ``MillisBehindLatest`` is how far the last returned record is behind the clock (0 at the tip);
- a shard iterator expires ``iterator_ttl_seconds`` (real time) after it was issued
  (``ExpiredIteratorException``).

Sources in docs/emulator.md. Only the emulator's server process imports this module.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from base64 import b64decode, b64encode
from typing import Any

from .kinesis_reads import last_number
from .profile import FidelityProfile, naive_utc

# Trimming and reading a shard do not interleave (a read indexes the shard's records).
_shard_lock = threading.RLock()


def stamp_records(profile: FidelityProfile) -> None:
    """New records carry the sandbox clock's time."""
    from moto.kinesis.models import Record

    original_init = Record.__init__

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        now = profile.now()
        self.created_at = now
        self.created_at_datetime = naive_utc(now)

    Record.__init__ = __init__  # type: ignore[method-assign]


def keep_sequence_numbers_increasing() -> None:
    """A shard whose records were all trimmed goes on numbering after its last record (moto
    would restart at 1), and its LATEST / ending position is that last number."""
    from moto.kinesis.models import Record, Shard

    def put_record(self: Any, partition_key: str, data: str, explicit_hash_key: str) -> str:
        sequence_number = last_number(self) + 1
        self.records[sequence_number] = Record(
            partition_key, data, sequence_number, explicit_hash_key
        )
        self._turnout_high_water = sequence_number
        return str(sequence_number)

    def get_max_sequence_number(self: Any) -> int:
        return last_number(self)

    Shard.put_record = put_record  # type: ignore[method-assign]
    Shard.get_max_sequence_number = get_max_sequence_number  # type: ignore[method-assign]


def trim_stream(stream: Any, now: float, shard_id: str | None = None) -> int:
    """Drop the records of ``stream`` (of its shard ``shard_id`` only, when given) older than its
    retention; returns how many."""
    horizon = now - stream.retention_period_hours * 3600
    dropped = 0
    if shard_id is None:
        shards = list(stream.shards.values())
    else:
        shards = [stream.shards[shard_id]] if shard_id in stream.shards else []
    with _shard_lock:
        for shard in shards:
            records = shard.records
            while records:
                first = next(iter(records))
                if records[first].created_at >= horizon:
                    break
                shard._turnout_high_water = last_number(shard)
                records.pop(first)
                dropped += 1
    return dropped


def enforce_retention(profile: FidelityProfile, counters: dict[str, int]) -> None:
    """Trim a stream whenever it is read, described or written (KinesisBackend entry points)."""
    from moto.kinesis.models import KinesisBackend

    def trimming(method_name: str) -> None:
        original = getattr(KinesisBackend, method_name)

        @functools.wraps(original)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            stream_arn = kwargs.get("stream_arn", args[0] if args else None)
            stream_name = kwargs.get("stream_name", args[1] if len(args) > 1 else None)
            shard_id = None  # a read trims the shard it reads; a listing, every shard
            if method_name == "get_records":
                stream_name, shard_id = _iterator_shard(kwargs.get("shard_iterator", args[1]))
            elif method_name == "get_shard_iterator":
                shard_id = kwargs.get("shard_id", args[2] if len(args) > 2 else None)
            stream = self.streams.get(stream_name) if stream_name else None
            if stream is None and stream_arn:
                stream = next((s for s in self.streams.values() if s.arn == stream_arn), None)
            if stream is not None:
                counters["trimmed_records"] += trim_stream(stream, profile.now(), shard_id)
            with _shard_lock:
                return original(self, *args, **kwargs)

        setattr(KinesisBackend, method_name, wrapper)

    for name in ("get_records", "get_shard_iterator", "list_shards", "describe_stream"):
        trimming(name)


def _iterator_shard(iterator: str) -> tuple[str, str | None]:
    """The stream name and shard id in one of moto's iterators ("", None when unreadable)."""
    try:
        parts = b64decode(iterator.encode()).decode().split(":")
    except (ValueError, UnicodeDecodeError):
        return "", None
    return parts[0], parts[1] if len(parts) > 2 else None


def millis_behind_latest_on_the_clock(profile: FidelityProfile) -> None:
    """``MillisBehindLatest``: 0 when the response reaches the shard's newest record, otherwise
    the age of the last returned record on the sandbox clock."""
    from moto.kinesis.models import KinesisBackend

    original = KinesisBackend.get_records

    @functools.wraps(original)
    def get_records(self: Any, stream_arn: Any, shard_iterator: str, limit: Any) -> Any:
        next_iterator, records, behind = original(self, stream_arn, shard_iterator, limit)
        if records:
            stream_name, shard_id = _iterator_shard(shard_iterator)
            stream = self.streams.get(stream_name)
            shard = stream.shards.get(shard_id) if stream is not None and shard_id else None
            at_tip = shard is None or records[-1].sequence_number >= last_number(shard)
            behind = 0 if at_tip else max(0, int((profile.now() - records[-1].created_at) * 1000))
        else:
            behind = 0
        return next_iterator, records, behind

    KinesisBackend.get_records = get_records  # type: ignore[method-assign]


def expire_iterators(profile: FidelityProfile) -> None:
    """Shard iterators carry the (real) time they were issued and expire after
    ``iterator_ttl_seconds``: GetRecords answers ``ExpiredIteratorException``."""
    from moto.core.exceptions import JsonRESTError
    from moto.kinesis import models, utils

    ttl = float(profile.iterator_ttl_seconds or 0)

    def compose_shard_iterator(stream_name: str | None, shard: Any, last_sequence_id: int) -> str:
        issued = f"{time.time():.3f}"
        text = f"{stream_name}:{shard.shard_id}:{last_sequence_id}:{issued}"
        return b64encode(text.encode()).decode()

    def decompose_shard_iterator(shard_iterator: str) -> list[str]:
        parts = b64decode(shard_iterator.encode()).decode().split(":")
        if len(parts) == 4:
            issued = float(parts[3])
            now = time.time()
            if now - issued > ttl:
                raise JsonRESTError(
                    "ExpiredIteratorException",
                    f"Iterator expired. The iterator was created at time {_stamp(issued)} while "
                    f"right now it is {_stamp(now)} which is further in the future than the "
                    f"tolerated delay of {int(ttl * 1000)} milliseconds.",
                )
        return parts[:3]

    for module in (models, utils):
        module.compose_shard_iterator = compose_shard_iterator  # type: ignore[assignment]
        module.decompose_shard_iterator = decompose_shard_iterator  # type: ignore[assignment]


def _stamp(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%a %b %d %H:%M:%S UTC %Y")
