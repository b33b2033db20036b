"""Reading metrics for the report: period from the window, the lag at a sub-minute period while
CloudWatch holds one, every GetMetricData page, no zeros invented for missing periods, `--since`
parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from turnout.errors import TurnoutError
from turnout.report.collect import (
    LAG_PER_MINUTE,
    metric_queries,
    parse_since,
    read_account,
    read_series,
    settle_lag_resolution,
)
from turnout.report.window import align, choose_lag_period, choose_period, report_window
from turnout.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("span", "age", "period"),
    [
        (timedelta(minutes=20), timedelta(hours=1), 60),  # the 60 s resolution of both sources
        (timedelta(hours=12), timedelta(hours=13), 120),  # at most 360 points per series
        (timedelta(days=3), timedelta(days=4), 900),
        (timedelta(minutes=20), timedelta(days=20), 300),  # 60 s data is gone after 15 days
        (timedelta(minutes=20), timedelta(days=70), 3600),  # 300 s data after 63 days
    ],
)
def test_period_follows_the_window_and_cloudwatch_retention(span, age, period):
    start = NOW - age
    assert choose_period(start, start + span, NOW) == period


@pytest.mark.parametrize(
    ("span", "age", "period"),
    [
        (timedelta(minutes=20), timedelta(hours=1), 10),  # high resolution, kept 3 hours
        (timedelta(hours=2), timedelta(hours=2, minutes=10), 10),  # 720 points
        (timedelta(hours=2, minutes=30), timedelta(hours=2, minutes=40), 30),
        (timedelta(minutes=20), timedelta(hours=2, minutes=55), 60),  # too close to 3 hours
        (timedelta(hours=4), timedelta(hours=4), 60),  # sub-minute data is gone
        (timedelta(days=3), timedelta(days=4), 600),  # at most 720 points
        (timedelta(minutes=20), timedelta(days=20), 300),  # 60 s data gone after 15 days
    ],
)
def test_lag_period_is_sub_minute_only_while_cloudwatch_keeps_high_resolution_data(
    span, age, period
):
    start = NOW - age
    assert choose_lag_period(start, start + span, NOW) == period


def test_window_spans_the_journal_with_a_margin_and_stops_now():
    entries = [{"at": (NOW - timedelta(minutes=m)).isoformat(), "details": {}} for m in (40, 20, 0)]
    start, end = report_window(entries, None, NOW)
    assert start == NOW - timedelta(minutes=44) and end == NOW
    since = NOW - timedelta(minutes=35)
    assert report_window(entries, since, NOW)[0] == since
    assert align(NOW + timedelta(seconds=61), 60, up=True) == NOW + timedelta(minutes=2)


class PagedCloudWatch:
    """GetMetricData in pages of two datapoints per query, like CloudWatch's NextToken."""

    def __init__(
        self,
        data: dict[tuple[str, str], list[tuple[datetime, float]]],
        sub_minute: bool = True,
    ):
        self.data = data
        self.calls: list[dict] = []
        # False: a period under 60 s gets no datapoint (standard-resolution data, read as
        # CloudWatch documents it: its periods are multiples of 60).
        self.sub_minute = sub_minute

    def get_metric_data(self, **arguments):
        self.calls.append(arguments)
        page = int(arguments.get("NextToken", "0"))
        results, more = [], False
        for query in arguments["MetricDataQueries"]:
            metric = query["MetricStat"]["Metric"]
            dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            key = (metric["MetricName"], dimensions.get("Stream") or dimensions["StreamName"])
            series = self.data.get(key, [])
            if query["MetricStat"]["Period"] < 60 and not self.sub_minute:
                series = []
            points = series[page * 2 : page * 2 + 2]
            more = more or len(series) > page * 2 + 2
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [moment for moment, _ in points],
                    "Values": [value for _, value in points],
                }
            )
        answer = {"MetricDataResults": results}
        if more:
            answer["NextToken"] = str(page + 1)
        return answer


def test_every_page_is_read_and_missing_periods_stay_missing():
    spec = load_spec(REPO / "terraform" / "migration.yaml")
    queries = [q for q in metric_queries(spec) if q.environment == "new"]
    minutes = [0, 1, 2, 5, 6]  # 3 and 4 missing
    cloudwatch = PagedCloudWatch(
        {
            ("ReplicationLagMs", "clicks"): [(NOW + timedelta(minutes=m), 1500.0) for m in minutes],
            ("IncomingRecords", "clicks"): [(NOW + timedelta(minutes=m), 600.0) for m in minutes],
        }
    )
    series = {
        s.id: s for s in read_series(cloudwatch, queries, NOW, NOW + timedelta(minutes=10), 60)
    }
    assert len(cloudwatch.calls) == 3
    lag = series["lag:clicks:new-to-old"]
    assert [moment for moment, _ in lag.points] == [NOW + timedelta(minutes=m) for m in minutes]
    assert {value for _, value in lag.points} == {1.5}  # milliseconds -> seconds
    assert len(lag.gaps()) == 1
    assert {value for _, value in series["rate:new:clicks"].points} == {10.0}  # per second
    assert series["lag:orders:new-to-old"].points == ()
    assert series["rate:new:audit"].points == ()


