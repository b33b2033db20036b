"""Decode an ESM event exactly, or refuse it naming the record.

Every record must be a Kinesis record of the batch's one stream and shard with a sequence
number after the previous record's, a partition key of 1-256 characters and data in strict
base64 (RFC 4648 alphabet, correct padding with zero padding bits, nothing after it: the one
form the event source mapping writes). Anything else raises :class:`MalformedRecordError` naming the record's position and
sequence number, before anything of the batch is written: bytes that were decoded leniently
(``"SGVsbG8=garbage"`` is ``Hello`` to a lenient decoder) are never written.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from typing import Any

from .aggregates import MAGIC, aimed_hash_key
from .errors import BadEventError, MalformedRecordError

# https://docs.aws.amazon.com/kinesis/latest/APIReference/API_PutRecordsRequestEntry.html
MAX_PARTITION_KEY_CHARACTERS = 256
MAX_SEQUENCE_DIGITS = 128


def stream_name_from_arn(arn: str) -> str:
    # arn:aws:kinesis:<region>:<account>:stream/<name>[/consumer/...]
    try:
        name = arn.split(":stream/", 1)[1].split("/", 1)[0]
    except IndexError:
        raise BadEventError(f"not a Kinesis stream ARN: {arn!r}") from None
    if not arn.startswith("arn:") or not name:
        raise BadEventError(f"not a Kinesis stream ARN: {arn!r}")
    return name


class ParsedBatch:
    """One ESM batch as parallel lists, in source (sequence) order."""

    __slots__ = (
        "aimed_hash_keys",
        "arrivals",
        "entries",
        "partition_keys",
        "sequence_numbers",
        "shard_id",
        "sizes",
        "stream_name",
    )

    def __init__(self, stream_name: str, shard_id: str) -> None:
        self.stream_name = stream_name
        self.shard_id = shard_id
        self.sequence_numbers: list[str] = []
        self.partition_keys: list[str] = []
        self.entries: list[dict[str, Any]] = []  # PutRecords request entries
        self.sizes: list[int] = []  # data + partition key bytes, as Kinesis counts
        self.arrivals: list[float] = []
        # Position -> the hash key a KPL aggregate was aimed at (its entry's ExplicitHashKey).
        self.aimed_hash_keys: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.sequence_numbers)

    def first_oversize_index(self, limit: int) -> int | None:
        if not self.sizes or max(self.sizes) <= limit:
            return None
        return next(index for index, size in enumerate(self.sizes) if size > limit)


def _origin(record: Any) -> tuple[str, str]:
    """(eventSourceARN, shard id) of the first record, or MalformedRecordError for it."""
    if not isinstance(record, Mapping):
        raise MalformedRecordError(0, None, "is not a JSON object")
    arn, event_id = record.get("eventSourceARN"), record.get("eventID")
    if not isinstance(arn, str) or ":kinesis:" not in arn:
        raise MalformedRecordError(0, None, "has no Kinesis eventSourceARN")
    if not isinstance(event_id, str) or ":" not in event_id:
        raise MalformedRecordError(0, None, "has no eventID of the form <shard id>:<sequence>")
    return arn, event_id.split(":", 1)[0]


def _sequence(record: Any) -> str | None:
    kinesis = record.get("kinesis") if isinstance(record, Mapping) else None
    value = kinesis.get("sequenceNumber") if isinstance(kinesis, Mapping) else None
    return value if isinstance(value, str) else None


def _problem(record: Any, arn: str, shard_id: str, previous: str | None) -> str | None:
    """What is wrong with one record, or None."""
    if not isinstance(record, Mapping):
        return "is not a JSON object"
    if record.get("eventSourceARN") != arn:
        return (
            "comes from another stream than the first record (a batch is one shard of one stream)"
        )
    event_id = record.get("eventID")
    if not isinstance(event_id, str) or not event_id.startswith(shard_id + ":"):
        return "comes from another shard than the first record (a batch is one shard)"
    kinesis = record.get("kinesis")
    if not isinstance(kinesis, Mapping):
        return "has no 'kinesis' object"
    sequence = kinesis.get("sequenceNumber")
    if (
        not isinstance(sequence, str)
        or not (sequence.isascii() and sequence.isdigit())
        or len(sequence) > MAX_SEQUENCE_DIGITS
    ):
        return "has no sequenceNumber of decimal digits"
    if previous is not None and (len(sequence), sequence) <= (len(previous), previous):
        return (
            f"is not after the previous record's sequence number {previous} (a batch is in order)"
        )
    key = kinesis.get("partitionKey")
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_PARTITION_KEY_CHARACTERS:
        return "has no partitionKey of 1-256 characters"
    if not isinstance(kinesis.get("data"), str):
        return "has no 'data' string (base64)"
    arrival = kinesis.get("approximateArrivalTimestamp", 0.0)
    if arrival is not None and (isinstance(arrival, bool) or not isinstance(arrival, int | float)):
        return "has an approximateArrivalTimestamp that is not a number"
    return None


def parse_batch(event: Mapping[str, Any]) -> ParsedBatch:
    """Decode the ESM event. The data stays opaque bytes (KPL aggregates included).

    The ESM event carries no ExplicitHashKey, so a record's target shard is chosen by its
    partition key, except a KPL aggregate's: it is put with its first sub-record's hash key as
    ExplicitHashKey (aggregates.py), so the sub-records keep their shard.
    """
    if not isinstance(event, Mapping):
        raise BadEventError("the event is not a JSON object with 'Records'")
    records = event.get("Records") or []
    if not isinstance(records, list):
        raise BadEventError("the event's 'Records' is not a list")
    if not records:
        return ParsedBatch("", "")
    arn, shard_id = _origin(records[0])
    batch = ParsedBatch(stream_name_from_arn(arn), shard_id)
    seqs, keys, entries = batch.sequence_numbers, batch.partition_keys, batch.entries
    sizes, arrivals = batch.sizes, batch.arrivals
    decode, encode = binascii.a2b_base64, binascii.b2a_base64
    prefix, numbers = shard_id + ":", (int, float)
    previous, previous_length = "", 1  # every sequence number is after it
    for position, record in enumerate(records):
        # The fast check of every rule of _problem; _problem names the one that failed.
        try:
            kinesis = record["kinesis"]
            sequence, key = kinesis["sequenceNumber"], kinesis["partitionKey"]
            text = kinesis["data"]
            arrival = kinesis.get("approximateArrivalTimestamp", 0.0)
            well_formed = (
                record["eventSourceARN"] == arn
                and record["eventID"].startswith(prefix)
                and type(sequence) is str
                and sequence.isascii()
                and sequence.isdigit()
                # after the previous one: longer, or as long and greater
                and previous_length <= (length := len(sequence)) <= MAX_SEQUENCE_DIGITS
                and (length > previous_length or sequence > previous)
                and type(key) is str
                and 0 < len(key) <= MAX_PARTITION_KEY_CHARACTERS
                and type(text) is str
                and (arrival is None or type(arrival) in numbers)
            )
        except (KeyError, TypeError, AttributeError):
            well_formed = False
        if not well_formed:
            problem = _problem(record, arn, shard_id, previous or None)
            raise MalformedRecordError(
                position, _sequence(record), problem or "is not a Kinesis record"
            )
        try:
            data = decode(text, strict_mode=True)
            # Padding bits must be zero: "SGVsbB==" also decodes to "Hell", and only the
            # canonical form is what the event source mapping writes.
            canonical = encode(data, newline=False) == text.encode("ascii")
        except (binascii.Error, ValueError):
            canonical = False
        if not canonical:
            raise MalformedRecordError(
                position, sequence, "has 'data' that is not canonical base64"
            )
        previous, previous_length = sequence, length
        seqs.append(sequence)
        keys.append(key)
        # The magic bytes first: the hot path skips the parser for every plain record.
        if data.startswith(MAGIC) and (aimed := aimed_hash_key(data)) is not None:
            entries.append({"Data": data, "PartitionKey": key, "ExplicitHashKey": str(aimed)})
            batch.aimed_hash_keys[position] = aimed
        else:
            entries.append({"Data": data, "PartitionKey": key})
        sizes.append(len(data) + (len(key) if key.isascii() else len(key.encode("utf-8"))))
        arrivals.append(float(arrival or 0.0))
    return batch
