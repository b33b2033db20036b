"""`aggregated-records` on the emulator (the session's moto server, its `aws` fidelity profile):
the old stream carries KPL aggregates; a new stream with the same 4 evenly split shards passes,
one with 3 shards fails (its ranges cut across the old shards', so an aggregate replicated there
could land in a shard whose KCL consumer drops some of its sub-records); a stream without
aggregates passes whatever its peer's shards. The check reads the streams through the
environments' credentials with real boto3 clients."""

from __future__ import annotations

import pytest
from hooks_kit import create_streams, make_spec

from turnout.aws.access import AwsAccess
from turnout.preflight.registry import CHECKS, PreflightContext
from turnout.preflight.result import Verdict
from turnout.sandbox import kpl

pytestmark = pytest.mark.integration


def check_after_writing(emulator, new_shards: int, aggregated: bool):
    spec = make_spec(emulator, shards=4)
    create_streams(emulator, spec, "old")
    stream = spec.streams[0]
    emulator.client("kinesis", "new").create_stream(
        StreamName=stream.name_in("new"), ShardCount=new_shards
    )
    kinesis = emulator.client("kinesis", "old")
    for n in range(20):
        subs = [kpl.UserRecord(f"user-{n}-{s}", f"event {n}.{s}".encode()) for s in range(4)]
        kinesis.put_record(
            StreamName=stream.name_in("old"),
            Data=kpl.aggregate(subs) if aggregated else subs[0].data,
            PartitionKey=subs[0].partition_key,
        )
    context = PreflightContext(spec, ("old",), AwsAccess.for_emulator(spec, emulator))
    return CHECKS["aggregated-records"].run(context)


def test_aggregates_pass_on_a_shard_aligned_peer_and_fail_on_one_whose_ranges_cut_across(
    emulator,
):
    aligned = check_after_writing(emulator, new_shards=4, aggregated=True)
    assert aligned.verdict is Verdict.PASS, aligned.fact
    assert "events: 20 of 20 records sampled in" in aligned.fact
    assert "every aggregate lands whole" in aligned.fact

    misaligned = check_after_writing(emulator, new_shards=3, aggregated=True)
    assert misaligned.verdict is Verdict.FAIL, misaligned.fact
    assert "2 of its 4 open shards' hash key ranges do not lie within one open shard" in (
        misaligned.fact
    )
    assert "(new, 3 open shards)" in misaligned.fact
    assert "the same number of evenly split shards" in misaligned.change


def test_a_stream_without_aggregates_passes_whatever_its_peers_shards(emulator):
    plain = check_after_writing(emulator, new_shards=3, aggregated=False)
    assert plain.verdict is Verdict.PASS, plain.fact
    assert "no KPL aggregate among 20 records sampled in" in plain.fact
