"""`hot-keys` on the emulator (the session's moto server, its `aws` fidelity profile: per-shard
write and read limits, per-API latency): 3,000 records written under one partition key within
a few seconds fail the row (a strict key moves one record per round trip, and the round trip is
timed against the old stream); the same volume spread over 1,000 keys passes. The check reads the
stream through the environment's credentials with real boto3 clients: AT_TIMESTAMP iterators,
GetRecords, CloudWatch GetMetricData (the emulator publishes no PutRecords.Latency, so the
ListShards round trips are timed)."""

from __future__ import annotations

import time

import pytest
from hooks_kit import create_streams, make_spec

from turnout.aws.access import AwsAccess
from turnout.preflight.hot_keys import assess
from turnout.preflight.registry import PreflightContext
from turnout.preflight.result import Verdict

pytestmark = pytest.mark.integration

RECORDS = 3_000
WINDOW_SECONDS = 10.0  # the writes take about 3 s (a shard takes 1,000 records/s)


def write(kinesis, stream: str, keys: list[str]) -> None:
    """RECORDS records, the keys in turn, 500 per PutRecords; throttled entries sent again."""
    pending = [
        {"Data": b'{"n": %d}' % index, "PartitionKey": keys[index % len(keys)]}
        for index in range(RECORDS)
    ]
    deadline = time.monotonic() + 30
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} records not written in 30 s"
        call, pending = pending[:500], pending[500:]
        answer = kinesis.put_records(StreamName=stream, Records=call)
        failed = [
            entry
            for entry, result in zip(call, answer["Records"], strict=True)
            if "ErrorCode" in result
        ]
        if failed:
            pending = failed + pending
            time.sleep(0.2)


def row_after_writing(emulator, keys: list[str], shards: int):
    spec = make_spec(emulator, shards=shards)
    create_streams(emulator, spec, "old")
    stream = spec.streams[0].name_in("old")
    write(emulator.client("kinesis", "old"), stream, keys)
    context = PreflightContext(spec, ("old",), AwsAccess.for_emulator(spec, emulator))
    return assess(context, WINDOW_SECONDS)


def test_one_key_written_faster_than_a_round_trip_fails_and_the_same_volume_spread_passes(
    emulator,
):
    hot = row_after_writing(emulator, ["device-1"], shards=1)
    assert hot.verdict is Verdict.FAIL, hot.fact
    assert "events: key 'device-1' arrives at " in hot.fact
    assert "strict: one record per key per round trip of" in hot.fact
    assert "median of 5 ListShards round trips" in hot.fact  # no metric on the emulator
    assert "falls behind without bound" in hot.fact
    assert "streams[].ordering: relaxed for events" in hot.change

    spread = row_after_writing(emulator, [f"device-{n}" for n in range(1000)], shards=2)
    assert spread.verdict is Verdict.PASS, spread.fact
    assert "top keys: 'device-" in spread.fact
