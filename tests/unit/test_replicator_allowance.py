"""The scheduler applies Allowance's rule exactly: a record goes to a shard with a record left
when it fits the bucket's bytes (or the bucket is full) and the window's bytes (or the window is
empty), and taking a record ends both exceptions; what it took is what Allowance.taken reports."""

from __future__ import annotations

import random

import pytest

from turnout.lambdas.replicator.pacing import Allowance
from turnout.lambdas.replicator.schedule import CallScheduler


def the_rule(order, sizes, shards, keys, room, max_records, max_bytes, relaxed):
    """Allowance's rule as stated, record by record in source order: the records one call takes."""
    records, bucket, window, full, idle = (list(values) for values in room)
    call, total, blocked = [], 0, set()
    for index in order:
        size, shard = sizes[index], shards[index]
        if len(call) == max_records or (call and total + size > max_bytes):
            break
        if keys[index] in blocked:
            continue
        if (
            records[shard] < 1
            or (size > bucket[shard] and not full[shard])
            or (size > window[shard] and not idle[shard])
        ):
            if relaxed:
                blocked.add(keys[index])
            continue
        records[shard] -= 1
        bucket[shard] -= size
        window[shard] -= size
        full[shard] = idle[shard] = False
        call.append(index)
        total += size
    return call


def a_case(rng: random.Random):
    count, shard_count = rng.randint(1, 40), rng.randint(1, 3)
    sizes = [rng.choice([rng.randint(1, 300), rng.randint(300, 3000)]) for _ in range(count)]
    shards = [rng.randrange(shard_count) for _ in range(count)]
    keys = [f"k{rng.randrange(6)}" for _ in range(count)]
    room = (
        [rng.randint(0, 12) for _ in range(shard_count)],
        [
            rng.choice([rng.uniform(-500, 4000), float(rng.randint(0, 4000))])
            for _ in range(shard_count)
        ],
        [rng.randint(-500, 4000) for _ in range(shard_count)],
        [rng.random() < 0.5 for _ in range(shard_count)],
        [rng.random() < 0.5 for _ in range(shard_count)],
    )
    return sizes, shards, keys, room, rng.randint(1, 25), rng.randint(300, 20_000)


@pytest.mark.parametrize("relaxed", [False, True])
def test_the_scheduler_takes_what_the_rule_allows_and_taken_says_so(relaxed):
    rng = random.Random(7)
    for _ in range(3000):
        sizes, shards, keys, room, max_records, max_bytes = a_case(rng)
        allowance = Allowance(len(room[0]))
        allowance.records, allowance.bucket, allowance.window, allowance.full, allowance.idle = (
            list(values) for values in room
        )
        allowance.seal()
        # strict: every record eligible at once stands for the heads of distinct keys
        scheduler = CallScheduler(
            keys if relaxed else [str(i) for i in range(len(keys))],
            len(sizes),
            relaxed=relaxed,
            window=len(sizes),
        )

        call = scheduler.take(sizes, shards, allowance, max_records, max_bytes)

        expected = the_rule(
            range(len(sizes)), sizes, shards, keys, room, max_records, max_bytes, relaxed
        )
        assert call == expected
        taken: dict[int, list] = {}
        for index in call:
            shard = taken.setdefault(shards[index], [0, 0])
            shard[0] += 1
            shard[1] += sizes[index]
        reported = allowance.taken()
        assert reported.keys() == taken.keys()
        for shard, (records, size) in taken.items():
            # bytes as a float: a bucket taken into debt may round its last digit
            assert reported[shard][0] == records and reported[shard][1] == pytest.approx(size)
