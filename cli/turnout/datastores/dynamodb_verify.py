"""Verify a DynamoDB copy: item count and the order-independent checksum of both tables
(turnout.datastores.checksum), each read with parallel consistent scans. When they differ, a
second pass over only the differing key buckets lists the keys missing in the target, only in
the target, and present in both with other attributes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from turnout.datastores.checksum import TableDigest, item_digest, key_bucket, key_text
from turnout.spec.datastores import DynamoDbDataStore

SAMPLE = 10


def key_names(ddb: Any, table: str) -> tuple[str, ...]:
    schema = ddb.describe_table(TableName=table)["Table"]["KeySchema"]
    ordered = sorted(schema, key=lambda entry: entry["KeyType"] != "HASH")
    return tuple(entry["AttributeName"] for entry in ordered)


def scan_items(ddb: Any, table: str, segment: int, segments: int) -> Iterator[dict]:
    arguments: dict[str, Any] = {
        "TableName": table,
        "Segment": segment,
        "TotalSegments": segments,
        "ConsistentRead": True,
    }
    while True:
        page = ddb.scan(**arguments)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def table_digest(ddb: Any, table: str, keys: tuple[str, ...], segments: int) -> TableDigest:
    def one(segment: int) -> TableDigest:
        digest = TableDigest()
        for item in scan_items(ddb, table, segment, segments):
            digest.add(item, keys)
        return digest

    total = TableDigest()
    with ThreadPoolExecutor(segments, thread_name_prefix="ddb-verify") as pool:
        for digest in pool.map(one, range(segments)):
            total.merge(digest)
    return total


def verify_dynamodb(
    source: Any, target: Any, store: DynamoDbDataStore, progress: Callable[[str], None]
) -> dict:
    keys = key_names(source, store.source)
    progress(f"data store {store.name}: verifying (item count and checksum of both tables) ...")
    left = table_digest(source, store.source, keys, store.segments)
    right = table_digest(target, store.target, keys, store.segments)
    summary: dict[str, Any] = {
        "source_items": left.items,
        "target_items": right.items,
        "source_checksum": left.checksum,
        "target_checksum": right.checksum,
        "key": list(keys),
    }
    buckets = left.differing_buckets(right)
    summary.update({"missing": 0, "extra": 0, "changed": 0, "differences": 0, "samples": {}})
    if buckets:
        summary.update(_differences(source, target, store, keys, buckets))
    return summary


def _differences(
    source: Any, target: Any, store: DynamoDbDataStore, keys: tuple[str, ...], buckets: set[int]
) -> dict:
    left = _digests_in(source, store.source, keys, buckets, store.segments)
    right = _digests_in(target, store.target, keys, buckets, store.segments)
    missing = sorted(set(left) - set(right))
    extra = sorted(set(right) - set(left))
    changed = sorted(key for key in set(left) & set(right) if left[key] != right[key])
    samples = {
        name: found[:SAMPLE]
        for name, found in (("missing", missing), ("extra", extra), ("changed", changed))
        if found
    }
    return {
        "missing": len(missing),
        "extra": len(extra),
        "changed": len(changed),
        "differences": len(missing) + len(extra) + len(changed),
        "samples": samples,
    }


def _digests_in(
    ddb: Any, table: str, keys: tuple[str, ...], buckets: set[int], segments: int
) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for segment in range(segments):
        for item in scan_items(ddb, table, segment, segments):
            if key_bucket(item, keys) in buckets:
                found[key_text(item, keys)] = item_digest(item)
    return found


def describe_differences(summary: dict) -> str:
    labels = {
        "missing": "missing in the target",
        "extra": "only in the target",
        "changed": "with other attributes in the target",
    }
    parts = []
    for name, label in labels.items():
        if summary.get(name):
            keys = ", ".join(summary["samples"].get(name, []))
            parts.append(f"{summary[name]:,} item(s) {label} (first keys: {keys})")
    return "; ".join(parts)
