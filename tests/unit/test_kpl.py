"""KPL aggregation format and KCL de-aggregation (turnout.sandbox.kpl).
https://github.com/awslabs/amazon-kinesis-producer/blob/master/aggregation-format.md
https://docs.aws.amazon.com/streams/latest/dev/kinesis-kpl-consumer-deaggregation.html"""

from __future__ import annotations

import hashlib

from turnout.sandbox import kpl


def test_an_aggregate_is_magic_protobuf_and_md5_of_the_protobuf():
    blob = kpl.aggregate([kpl.UserRecord("pk", b"hello")])
    assert blob[:4] == bytes.fromhex("f3899ac2")
    protobuf, digest = blob[4:-16], blob[-16:]
    assert digest == hashlib.md5(protobuf).digest()
    # partition_key_table "pk", then one record {partition_key_index 0, data "hello"}
    assert protobuf == b"\x0a\x02pk" + b"\x1a\x09" + b"\x08\x00" + b"\x1a\x05hello"


def test_sub_records_come_back_in_order_with_their_keys():
    records = [
        kpl.UserRecord("a", b"1"),
        kpl.UserRecord("b", b"2", explicit_hash_key="12345"),
        kpl.UserRecord("a", b"3" * 300),
    ]
    out = kpl.deaggregate("a", kpl.aggregate(records))
    assert [(r.partition_key, r.data, r.explicit_hash_key) for r in out] == [
        ("a", b"1", None),
        ("b", b"2", "12345"),
        ("a", b"3" * 300, None),
    ]
    assert [r.sub_sequence_number for r in out] == [0, 1, 2]
    assert all(r.aggregated for r in out)


def test_a_plain_record_or_a_corrupt_aggregate_is_given_back_as_it_is():
    plain = kpl.deaggregate("k", b"just data")
    assert [(r.partition_key, r.data, r.aggregated) for r in plain] == [("k", b"just data", False)]
    blob = bytearray(kpl.aggregate([kpl.UserRecord("pk", b"x")]))
    blob[-1] ^= 0xFF  # the digest no longer matches
    assert [r.data for r in kpl.deaggregate("pk", bytes(blob))] == [bytes(blob)]


def test_sub_records_outside_the_shards_hash_range_are_dropped_as_kcl_does():
    inside, outside = "a", "b"
    key_in, key_out = kpl.partition_key_hash(inside), kpl.partition_key_hash(outside)
    low, high = sorted([key_in, key_out])
    blob = kpl.aggregate([kpl.UserRecord(inside, b"in"), kpl.UserRecord(outside, b"out")])
    start, end = (0, low) if key_in == low else (high, kpl.MAX_HASH_KEY)
    assert [r.data for r in kpl.deaggregate(inside, blob, start, end)] == [b"in"]
    assert len(kpl.deaggregate(inside, blob)) == 2  # without a range: all of them
