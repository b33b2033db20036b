"""The emulator's shard reads by position answer exactly what moto's walk over every record
answers: same records, next position and MillisBehindLatest, at the tip, mid-shard, after the
oldest records were trimmed, and (falling back to the walk) with a gap in the numbering."""

from __future__ import annotations

import pytest

pytest.importorskip("moto", reason="the sandbox extra (moto) is part of the dev install")

from moto.kinesis.models import Shard

from turnout.sandbox.emulator.kinesis_reads import read_shards_by_position

POSITIONS = ("0", "1", "7", "25", "49", "50", "51", "1000")
LIMITS = (None, 1, 5, 10000)  # GetRecords Limit is 1-10000 or absent


@pytest.fixture
def walk(monkeypatch):
    """moto's own get_records; the patch is undone after the test."""
    original = Shard.get_records
    for name in ("get_records", "get_min_sequence_number", "get_max_sequence_number"):
        monkeypatch.setattr(Shard, name, getattr(Shard, name))
    read_shards_by_position()
    return original


def a_shard_of(count: int) -> Shard:
    shard = Shard(0, 0, 2**128 - 1)
    for index in range(count):
        shard.put_record(f"key-{index % 7}", f"data-{index}", None)
    return shard


def answers(read, shard: Shard) -> list:
    return [
        ([r.sequence_number for r in records], position, behind)
        for after in POSITIONS
        for limit in LIMITS
        for records, position, behind in [read(shard, after, limit)]
    ]


def test_reads_by_position_match_moto_on_a_full_shard(walk):
    shard = a_shard_of(50)
    assert answers(Shard.get_records, shard) == answers(walk, shard)
    assert (shard.get_min_sequence_number(), shard.get_max_sequence_number()) == (1, 50)


def test_reads_by_position_match_moto_after_the_oldest_records_were_trimmed(walk):
    shard = a_shard_of(50)
    for number in range(1, 21):
        shard.records.pop(number)
    assert answers(Shard.get_records, shard) == answers(walk, shard)
    assert shard.get_min_sequence_number() == 21


def test_a_gap_in_the_numbering_falls_back_to_motos_walk(walk):
    shard = a_shard_of(50)
    shard.records.pop(30)
    assert answers(Shard.get_records, shard) == answers(walk, shard)


def test_an_empty_shard_reads_nothing_and_keeps_the_position(walk):
    shard = a_shard_of(0)
    assert Shard.get_records(shard, "12", None) == ([], 12, 0)
    assert (shard.get_min_sequence_number(), shard.get_max_sequence_number()) == (0, 0)
