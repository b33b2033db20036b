"""The near-prefix schedule: which records go into the next PutRecords call.

Calls are filled in source order, oldest pending record first, and only from the first
``window`` records after the first record not yet written (the *prefix*, where Lambda resumes
if the invocation stops). So when an invocation stops early, fewer than ``window`` records after
the resume point can already be in the target: the duplicates a stop can cause are bounded by
one call, whatever the failure rate.

ORDER RULES
-----------
PutRecords gives no ordering across the entries of one call when some fail: if A1 fails and A2
(same key) succeeds, A2 is in the stream first and nothing can undo that.

- **strict**: each call carries at most one not-yet-acknowledged record per partition key (the
  head of the key's queue); the key's next record becomes eligible once a successful entry
  acknowledged its predecessor. Calls are made one at a time, so "acknowledged" is never
  ambiguous. A hot key moves one record per round trip.
- **relaxed**: every pending record is eligible, so a key's run travels in one call in source
  order. When an entry fails (or is stored behind a later entry of its key), the writer sends it
  and every later entry of its key in that call again, in order: the *last* copy of every record
  is in source order; the earlier copies are duplicates, and those written ahead of an earlier
  record's last copy are *inversions* (counted exactly, see accounting.py). Within one fill, a
  key whose record had to be skipped (its shard is full) is skipped from there on, so a key's
  records are never sent out of source order.

State is flat arrays indexed by the record's position in the batch and one min-heap of the
eligible records; every record popped is either taken or pushed back, so the heap holds each
eligible record once. O(log n) per record.
"""

from __future__ import annotations

import heapq

from .pacing import UNPACED, Allowance

WAITING, READY, DONE = 0, 1, 2


class CallScheduler:
    def __init__(self, keys: list[str], count: int, *, relaxed: bool, window: int) -> None:
        self.keys = keys
        self.count = count
        self.relaxed = relaxed
        self.window = window
        self.prefix = 0
        if relaxed:
            self.state = bytearray([READY]) * count
            self.following: list[int] = []
            self.ready = list(range(count))  # sorted: already a heap
            return
        self.state = bytearray(count)  # WAITING
        following = [-1] * count
        last_seen: dict[str, int] = {}
        get = last_seen.get
        for index in range(count - 1, -1, -1):
            key = keys[index]
            following[index] = get(key, -1)
            last_seen[key] = index
        self.following = following
        self.ready = sorted(last_seen.values())  # the first record of each key
        state = self.state
        for index in self.ready:
            state[index] = READY

    def take(
        self,
        sizes: list[int],
        shards: list[int],
        allowance: Allowance | None,
        max_records: int,
        max_bytes: int,
    ) -> list[int]:
        """The next call's records, oldest first, drawing on ``allowance`` (None: unpaced)."""
        heap, keys, relaxed = self.ready, self.keys, self.relaxed
        heappop = heapq.heappop
        limit = self.prefix + self.window
        call: list[int] = []
        skipped: list[int] = []
        blocked: set[str] = set()
        total = 0
        if allowance is not None:
            records, room = allowance.records, allowance.room
        while heap and len(call) < max_records:
            index = heap[0]
            if index >= limit:
                break
            size = sizes[index]
            if call and total + size > max_bytes:
                break
            heappop(heap)
            if blocked and keys[index] in blocked:
                skipped.append(index)
                continue
            shard = shards[index]
            if allowance is not None and shard != UNPACED:
                # Allowance's rule: a record left, and the bytes fit (or an exception holds).
                if records[shard] < 1 or (
                    size > room[shard] and not allowance.allows_beyond_room(shard, size)
                ):
                    skipped.append(index)
                    if relaxed:
                        blocked.add(keys[index])
                    continue
                records[shard] -= 1
                room[shard] -= size
            call.append(index)
            total += size
        for index in skipped:
            heapq.heappush(heap, index)
        return call

    def oldest_eligible(self) -> int | None:
        """The record the next call would start with, were its shard not full."""
        heap = self.ready
        if heap and heap[0] < self.prefix + self.window:
            return heap[0]
        return None

    def done(self, indices: list[int]) -> None:
        """Records ``indices`` are in the target for good (their last copies)."""
        state = self.state
        if self.relaxed:
            for index in indices:
                state[index] = DONE
            return
        following, heap = self.following, self.ready
        for index in indices:
            state[index] = DONE
            successor = following[index]
            if successor >= 0:
                state[successor] = READY
                heapq.heappush(heap, successor)

    def again(self, index: int) -> None:
        """Record ``index`` must be sent (again) in a later call."""
        heapq.heappush(self.ready, index)

    def advance(self) -> int:
        """Move the prefix past the records done; returns it."""
        state, prefix, count = self.state, self.prefix, self.count
        while prefix < count and state[prefix] == DONE:
            prefix += 1
        self.prefix = prefix
        return prefix
