"""KPL aggregated records: build them as the Kinesis Producer Library does, and de-aggregate them
as the Kinesis Client Library does.

Kinesis stores an aggregated record as one opaque record (the emulator passes its bytes through,
as AWS does). The format, and the parser the replicator uses too, are in
``turnout.lambdas.replicator.aggregates``; this module adds the encoder.

KCL (``AggregatorUtil.deaggregate``) gives a record that is not aggregated (no magic, bad digest,
unparsable) back as it is, and drops the sub-records whose explicit hash key (or the MD5 of their
partition key) falls outside the hash key range of the shard they were read from: after a
reshard, sub-records aggregated for the parent's range can arrive on a child and are then lost
to that consumer (https://docs.aws.amazon.com/streams/latest/dev/kinesis-kpl-consumer-deaggregation.html).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from turnout.lambdas.replicator.aggregates import (
    MAGIC,
    MAX_HASH_KEY,
    SubRecord,
    partition_key_hash,
    sub_records,
)

__all__ = ["MAX_HASH_KEY", "UserRecord", "aggregate", "deaggregate", "partition_key_hash"]


@dataclass(frozen=True)
class UserRecord(SubRecord):
    """One sub-record of an aggregated record (or a plain record given back as it is)."""

    sub_sequence_number: int = 0
    aggregated: bool = False


# ---------------------------------------------------------------------- protobuf, by hand
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, wire_type: int) -> bytes:
    return _varint((number << 3) | wire_type)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _field(number, 2) + _varint(len(payload)) + payload


# ---------------------------------------------------------------------- aggregate
def aggregate(records: list[UserRecord]) -> bytes:
    """One KPL aggregated record holding ``records`` (partition keys and explicit hash keys go
    to the tables, each once)."""
    keys: list[str] = []
    hash_keys: list[str] = []
    body = bytearray()
    for record in records:
        if record.partition_key not in keys:
            keys.append(record.partition_key)
        message = _field(1, 0) + _varint(keys.index(record.partition_key))
        if record.explicit_hash_key is not None:
            if record.explicit_hash_key not in hash_keys:
                hash_keys.append(record.explicit_hash_key)
            message += _field(2, 0) + _varint(hash_keys.index(record.explicit_hash_key))
        message += _length_delimited(3, record.data)
        body += _length_delimited(3, message)
    head = b"".join(_length_delimited(1, k.encode()) for k in keys)
    head += b"".join(_length_delimited(2, k.encode()) for k in hash_keys)
    protobuf = head + bytes(body)
    return MAGIC + protobuf + hashlib.md5(protobuf).digest()


def _parse(data: bytes) -> list[UserRecord] | None:
    """The sub-records of an aggregated record, or None when ``data`` is not one."""
    subs = sub_records(data)
    if subs is None:
        return None
    return [
        UserRecord(sub.partition_key, sub.data, sub.explicit_hash_key, index, aggregated=True)
        for index, sub in enumerate(subs)
    ]


def deaggregate(
    partition_key: str,
    data: bytes,
    starting_hash_key: int = 0,
    ending_hash_key: int = MAX_HASH_KEY,
) -> list[UserRecord]:
    """KCL's de-aggregation of one Kinesis record read from a shard with this hash key range:
    a plain record comes back as it is; the sub-records of an aggregated one come back in order,
    without those whose hash key falls outside the range (KCL discards them)."""
    subs = _parse(data)
    if subs is None:
        return [UserRecord(partition_key=partition_key, data=data)]
    return [s for s in subs if starting_hash_key <= s.hash_key <= ending_hash_key]
