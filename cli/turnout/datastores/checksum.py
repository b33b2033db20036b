"""An order-independent checksum of a DynamoDB table's items, in 256 buckets by key.

Each item is written in a canonical form (attribute names sorted, sets sorted, numbers
normalised, binary as base64) and hashed with SHA-256; a bucket's checksum is the sum of its
items' first 16 digest bytes modulo 2**128, so scan order and segmentation do not matter and a
duplicated item changes the sum (XOR would cancel it). An item's bucket comes from its key
alone: when two tables differ, only the differing buckets need a second, per-key look.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

BUCKETS = 256
MODULUS = 2**128


def canonical(value: dict) -> Any:
    """A DynamoDB attribute value (`{"S": ...}`, `{"M": {...}}`, ...) as plain JSON data."""
    ((kind, inner),) = value.items()
    if kind == "N":
        return {"N": _number(inner)}
    if kind == "B":
        return {"B": base64.b64encode(bytes(inner)).decode()}
    if kind == "SS":
        return {"SS": sorted(inner)}
    if kind == "NS":
        return {"NS": sorted(_number(item) for item in inner)}
    if kind == "BS":
        return {"BS": sorted(base64.b64encode(bytes(item)).decode() for item in inner)}
    if kind == "M":
        return {"M": {name: canonical(item) for name, item in inner.items()}}
    if kind == "L":
        return {"L": [canonical(item) for item in inner]}
    return {kind: inner}  # S, BOOL, NULL


def _number(text: str) -> str:
    try:
        return format(Decimal(text).normalize(), "f")
    except InvalidOperation:
        return text


def _encoded(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def item_digest(item: dict) -> bytes:
    return hashlib.sha256(_encoded({n: canonical(v) for n, v in item.items()})).digest()


def key_text(item: dict, key_names: tuple[str, ...]) -> str:
    """The item's key as compact JSON (how differences are listed)."""
    return _encoded({name: canonical(item[name]) for name in key_names}).decode()


def key_bucket(item: dict, key_names: tuple[str, ...]) -> int:
    return hashlib.sha256(key_text(item, key_names).encode()).digest()[0]


@dataclass
class TableDigest:
    items: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def add(self, item: dict, key_names: tuple[str, ...]) -> None:
        bucket = key_bucket(item, key_names)
        value = int.from_bytes(item_digest(item)[:16], "big")
        self.buckets[bucket] = (self.buckets[bucket] + value) % MODULUS
        self.items += 1

    def merge(self, other: TableDigest) -> None:
        self.items += other.items
        for index, value in enumerate(other.buckets):
            self.buckets[index] = (self.buckets[index] + value) % MODULUS

    @property
    def checksum(self) -> str:
        return f"{sum(self.buckets) % MODULUS:032x}"

    def differing_buckets(self, other: TableDigest) -> set[int]:
        return {index for index in range(BUCKETS) if self.buckets[index] != other.buckets[index]}
