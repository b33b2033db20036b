"""Compare, per partition key, what the new stream received with what replication put in the old.

Pure functions over digests: no AWS, no payloads. A record is a `Seen` (sha256 of its data, the
shard and sequence number it was read at, and whether it lies in an edge window). For one key:

- each digest is matched occurrence by occurrence (the k-th copy in old matches the k-th in new);
- a new record without an old copy is **missing**, or **not yet replicated** when it arrived in
  the in-flight tail (its `edge` flag: within the replication grace before the tip snapshot);
- an old record whose digest never appears in new is **extra**, or **before the window** when it
  arrived within the grace after an explicit `--since` (the copy of a record older than the
  window, which the new side did not read);
- old copies beyond the new count of a digest are **duplicated**;
- the matched records are compared in order, duplicates removed: the fewest records that must
  move to restore new's order (length minus the longest increasing subsequence) are
  **reordered**;
- every old copy that is not its record's last copy and lies before the *last* old copy of an
  earlier record of the key is an **inversion** (a consumer keeping the last write per key steps
  back once for each): counted, never a failure, and the definition the replicator counts with
  (docs/replicator.md). Last copies out of order are not inversions but reordered records.

The stream's order rule decides which copy is matched. ``strict`` (the replicator keeps first
copies in order): the first old copies; later ones are the duplicates. ``relaxed`` (the
replicator keeps last copies in order, and re-sends whatever an inversion put early): the last
old copies; earlier ones are the duplicates, and a relaxed stream's duplicates are no failure.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

PROBLEM_KINDS = ("missing", "extra", "duplicated", "reordered")
NOTED_KINDS = ("not_yet_replicated", "before_window", "inversions")
ORDERINGS = ("strict", "relaxed")


def failing_kinds(ordering: str, allow_duplicates: bool = False) -> tuple[str, ...]:
    """The kinds that fail a stream: a relaxed stream's duplicates are part of its contract."""
    allowed = allow_duplicates or ordering == "relaxed"
    return tuple(kind for kind in PROBLEM_KINDS if not (kind == "duplicated" and allowed))


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True, slots=True)
class Seen:
    digest: bytes
    shard: str
    sequence: str
    edge: bool = False


@dataclass
class KeyComparison:
    key: str
    new: int = 0
    old: int = 0
    matched: int = 0
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    findings: list[dict] = field(default_factory=list)
    failing: tuple[str, ...] = PROBLEM_KINDS

    @property
    def failed(self) -> bool:
        return any(self.counts.get(kind) for kind in self.failing)

    def note(self, kind: str, side: str, seen: Seen) -> None:
        self.counts[kind] += 1
        self.findings.append(
            {
                "kind": kind,
                "key": self.key,
                "stream_side": side,
                "shard": seen.shard,
                "sequence_number": seen.sequence,
                "digest": seen.digest.hex()[:16],
            }
        )

    def as_dict(self) -> dict:
        return {
            "new": self.new,
            "old": self.old,
            "matched": self.matched,
            **{kind: self.counts.get(kind, 0) for kind in (*PROBLEM_KINDS, *NOTED_KINDS)},
        }


def compare_key(
    key: str,
    new: list[Seen],
    old: list[Seen],
    ordering: str = "strict",
    failing: tuple[str, ...] = PROBLEM_KINDS,
) -> KeyComparison:
    """Compare one key's records; `new` and `old` are each in stream order."""
    result = KeyComparison(key, new=len(new), old=len(old), failing=failing)
    new_positions: dict[bytes, list[int]] = defaultdict(list)
    old_positions: dict[bytes, list[int]] = defaultdict(list)
    for index, seen in enumerate(new):
        new_positions[seen.digest].append(index)
    for index, seen in enumerate(old):
        old_positions[seen.digest].append(index)

    partner_in_new: dict[int, int] = {}  # old index -> new index, for matched occurrences
    for value in new_positions.keys() | old_positions.keys():
        in_new = new_positions.get(value, [])
        in_old = old_positions.get(value, [])
        common = min(len(in_new), len(in_old))
        matched = in_old[len(in_old) - common :] if ordering == "relaxed" else in_old[:common]
        partner_in_new.update(zip(matched, in_new[:common], strict=True))
        for index in in_new[common:]:
            seen = new[index]
            result.note("not_yet_replicated" if seen.edge else "missing", "new", seen)
        for index in (i for i in in_old if i not in partner_in_new):
            seen = old[index]
            if in_new:
                result.note("duplicated", "old", seen)
            else:
                result.note("before_window" if seen.edge else "extra", "old", seen)
    result.matched = len(partner_in_new)

    order = sorted(partner_in_new)  # matched old records in old order
    for old_index in out_of_order([partner_in_new[index] for index in order], order):
        result.note("reordered", "old", old[old_index])
    ranks = [
        partner_in_new.get(index, new_positions[seen.digest][0])
        for index, seen in enumerate(old)
        if seen.digest in new_positions
    ]
    result.counts["inversions"] += inversions(ranks)
    return result


def inversions(ranks: list[int]) -> int:
    """Copies lying before the last copy of a lower rank (a right-to-left scan, O(n))."""
    last = {rank: position for position, rank in enumerate(ranks)}
    lowest_after: int | None = None  # lowest rank whose last copy lies after this position
    count = 0
    for position in range(len(ranks) - 1, -1, -1):
        rank = ranks[position]
        if last[rank] == position:
            lowest_after = rank if lowest_after is None else min(lowest_after, rank)
        elif lowest_after is not None and lowest_after < rank:
            count += 1
    return count


def out_of_order(values: list[int], labels: list[int]) -> list[int]:
    """Labels of the fewest elements to remove so that `values` increases (complement of one
    longest increasing subsequence, O(n log n))."""
    if not values:
        return []
    tails: list[int] = []  # smallest tail value of an increasing run of each length
    tail_index: list[int] = []
    previous = [-1] * len(values)
    for index, value in enumerate(values):
        length = bisect.bisect_left(tails, value)
        if length == len(tails):
            tails.append(value)
            tail_index.append(index)
        else:
            tails[length] = value
            tail_index[length] = index
        previous[index] = tail_index[length - 1] if length else -1
    keep: set[int] = set()
    cursor = tail_index[-1]
    while cursor != -1:
        keep.add(cursor)
        cursor = previous[cursor]
    return [labels[index] for index in range(len(values)) if index not in keep]
