"""Retention tests: an emulator whose sandbox clock runs fast, and what a one-shard stream still
holds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from turnout.sandbox.emulator.launcher import Emulator
from turnout.sandbox.emulator.profile import AWS


@contextmanager
def fast_clock_emulator(directory: Path, clock_rate: float) -> Iterator[Emulator]:
    """The `aws` profile with the sandbox clock at `clock_rate` simulated seconds per second."""
    emulator = Emulator(
        directory, region="eu-west-1", profile=AWS.with_changes(clock_rate=clock_rate)
    ).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def records_held(kinesis: Any, stream: str) -> list[dict]:
    """Every record the one-shard `stream` still holds, read from TRIM_HORIZON: what a consumer
    enabled now at TRIM_HORIZON can read."""
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    held: list[dict] = []
    for _ in range(20):  # empty answers behind the tip are followed, as AWS asks
        answer = kinesis.get_records(ShardIterator=iterator, Limit=1000)
        held += answer["Records"]
        iterator = answer["NextShardIterator"]
        if not answer["Records"] and answer.get("MillisBehindLatest", 0) == 0:
            break
    return held
