"""Exact counts of the copies an invocation leaves in the target.

Definitions (the same in both order modes, and what `turnout verify` counts from the streams):

- a **duplicate** is every copy of a record but one;
- an **inversion** is a copy, not its record's last one, written ahead of the *last* copy of an
  earlier record of its key: a consumer that keeps the last write per key steps back once for
  each. (Last copies out of order would be a broken order; the replicator never makes that.)

Copies are counted per invocation and add up across invocations. Every record at or after the
point where Lambda resumes (the failure index ``f``) is written again by a later invocation,
so for the copies this invocation made:

- duplicates = (every successful write) - f: the records before ``f`` keep one copy each as
  their last one; every copy of a record at or after ``f`` is followed by the retry's;
- inversions = the copies the writer flagged when it made them (at or after a failed or
  out-of-order entry of their key in the same call: that entry's last copy comes later), plus
  the copies of records at or after ``f`` that were final when made but that the retry will
  precede again: those with an earlier record of their key at or after ``f``.

Calls whose outcome is unknown (a timeout, a connection lost after sending, an answer that
cannot be read) may have written their entries anyway: those copies cannot be counted and are
reported apart (``UnknownOutcomeEntries``).
"""

from __future__ import annotations

from .schedule import DONE


def duplicates(successful_writes: int, failure_index: int) -> int:
    return successful_writes - failure_index


def future_inversions(keys: list[str], state: bytearray, failure_index: int, count: int) -> int:
    """Final copies at or after ``failure_index`` with an earlier same-key record there."""
    seen: set[str] = set()
    inversions = 0
    for index in range(failure_index, count):
        key = keys[index]
        if state[index] == DONE and key in seen:
            inversions += 1
        seen.add(key)
    return inversions
