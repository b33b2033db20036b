"""The retention clock's arithmetic: the oldest record's age from MillisBehindLatest (the
stream's clock), a record at its shard's tip aged on the clock another shard showed, empty
answers followed, and the `retention-clock` verdicts at 80 % and at retention. Kinesis is an
in-process stand-in here; tests/integration/test_retention_clock_emulator.py reads the
emulator's accelerated clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from turnout.engine.status import retention_status, status_text
from turnout.preflight.registry import CHECKS, PreflightContext
from turnout.preflight.result import Verdict
from turnout.preflight.stream_age import (
    MACHINE_CLOCK,
    SHARED_CLOCK,
    STREAM_CLOCK,
    measure_streams,
)
from turnout.spec.loader import load_spec
from turnout.spec.names import names

EXAMPLE = Path(__file__).resolve().parents[2] / "terraform" / "migration.yaml"
HOUR = 3600.0


class Shards:
    """Per physical stream, per shard: the answers GetRecords gives in turn (TRIM_HORIZON on)."""

    def __init__(self, answers: dict[str, dict[str, list[dict]]], retention: int = 24) -> None:
        self.answers = answers
        self.retention = retention
        self.reads = 0

    def describe_stream_summary(self, StreamName: str) -> dict:
        return {"StreamDescriptionSummary": {"RetentionPeriodHours": self.retention}}

    def list_shards(self, StreamName: str = "", **_) -> dict:
        return {"Shards": [{"ShardId": shard} for shard in self.answers.get(StreamName, {})]}

    def get_shard_iterator(self, StreamName: str, ShardId: str, ShardIteratorType: str) -> dict:
        assert ShardIteratorType == "TRIM_HORIZON"
        return {"ShardIterator": f"{StreamName}|{ShardId}|0"}

    def get_records(self, ShardIterator: str, Limit: int) -> dict:
        assert Limit == 1
        self.reads += 1
        stream, shard, page = ShardIterator.split("|")
        answers = self.answers[stream][shard]
        answer = answers[int(page)] if int(page) < len(answers) else {"MillisBehindLatest": 0}
        return {"Records": [], **answer, "NextShardIterator": f"{stream}|{shard}|{int(page) + 1}"}


class Minutes:
    """CloudWatch holding AWS/Kinesis IncomingRecords sums: {period start (epoch s): count}, for
    every stream or, with `stream`, for that one only (the others have no datapoint)."""

    def __init__(self, counts: dict[float, float] | Exception, stream: str | None = None) -> None:
        self.counts = counts
        self.stream = stream
        self.asked: list[tuple[float, float, int]] = []

    def get_metric_data(self, MetricDataQueries, StartTime, EndTime, **_) -> dict:
        if isinstance(self.counts, Exception):
            raise self.counts
        start, end = StartTime.timestamp(), EndTime.timestamp()
        stat = MetricDataQueries[0]["MetricStat"]
        (dimension,) = stat["Metric"]["Dimensions"]
        if self.stream is not None and dimension["Value"] != self.stream:
            return {"MetricDataResults": [{"Id": "incoming", "Timestamps": [], "Values": []}]}
        self.asked.append((start, end, stat["Period"]))
        stamps = [moment for moment in sorted(self.counts) if start <= moment < end]
        return {
            "MetricDataResults": [
                {
                    "Id": "incoming",
                    "Timestamps": [datetime.fromtimestamp(moment, UTC) for moment in stamps],
                    "Values": [self.counts[moment] for moment in stamps],
                }
            ]
        }


class Access:
    def __init__(self, kinesis, cloudwatch: Minutes | None = None) -> None:
        self.kinesis = kinesis
        self.cloudwatch = cloudwatch

    def client(self, environment: str, service: str):
        if service == "cloudwatch":
            if self.cloudwatch is None:  # the preflight's credentials may not read CloudWatch
                raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "Get")
            return self.cloudwatch
        assert (environment, service) == ("new", "kinesis")
        if isinstance(self.kinesis, Exception):
            raise self.kinesis
        return self.kinesis


def record(arrival: float, behind_seconds: float, sequence: str = "7") -> dict:
    return {
        "Records": [{"SequenceNumber": sequence, "ApproximateArrivalTimestamp": arrival}],
        "MillisBehindLatest": int(behind_seconds * 1000),
    }


@pytest.fixture(scope="module")
def spec():
    return load_spec(EXAMPLE)


def physical(spec, logical: str) -> str:
    return names(spec, "new").stream(logical)


def measured(spec, answers, clock=lambda: 1_000_000.0, retention=24):
    by_name = {physical(spec, stream): shards for stream, shards in answers.items()}
    ages = measure_streams(spec, Access(Shards(by_name, retention)), "new", clock)
    return {age.stream: age for age in ages}


def test_the_oldest_records_age_is_its_millis_behind_latest_on_the_streams_clock(spec):
    # The stream's clock runs far ahead of this machine's (the sandbox's fast clock): arrival
    # times alone would give nonsense; MillisBehindLatest gives 5 h.
    ages = measured(spec, {"orders": {"s-0": [record(9e9, 5 * HOUR)], "s-1": [record(9e9, HOUR)]}})
    orders = ages["orders"]
    assert orders.oldest_age_seconds == 5 * HOUR and orders.oldest_shard == "s-0"
    assert orders.retention_hours == 24 and orders.clock == STREAM_CLOCK
    assert orders.share == pytest.approx(5 / 24) and orders.left_seconds == 19 * HOUR


def test_a_record_at_its_tip_is_aged_on_the_clock_another_shard_showed(spec):
    # shard s-1's record: arrival 9e9 + 2 h behind => the stream's now is 9e9 + 2 h when this
    # machine reads 1e6; the lone record of s-0 (at its tip, MillisBehindLatest 0) arrived 3 h
    # before that.
    answers = {
        "orders": {"s-0": [record(9e9 - HOUR, 0)], "s-1": [record(9e9, 2 * HOUR)]},
        "clicks": {"s-0": [record(9e9 + HOUR, 0)]},
    }
    ages = measured(spec, answers)
    assert ages["orders"].oldest_age_seconds == pytest.approx(3 * HOUR)
    assert ages["clicks"].oldest_age_seconds == pytest.approx(HOUR)
    assert ages["clicks"].clock == SHARED_CLOCK


def test_with_no_record_behind_a_tip_the_age_falls_back_to_this_machines_clock(spec):
    ages = measured(spec, {"orders": {"s-0": [record(1_000_000.0 - 600, 0)]}})
    assert ages["orders"].oldest_age_seconds == pytest.approx(600)
    assert ages["orders"].clock == MACHINE_CLOCK


def test_empty_answers_behind_the_tip_are_followed_to_the_first_record(spec):
    empty_but_behind = {"MillisBehindLatest": 7 * HOUR * 1000}
    ages = measured(
        spec, {"orders": {"s-0": [empty_but_behind, empty_but_behind, record(0, HOUR)]}}
    )
    assert ages["orders"].oldest_age_seconds == HOUR


def test_a_stream_without_records_has_no_age(spec):
    ages = measured(spec, {"orders": {"s-0": [{"MillisBehindLatest": 0}]}})
    assert ages["orders"].oldest_age_seconds is None and ages["orders"].share is None


def verdict_of(spec, ages_by_stream: dict[str, float | None], cloudwatch=None, **migration):
    answers = {
        stream: {"s-0": [record(1e9, age)] if age else [{"MillisBehindLatest": 0}]}
        for stream, age in ages_by_stream.items()
    }
    by_name = {physical(spec, stream): shards for stream, shards in answers.items()}
    context = PreflightContext(spec, ("new",), Access(Shards(by_name), cloudwatch), **migration)
    return CHECKS["retention-clock"].run(context)


NOW = 1_800_000_000.0  # a whole minute
SWITCHED = NOW - 26 * HOUR + 30  # half a minute into its minute; the stream was empty before


def test_a_trimmed_stream_says_at_least_how_many_records_went_from_cloudwatchs_count(spec):
    # 10 records a minute since the switch; the oldest record left is 23.9 h old: the 126 whole
    # minutes from the switch's minute to the oldest record's minute are gone, 1,260 records.
    cloudwatch = Minutes(
        {NOW - 26 * HOUR + 60 * minute: 10 for minute in range(26 * 60)},
        stream=physical(spec, "orders"),
    )
    row = verdict_of(
        spec, {"orders": 23.9 * HOUR}, cloudwatch, switched_at=SWITCHED, clock=lambda: NOW
    )
    assert row.verdict is Verdict.FAIL
    assert "before this one are gone (at least 1,260 records written since the switch" in row.fact
    assert "more every minute it stays paused" in row.fact
    assert cloudwatch.asked == [(NOW - 26 * HOUR, NOW - 23.9 * HOUR, 60)]


def test_a_trimmed_stream_whose_count_cannot_be_read_says_so(spec):
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetMetricData")
    row = verdict_of(
        spec, {"orders": 23.9 * HOUR}, Minutes(denied), switched_at=SWITCHED, clock=lambda: NOW
    )
    assert row.verdict is Verdict.FAIL
    assert "gone (how many is unknown: AWS/Kinesis IncomingRecords could not be read (" in row.fact
    nothing = verdict_of(
        spec, {"orders": 23.9 * HOUR}, Minutes({}), switched_at=SWITCHED, clock=lambda: NOW
    )
    assert "CloudWatch holds no AWS/Kinesis IncomingRecords for it" in nothing.fact


@pytest.mark.parametrize(
    ("age_hours", "verdict", "says"),
    [
        (5.0, Verdict.PASS, "orders: its oldest record (s-0) is 5.0 h old, 21% of its 24.0 h"),
        (20.0, Verdict.WARN, "83% of its 24.0 h retention"),
        (23.76, Verdict.FAIL, "it has reached retention, so Kinesis is trimming the stream"),
    ],
)
def test_the_retention_clock_passes_warns_above_80_percent_and_fails_at_retention(
    spec, age_hours, verdict, says
):
    row = verdict_of(spec, {"orders": age_hours * HOUR})
    assert row.verdict is verdict, row.fact
    assert says in row.fact
    assert "read by lambda:v2-clicks-processor" in row.fact
    if verdict is Verdict.FAIL:
        assert "how many is unknown: the switch's start is not known here" in row.fact
        assert "turnout rollback" in row.change
    if verdict is Verdict.WARN:
        assert "4.0 h left before Kinesis trims it" in row.fact


def test_an_empty_stream_long_after_the_switch_is_warned_a_recent_one_passes(spec):
    long_ago = verdict_of(spec, {"orders": None}, switched_at=0.0, clock=lambda: 25 * HOUR)
    assert long_ago.verdict is Verdict.WARN
    assert "orders holds no record, and the switch started 25.0 h ago" in long_ago.fact
    recent = verdict_of(spec, {"orders": None}, switched_at=0.0, clock=lambda: HOUR)
    assert recent.verdict is Verdict.PASS


def test_an_unreadable_new_environment_is_unknown_naming_the_read(spec):
    down = EndpointConnectionError(endpoint_url="https://kinesis.eu-west-1.amazonaws.com")
    context = PreflightContext(spec, ("new",), Access(down))
    row = CHECKS["retention-clock"].run(context)
    assert row.verdict is Verdict.UNKNOWN and row.unread
    assert "could not read the new environment (kinesis): EndpointConnectionError" in row.fact


def test_status_shows_each_paused_new_streams_oldest_record_against_retention(spec):
    by_name = {
        physical(spec, "orders"): {"s-0": [record(1e9, 6 * HOUR)]},
        physical(spec, "clicks"): {"s-0": [{"MillisBehindLatest": 0}]},
    }
    aws = Access(Shards(by_name))
    assert retention_status(spec, aws, "new-live") == []  # consumers running: not buffering
    entries = {entry["stream"]: entry for entry in retention_status(spec, aws, "switched")}
    orders = entries["orders"]
    assert (orders["oldest_age_seconds"], orders["left_seconds"], orders["share"]) == (
        6 * HOUR,
        18 * HOUR,
        0.25,
    )
    text = status_text(
        {
            "migration": "m",
            "live_phase": "switched",
            "desired_phase": "new-live",
            "in_progress": None,
            "lock": None,
            "route": {},
            "replication": {},
            "consumers": {},
            "retention": list(entries.values()),
            "journal": [],
        }
    )
    assert (
        "retention new/orders: oldest record not processed by its paused consumers and the "
        "replicator is 6.0 h old of 24 h retention (25% used), 18.0 h left; paused: "
        "lambda:v2-clicks-processor"
    ) in text
    assert "retention new/clicks: no record waiting (retention 24 h)" in text


def test_a_sparse_stream_short_of_retention_fails_when_cloudwatch_counts_records_gone(spec):
    # A record every 15 minutes: the oldest left can be 23.75 h old, short of the 99 % line,
    # while the ones written before it, since the switch 26 h ago, were trimmed.
    cloudwatch = Minutes({NOW - 26 * HOUR + 900 * quarter: 1 for quarter in range(26 * 4)})
    row = verdict_of(
        spec, {"orders": 23.75 * HOUR}, cloudwatch, switched_at=SWITCHED, clock=lambda: NOW
    )
    assert row.verdict is Verdict.FAIL, row.fact
    assert "the switch started 26.0 h ago, longer than its retention, and Kinesis has trimmed" in (
        row.fact
    )
    assert "(at least 9 records written since the switch" in row.fact


def test_a_burst_right_after_the_switch_is_gone_although_the_oldest_record_left_is_young(spec):
    # Producers wrote 5 records in the switch's minute, then nothing until 10 h ago.
    cloudwatch = Minutes({NOW - 26 * HOUR: 5, NOW - 10 * HOUR: 3})
    row = verdict_of(
        spec, {"orders": 10 * HOUR}, cloudwatch, switched_at=SWITCHED, clock=lambda: NOW
    )
    assert row.verdict is Verdict.FAIL, row.fact
    assert "(at least 5 records written since the switch" in row.fact


def test_a_stream_first_written_after_retention_since_the_switch_passes(spec):
    cloudwatch = Minutes({NOW - 10 * HOUR: 3}, stream=physical(spec, "orders"))
    row = verdict_of(
        spec, {"orders": 10 * HOUR}, cloudwatch, switched_at=SWITCHED, clock=lambda: NOW
    )
    (orders,) = [finding for finding in row.findings if finding.fact.startswith("orders:")]
    assert orders.verdict is Verdict.PASS, orders.fact


def test_an_empty_stream_long_after_the_switch_fails_when_records_were_written_passes_if_none(
    spec,
):
    written = Minutes({NOW - 25 * HOUR: 4})
    row = verdict_of(spec, {"orders": None}, written, switched_at=SWITCHED, clock=lambda: NOW)
    assert row.verdict is Verdict.FAIL
    assert "Kinesis has trimmed everything written to it since (at least 4 records" in row.fact
    assert "turnout rollback" in row.change
    silent = Minutes({NOW - 25 * HOUR: 0})
    row = verdict_of(spec, {"orders": None}, silent, switched_at=SWITCHED, clock=lambda: NOW)
    assert row.verdict is Verdict.PASS, row.fact
    assert "CloudWatch counts none written to it since the switch" in " ".join(
        finding.fact for finding in row.findings
    )


def test_an_unreadable_count_leaves_the_verdict_to_the_oldest_records_age(spec):
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetMetricData")
    row = verdict_of(
        spec, {"orders": 20 * HOUR}, Minutes(denied), switched_at=SWITCHED, clock=lambda: NOW
    )
    assert row.verdict is Verdict.WARN, row.fact


def test_a_switch_younger_than_retention_asks_cloudwatch_nothing(spec):
    cloudwatch = Minutes({NOW - HOUR: 5})
    row = verdict_of(
        spec, {"orders": 0.5 * HOUR}, cloudwatch, switched_at=NOW - HOUR, clock=lambda: NOW
    )
    assert row.verdict is Verdict.PASS and cloudwatch.asked == []
