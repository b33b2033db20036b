"""KPL aggregated records: recognise one and find the hash key it was aimed at.

The Kinesis Producer Library packs user records the shard map predicts for one shard into one
Kinesis record (https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md):
the magic bytes ``f3 89 9a c2``, a protobuf ``AggregatedRecord`` and the MD5 digest of that
protobuf:

    message AggregatedRecord {
      repeated string partition_key_table     = 1;
      repeated string explicit_hash_key_table = 2;
      repeated Record records                 = 3;
    }
    message Record {
      required uint64 partition_key_index     = 1;
      optional uint64 explicit_hash_key_index = 2;
      required bytes  data                    = 3;
      repeated Tag    tags                    = 4;
    }

KCL de-aggregates it on read and drops every sub-record whose hash key (its explicit hash key,
or the MD5 of its partition key) lies outside the hash key range of the shard it was read from
(https://docs.aws.amazon.com/streams/latest/dev/kinesis-kpl-consumer-deaggregation.html). The
event source mapping gives the replicator the aggregate's partition key but not the explicit
hash key it was put with, so re-putting it by partition key can land it in a target shard whose
range excludes its sub-records. The replicator puts it with ``ExplicitHashKey`` = its first
sub-record's hash key instead: on a target with the source's shard ranges (preflight
`aggregated-records` requires one) that is the shard holding every sub-record.

Standard library only: this module is zipped into the replicator (turnout.deploy.package).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MAGIC = bytes([0xF3, 0x89, 0x9A, 0xC2])
DIGEST_BYTES = 16
MAX_HASH_KEY = 2**128 - 1


@dataclass(frozen=True)
class SubRecord:
    """One user record of an aggregate."""

    partition_key: str
    data: bytes
    explicit_hash_key: str | None = None

    @property
    def hash_key(self) -> int:
        if self.explicit_hash_key is not None:
            return int(self.explicit_hash_key)
        return partition_key_hash(self.partition_key)


def partition_key_hash(partition_key: str) -> int:
    """Kinesis's hash of a partition key: its MD5 as a 128-bit integer."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def read_varint(buffer: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(buffer) or shift > 63:
            raise ValueError("truncated varint")
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def protobuf_fields(buffer: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: varints as int, the others as bytes."""
    out: list[tuple[int, int | bytes]] = []
    position = 0
    while position < len(buffer):
        key, position = read_varint(buffer, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = read_varint(buffer, position)
            out.append((number, value))
        elif wire_type in (1, 2, 5):  # fixed64, length-delimited, fixed32
            length = {1: 8, 5: 4}.get(wire_type)
            if length is None:
                length, position = read_varint(buffer, position)
            if position + length > len(buffer):
                raise ValueError("truncated field")
            out.append((number, buffer[position : position + length]))
            position += length
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
    return out


def sub_records(data: bytes) -> list[SubRecord] | None:
    """The user records of an aggregate in order, or None when `data` is not one (no magic,
    a wrong digest or an unparsable protobuf: KCL then gives the record back as it is)."""
    if len(data) <= len(MAGIC) + DIGEST_BYTES or not data.startswith(MAGIC):
        return None
    protobuf = data[len(MAGIC) : -DIGEST_BYTES]
    if hashlib.md5(protobuf).digest() != data[-DIGEST_BYTES:]:
        return None
    try:
        fields = protobuf_fields(protobuf)
        keys = [v.decode() for number, v in fields if number == 1 and isinstance(v, bytes)]
        hash_keys = [v.decode() for number, v in fields if number == 2 and isinstance(v, bytes)]
        out = []
        for number, value in fields:
            if number != 3:
                continue
            if not isinstance(value, bytes):
                return None
            sub = dict(protobuf_fields(value))
            explicit = sub.get(2)
            out.append(
                SubRecord(
                    partition_key=keys[int(sub[1])],
                    data=bytes(sub.get(3, b"")),
                    explicit_hash_key=hash_keys[int(explicit)] if explicit is not None else None,
                )
            )
        return out
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError):
        return None


def aimed_hash_key(data: bytes) -> int | None:
    """The hash key an aggregate was aimed at (its first sub-record's), or None when `data` is
    not an aggregate or holds no sub-record."""
    subs = sub_records(data)
    return subs[0].hash_key if subs else None
