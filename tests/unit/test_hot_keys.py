"""`hot-keys`: the per-key ceiling of each ordering mode, the verdicts at the ceiling and at half
of it, per-key rates from a bounded AT_TIMESTAMP sample (paced to a shard's read budget), and the
latency estimate (CloudWatch's PutRecords.Latency, else timed ListShards round trips). Kinesis
and CloudWatch are in-process stand-ins here; tests/integration/test_hot_keys_emulator.py reads
real streams on the emulator."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from turnout.preflight.hot_keys import WARN_SHARE, assess, ceiling, verdict
from turnout.preflight.key_sample import READS_PER_SHARD, read_window
from turnout.preflight.registry import CHECKS, PreflightContext
from turnout.preflight.result import Verdict
from turnout.preflight.target_latency import estimate_latencies
from turnout.spec.loader import load_spec
from turnout.spec.names import names

EXAMPLE = Path(__file__).resolve().parents[2] / "terraform" / "migration.yaml"
NOW = 1_000_000.0
WINDOW = 60.0


class Kinesis:
    """Per physical stream, per shard: the GetRecords answers in turn (AT_TIMESTAMP on)."""

    def __init__(self, answers: dict[str, dict[str, list[dict]]], fail: Exception | None = None):
        self.answers = answers
        self.fail = fail
        self.reads: list[str] = []
        self.probes = 0

    def list_shards(self, StreamName: str = "", **arguments) -> dict:
        if self.fail:
            raise self.fail
        if arguments.get("MaxResults") == 1:
            self.probes += 1
        return {"Shards": [{"ShardId": shard} for shard in self.answers.get(StreamName, {})]}

    def get_shard_iterator(self, StreamName, ShardId, ShardIteratorType, Timestamp) -> dict:
        assert ShardIteratorType == "AT_TIMESTAMP"
        assert Timestamp.timestamp() == pytest.approx(NOW - WINDOW)
        return {"ShardIterator": f"{StreamName}|{ShardId}|0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict:
        stream, shard, page = ShardIterator.split("|")
        self.reads.append(shard)
        answers = self.answers[stream][shard]
        answer = answers[int(page)] if int(page) < len(answers) else {"MillisBehindLatest": 0}
        return {"Records": [], **answer, "NextShardIterator": f"{stream}|{shard}|{int(page) + 1}"}


class CloudWatch:
    def __init__(self, milliseconds: dict[str, float]):
        self.milliseconds = milliseconds

    def get_metric_data(self, MetricDataQueries, StartTime, EndTime, **_) -> dict:
        # The hour before now on the services' clock (the context's), not this machine's.
        assert EndTime.timestamp() == NOW and StartTime.timestamp() == NOW - 3600
        results = []
        for query in MetricDataQueries:
            metric = query["MetricStat"]["Metric"]
            assert (metric["Namespace"], metric["MetricName"]) == (
                "AWS/Kinesis",
                "PutRecords.Latency",
            )
            stream = metric["Dimensions"][0]["Value"]
            found = [self.milliseconds[stream]] if stream in self.milliseconds else []
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [datetime.fromtimestamp(NOW, UTC)] * len(found),
                    "Values": found,
                }
            )
        return {"MetricDataResults": results}


class Access:
    def __init__(self, kinesis: dict[str, Kinesis], cloudwatch: CloudWatch | None = None):
        self.kinesis = kinesis
        self.cloudwatch = cloudwatch or CloudWatch({})

    def client(self, environment: str, service: str):
        return self.kinesis[environment] if service == "kinesis" else self.cloudwatch


def records(key: str, count: int, size: int = 100, behind_seconds: float = 0.0) -> dict:
    arrivals = [NOW - WINDOW + 1 + index * (WINDOW - 2) / max(count, 1) for index in range(count)]
    return {
        "Records": [
            {"PartitionKey": key, "Data": b"x" * size, "ApproximateArrivalTimestamp": moment}
            for moment in arrivals
        ],
        "MillisBehindLatest": int(behind_seconds * 1000),
    }


@pytest.fixture(scope="module")
def spec():
    return load_spec(EXAMPLE)


def old(spec, logical: str) -> str:
    return names(spec, "old").stream(logical)


def row(spec, answers, latency_ms=20.0, stream_spec=None, fail=None):
    """The row with the old streams holding `answers` and CloudWatch giving `latency_ms` (None:
    no datapoint)."""
    spec = stream_spec or spec
    by_name = {old(spec, stream): shards for stream, shards in answers.items()}
    kinesis = Kinesis(by_name, fail)
    published = {} if latency_ms is None else {old(spec, s.name): latency_ms for s in spec.streams}
    context = PreflightContext(spec, ("old",), Access({"old": kinesis}, CloudWatch(published)))
    context.clock = lambda: NOW
    return assess(context, WINDOW), kinesis


def test_the_strict_ceiling_is_one_record_per_key_per_round_trip():
    limit = ceiling("strict", 0.020, 100)
    assert limit.per_second == pytest.approx(50.0)
    assert "one record per key per round trip of 20.0 ms" in limit.why


def test_the_relaxed_ceiling_is_the_target_shards_limit_or_a_full_call_per_round_trip():
    assert ceiling("relaxed", 0.020, 100).per_second == 1000  # the shard's records/s
    big = ceiling("relaxed", 0.020, 10 * 1024)  # 1 MiB/s of 10 KiB records
    assert big.per_second == pytest.approx(102.4) and "1 MiB/s at 10240 bytes" in big.why
    slow = ceiling("relaxed", 1.0, 100)  # 500 records per one-second round trip
    assert slow.per_second == 500 and "500 records per round trip" in slow.why


def test_a_key_fails_above_its_ceiling_and_warns_above_half_of_it():
    limit = ceiling("strict", 0.020, 100)
    assert verdict(50.1, limit) is Verdict.FAIL
    assert verdict(50.0, limit) is Verdict.WARN
    assert verdict(50 * WARN_SHARE + 0.1, limit) is Verdict.WARN
    assert verdict(50 * WARN_SHARE, limit) is Verdict.PASS


def test_a_strict_key_faster_than_one_record_per_round_trip_fails_naming_stream_key_rate_ceiling(
    spec,
):
    check, _ = row(spec, {"orders": {"s-0": [records("customer-7", 3600)]}})
    assert check.verdict is Verdict.FAIL
    assert "orders: key 'customer-7' arrives at 60.0 records/s" in check.fact
    assert "ceiling of 50.0 records/s" in check.fact
    assert "CloudWatch PutRecords.Latency of" in check.fact
    assert "falls behind without bound" in check.fact
    assert "streams[].ordering: relaxed for orders" in check.change
    assert "spread the key" in check.change


def test_the_same_volume_spread_over_many_keys_passes_with_the_top_keys_figures(spec):
    spread = {"Records": [], "MillisBehindLatest": 0}
    for index in range(360):
        spread["Records"] += records(f"customer-{index}", 10)["Records"]
    check, _ = row(spec, {"orders": {"s-0": [spread]}})
    assert check.verdict is Verdict.PASS
    assert "arrives at 0.2 records/s" in check.fact and "top keys:" in check.fact


def test_a_key_above_half_its_ceiling_warns(spec):
    check, _ = row(spec, {"orders": {"s-0": [records("k", 1800)]}})  # 30/s of 50/s
    assert check.verdict is Verdict.WARN
    assert "60% of the replicator's ceiling" in check.fact


def test_relaxed_ordering_lifts_the_ceiling_to_the_target_shards_limit(spec):
    relaxed = spec.model_copy(
        update={
            "streams": [
                s.model_copy(update={"ordering": "relaxed"}) if s.name == "orders" else s
                for s in spec.streams
            ]
        }
    )
    check, _ = row(spec, {"orders": {"s-0": [records("customer-7", 3600)]}}, stream_spec=relaxed)
    assert check.verdict is Verdict.PASS
    assert "relaxed: a target shard's 1,000 records/s" in check.fact


def test_without_a_published_latency_the_round_trips_to_the_target_are_timed(spec):
    # ListShards round trips of 10, 30, 20, 20, 20 ms per stream: the median is 20 ms.
    ticks = iter([0.0, 0.010, 1.0, 1.030, 2.0, 2.020, 3.0, 3.020, 4.0, 4.020] * len(spec.streams))
    kinesis = Kinesis({})
    found = estimate_latencies(
        spec, Access({"old": kinesis}), timer=lambda: next(ticks), clock=lambda: NOW
    )
    assert found["orders"].seconds == pytest.approx(0.020)
    assert found["orders"].physical == old(spec, "orders")
    assert "median of 5 ListShards round trips" in found["orders"].source
    assert "no PutRecords.Latency datapoint in the last 1 h" in found["orders"].source
    assert kinesis.probes == 5 * len(spec.streams)
    check, _ = row(spec, {"orders": {"s-0": [records("k", 10)]}}, latency_ms=None)
    assert "median of 5 ListShards round trips" in check.fact


def test_a_stream_that_cannot_be_read_is_unknown_never_a_pass(spec):
    denied = ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListShards"
    )
    check, _ = row(spec, {"orders": {}}, fail=denied)
    assert check.verdict is Verdict.UNKNOWN and check.unread
    assert "could not read stream" in check.fact and "AccessDeniedException" in check.fact


def test_without_the_old_environment_the_row_says_what_it_needs(spec):
    context = PreflightContext(spec, ("new",), Access({}))
    check = CHECKS["hot-keys"].run(context)
    assert check.verdict is Verdict.PASS and "--env old or both" in check.fact


def test_a_busy_shard_is_read_at_most_five_times_at_one_call_a_second_and_rated_on_what_was_read():
    behind = [records("k", 1000, behind_seconds=30.0) for _ in range(READS_PER_SHARD + 3)]
    kinesis = Kinesis({"s": {"a": behind, "b": [records("j", 10)]}})
    waits: list[float] = []
    tallies = read_window(kinesis, "s", NOW - WINDOW, waits.append)
    assert kinesis.reads.count("a") == READS_PER_SHARD and kinesis.reads.count("b") == 1
    assert sum(1 for wait in waits if wait > 0.9) >= READS_PER_SHARD - 1  # one call a second
    assert not tallies["a"].at_tip and tallies["b"].at_tip
    assert tallies["a"].records["k"] == 5000


def test_a_large_answer_pays_for_its_bytes_before_the_shards_next_read():
    four_mib = records("k", 4, size=1024 * 1024, behind_seconds=10.0)
    kinesis = Kinesis({"s": {"a": [four_mib, records("k", 1)]}})
    waits: list[float] = []
    read_window(kinesis, "s", NOW - WINDOW, waits.append)
    assert max(waits) > 1.9  # 4 MiB at 2 MiB/s: two seconds before the next call
