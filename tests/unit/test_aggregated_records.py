"""`aggregated-records`, the cases the emulator test does not stage: an on-demand stream whose
shards line up now (a warning: Kinesis reshards it by itself), a peer whose shards cannot be
read (unknown, never a pass), a sample that could not be read, and the containment rule when
the peer has fewer, wider shards. Kinesis is an in-process stand-in here;
tests/integration/test_aggregated_records_emulator.py reads real streams on the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from turnout.preflight.aggregated_records import sample_findings
from turnout.preflight.key_sample import StreamSample
from turnout.preflight.registry import PreflightContext
from turnout.preflight.result import Verdict
from turnout.spec.loader import load_spec
from turnout.spec.names import names

EXAMPLE = Path(__file__).resolve().parents[2] / "terraform" / "migration.yaml"
TOP = 2**128


def even(count: int) -> list[dict]:
    step = TOP // count
    return [
        {
            "ShardId": f"shardId-{n:012d}",
            "HashKeyRange": {
                "StartingHashKey": str(n * step),
                "EndingHashKey": str(TOP - 1 if n == count - 1 else (n + 1) * step - 1),
            },
            "SequenceNumberRange": {"StartingSequenceNumber": "1"},
        }
        for n in range(count)
    ]


class Kinesis:
    def __init__(self, shards: list[dict] | None):
        self.shards = shards

    def list_shards(self, StreamName: str = "", **_) -> dict:
        if self.shards is None:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListShards"
            )
        return {"Shards": self.shards}


class Access:
    def __init__(self, old: list[dict] | None, new: list[dict] | None):
        self.kinesis = {"old": Kinesis(old), "new": Kinesis(new)}

    def client(self, environment: str, service: str):
        assert service == "kinesis"
        return self.kinesis[environment]


@pytest.fixture
def spec():
    return load_spec(EXAMPLE)


def findings(spec, stream: str, old_shards, new_shards, aggregates=5, problem=""):
    context = PreflightContext(spec, ("old",), Access(old_shards, new_shards))
    physical = names(spec, "old").stream(stream)
    sample = StreamSample(
        stream, "old", physical, 60.0, records=10, aggregates=aggregates, problem=problem
    )
    return sample_findings(context, sample)


def provisioned(spec) -> str:
    return next(s.name for s in spec.streams if s.capacity.mode == "provisioned")


def on_demand(spec) -> str:
    return next(s.name for s in spec.streams if s.capacity.mode == "on_demand")


def test_a_peer_with_fewer_wider_shards_holding_each_source_range_passes(spec):
    [found] = findings(spec, provisioned(spec), even(4), even(2))
    assert found.verdict is Verdict.PASS and "every aggregate lands whole" in found.fact


def test_a_peer_with_narrower_shards_fails(spec):
    [found] = findings(spec, provisioned(spec), even(2), even(4))
    assert found.verdict is Verdict.FAIL
    assert "2 of its 2 open shards' hash key ranges do not lie within one open shard" in found.fact


def test_closed_shards_do_not_count(spec):
    closed = even(4)
    for shard in closed:
        shard["SequenceNumberRange"]["EndingSequenceNumber"] = "9"
    [found] = findings(spec, provisioned(spec), even(2) + closed, even(2))
    assert found.verdict is Verdict.PASS and "each of its 2 open shards" in found.fact


def test_an_on_demand_stream_aligned_now_is_a_warning(spec):
    [found] = findings(spec, on_demand(spec), even(4), even(4))
    assert found.verdict is Verdict.WARN
    assert "on-demand" in found.fact and "provisioned with the same shard count" in found.change


def test_a_peer_that_cannot_be_read_is_unknown_never_a_pass(spec):
    [found] = findings(spec, provisioned(spec), even(2), None)
    assert found.verdict is Verdict.UNKNOWN and found.unread
    assert "AccessDeniedException" in found.fact


def test_an_unread_sample_is_unknown(spec):
    [found] = findings(spec, provisioned(spec), None, None, problem="could not read stream x")
    assert found.verdict is Verdict.UNKNOWN and "could not read stream x" in found.fact


def test_without_aggregates_nothing_else_is_read(spec):
    [found] = findings(spec, provisioned(spec), None, None, aggregates=0)
    assert found.verdict is Verdict.PASS and "no KPL aggregate among 10 records" in found.fact
