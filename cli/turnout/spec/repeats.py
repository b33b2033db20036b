"""Entries of a spec list that repeat a key an earlier entry has (names, targets, records)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import TypeVar

Item = TypeVar("Item")


def repeats(items: Sequence[Item], key: Callable[[Item], Hashable]) -> Iterator[tuple[int, int]]:
    """(index, index of the first entry with the same key) for every later entry with it."""
    first: dict[Hashable, int] = {}
    for index, item in enumerate(items):
        seen = first.setdefault(key(item), index)
        if seen != index:
            yield index, seen
