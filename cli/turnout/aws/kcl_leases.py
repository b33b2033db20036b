"""KCL's lease table as turnout reads it: every lease as plain values, and a stream's leases by
shard id (the key format:
https://docs.aws.amazon.com/streams/latest/dev/shared-throughput-kcl-consumers.html#shared-throughput-kcl-leasetable).
Read by the KCL drain predicate, the read-across instances' check and the sandbox's worker."""

from __future__ import annotations

from typing import Any


def read_leases(dynamodb: Any, table: str) -> list[dict]:
    """Every lease of a KCL lease table (a consistent scan), attributes as plain values."""
    items: list[dict] = []
    arguments: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**arguments)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return [
                {key: next(iter(value.values())) for key, value in item.items()} for item in items
            ]
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def leases_of_stream(leases: list[dict], physical: str, single_stream: bool) -> dict[str, dict]:
    """shard id -> lease, for one stream: keys `<account>:<stream>:<creation epoch>:<shard id>`
    of a multi-stream application, plain shard ids only for a single-stream one."""
    found: dict[str, dict] = {}
    for lease in leases:
        key = str(lease.get("leaseKey", ""))
        parts = key.split(":")
        if len(parts) >= 4 and parts[-3] == physical:
            found[parts[-1]] = lease
        elif len(parts) == 1 and single_stream:
            found[key] = lease
    return found
