"""The DynamoDB copy's checksum: independent of scan order and segmentation, sensitive to a
duplicated, missing or changed item, and able to say which keys differ."""

from __future__ import annotations

import random

from turnout.datastores.checksum import TableDigest, canonical, item_digest, key_bucket

KEYS = ("user", "at")


def item(number: int, **extra: dict) -> dict:
    return {
        "user": {"S": f"u{number % 13}"},
        "at": {"N": str(number)},
        "tags": {"SS": [f"b{number}", f"a{number}"]},
        "nested": {"M": {"z": {"N": "1.50"}, "a": {"L": [{"B": b"\x00\x01"}, {"NULL": True}]}}},
        **extra,
    }


def digest(items: list[dict]) -> TableDigest:
    found = TableDigest()
    for entry in items:
        found.add(entry, KEYS)
    return found


def test_the_checksum_does_not_depend_on_scan_order_or_segments():
    items = [item(n) for n in range(500)]
    shuffled = items[:]
    random.Random(7).shuffle(shuffled)
    whole = digest(items)
    in_segments = TableDigest()
    for segment in range(4):
        in_segments.merge(digest(shuffled[segment::4]))
    assert whole.checksum == in_segments.checksum == digest(shuffled).checksum
    assert whole.items == in_segments.items == 500


def test_equal_values_in_another_form_have_one_digest():
    assert item_digest({"n": {"N": "1.0"}}) == item_digest({"n": {"N": "1"}})
    assert item_digest({"s": {"SS": ["b", "a"]}}) == item_digest({"s": {"SS": ["a", "b"]}})
    assert item_digest({"a": {"S": "x"}, "b": {"S": "y"}}) == item_digest(
        {"b": {"S": "y"}, "a": {"S": "x"}}
    )
    assert canonical({"NS": ["10", "9.0"]}) == {"NS": ["10", "9"]}


def test_a_duplicated_missing_or_changed_item_changes_the_checksum():
    items = [item(n) for n in range(100)]
    base = digest(items).checksum
    assert digest([*items, items[3]]).checksum != base, "a duplicate is not cancelled out"
    assert digest(items[1:]).checksum != base
    changed = items[:]
    changed[5] = item(5, extra={"S": "one more attribute"})
    assert digest(changed).checksum != base


def test_only_the_bucket_of_a_changed_key_differs():
    items = [item(n) for n in range(300)]
    changed = items[:]
    changed[42] = item(42, extra={"BOOL": True})
    buckets = digest(items).differing_buckets(digest(changed))
    assert buckets == {key_bucket(items[42], KEYS)}