def test_queries_name_each_environments_streams_and_directions():
    spec = load_spec(REPO / "terraform" / "migration.yaml")
    by_id = {query.series_id: query for query in metric_queries(spec)}
    lag = by_id["lag:audit:old-to-new"]
    assert lag.environment == "old"
    assert dict(lag.dimensions) == {"Direction": "old_to_new", "Stream": "audit-log"}
    assert dict(by_id["rate:new:audit"].dimensions) == {"StreamName": "audit"}
    assert by_id["rate:old:audit"].namespace == "AWS/Kinesis"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", NOW - timedelta(minutes=90)),
        ("2d", NOW - timedelta(days=2)),
        ("2026-03-01T10:00:00Z", NOW - timedelta(hours=2)),
        ("2026-03-01T10:00:00", NOW - timedelta(hours=2)),
        ("2026-03-01T11:00:00+01:00", NOW - timedelta(hours=2)),
    ],
)
def test_since_accepts_times_and_durations(text, expected):
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "5 minutes", "2026-13-01", "2026-03-02T00:00:00Z"])
def test_since_refuses_what_it_cannot_read_naming_the_flag(text):
    with pytest.raises(TurnoutError, match="--since"):
        parse_since(text, NOW)


def _periods(call: dict) -> dict[str, int]:
    return {
        query["MetricStat"]["Metric"]["MetricName"]: query["MetricStat"]["Period"]
        for query in call["MetricDataQueries"]
    }


def test_lag_is_read_at_its_own_period_and_the_rest_per_minute():
    spec = load_spec(REPO / "terraform" / "migration.yaml")
    queries = [q for q in metric_queries(spec) if q.environment == "new"]
    seconds = [0, 10, 20, 40]  # one 10 s period missing: less than a minute, not a gap
    cloudwatch = PagedCloudWatch(
        {("ReplicationLagMs", "clicks"): [(NOW + timedelta(seconds=s), 900.0) for s in seconds]}
    )
    series = read_account(cloudwatch, queries, NOW, NOW + timedelta(minutes=2), 60, 10)
    assert _periods(cloudwatch.calls[0]) == {
        "ReplicationLagMs": 10,
        "ReplicatedRecords": 60,
        "DuplicatesResent": 60,
        "Inversions": 60,
        "IncomingRecords": 60,
    }
    lag = next(item for item in series if item.id == "lag:clicks:new-to-old")
    assert lag.period_seconds == 10 and len(lag.points) == 4 and lag.gaps() == []
    assert settle_lag_resolution(series, 10) == (series, 10)  # sub-minute stamps: kept at 10 s


def test_lag_without_sub_minute_data_is_read_again_per_minute_and_said_so():
    spec = load_spec(REPO / "terraform" / "migration.yaml")
    queries = [q for q in metric_queries(spec) if q.environment == "new"]
    minutes = [0, 1, 2]
    cloudwatch = PagedCloudWatch(
        {("ReplicationLagMs", "clicks"): [(NOW + timedelta(minutes=m), 900.0) for m in minutes]},
        sub_minute=False,
    )
    series = read_account(cloudwatch, queries, NOW, NOW + timedelta(minutes=5), 60, 10)
    assert [set(_periods(call).values()) for call in cloudwatch.calls][-1] == {60}
    lag = next(item for item in series if item.id == "lag:clicks:new-to-old")
    assert [moment for moment, _ in lag.points] == [NOW + timedelta(minutes=m) for m in minutes]
    settled, period = settle_lag_resolution(series, 10)
    assert period == 60
    assert {item.period_seconds for item in settled if item.kind == "lag"} == {60}
    assert "StorageResolution 1" in LAG_PER_MINUTE


def test_minute_stamped_lag_read_at_10_s_is_per_minute_data():
    """Standard-resolution data asked at 10 s, if CloudWatch answers with one datapoint per
    minute: the series is per minute (its gaps are minutes without a datapoint)."""
    spec = load_spec(REPO / "terraform" / "migration.yaml")
    queries = [q for q in metric_queries(spec) if q.environment == "new"]
    cloudwatch = PagedCloudWatch(
        {("ReplicationLagMs", "clicks"): [(NOW + timedelta(minutes=m), 900.0) for m in (0, 1, 3)]}
    )
    series = read_account(cloudwatch, queries, NOW, NOW + timedelta(minutes=5), 60, 10)
    assert len(cloudwatch.calls) == 2  # two pages, no second read: the lag had data
    settled, period = settle_lag_resolution(series, 10)
    lag = next(item for item in settled if item.id == "lag:clicks:new-to-old")
    assert period == 60 and lag.period_seconds == 60 and len(lag.gaps()) == 1


def test_the_counted_copies_are_read_per_stream_and_direction_as_sums():
    spec = load_spec(REPO / "terraform" / "migration.yaml")
    by_id = {query.series_id: query for query in metric_queries(spec)}
    duplicates = by_id["duplicates:clicks:new-to-old"]
    assert (duplicates.metric, duplicates.stat, duplicates.environment) == (
        "DuplicatesResent",
        "Sum",
        "new",
    )
    assert dict(duplicates.dimensions) == {"Direction": "new_to_old", "Stream": "clicks"}
    assert by_id["inversions:audit:old-to-new"].metric == "Inversions"


class _Collected(Exception):
    """Stops make_report once it has handed its window to the collector."""


def test_the_report_window_ends_at_the_services_clock_not_this_machines(monkeypatch, tmp_path):
    """The journal's times and the metrics' periods are on the services' clock: an accelerated
    sandbox's runs hours ahead of this machine's, and a window ending at this machine's clock
    would end before the migration it reports on."""
    from turnout.report import command

    services_now = NOW.timestamp() + 30 * 86400  # far from this machine's clock either way
    handed = {}

    def collect(spec, aws, since, now, progress):
        handed.update(since=since, now=now)
        raise _Collected

    class Access:
        @staticmethod
        def clock() -> float:
            return services_now

    monkeypatch.setattr(command, "collect_report", collect)
    with pytest.raises(_Collected):
        command.make_report(None, Access(), tmp_path, since="2h")
    assert handed["now"] == datetime.fromtimestamp(services_now, UTC)
    assert handed["since"] == handed["now"] - timedelta(hours=2)
