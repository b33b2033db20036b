"""One way to read CloudWatch metrics: GetMetricData, every page, 500 queries per call.

Periods without a datapoint are simply absent from the result (a gap), never filled with zero:
missing data means "unknown" to every caller.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

QUERIES_PER_CALL = 500  # GetMetricData's limit
# CloudWatch keeps 1-minute datapoints for 15 days, 5-minute ones for 63 and hourly ones for 455
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Metric):
# (age up to, finest period available).
PERIODS = ((15 * 86400, 60), (63 * 86400, 300), (455 * 86400, 3600))


def metric_stat(
    query_id: str,
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    stat: str,
    period: int,
    label: str | None = None,
) -> dict:
    """One MetricDataQuery of a plain metric statistic."""
    query: dict[str, Any] = {
        "Id": query_id,
        "ReturnData": True,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric,
                "Dimensions": [
                    {"Name": name, "Value": value} for name, value in dimensions.items()
                ],
            },
            "Period": period,
            "Stat": stat,
        },
    }
    if label is not None:
        query["Label"] = label
    return query


def metric_data(
    cloudwatch: Any, queries: list[dict], start: datetime, end: datetime
) -> dict[str, dict[datetime, float]]:
    """Query id -> {timestamp (UTC): value} over [start, end), for every query."""
    points: dict[str, dict[datetime, float]] = {query["Id"]: {} for query in queries}
    for first in range(0, len(queries), QUERIES_PER_CALL):
        arguments: dict[str, Any] = {
            "MetricDataQueries": queries[first : first + QUERIES_PER_CALL],
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        while True:
            page = cloudwatch.get_metric_data(**arguments)
            for result in page.get("MetricDataResults", []):
                values = zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                for moment, value in values:
                    points[result["Id"]][as_utc(moment)] = float(value)
            token = page.get("NextToken")
            if not token:
                break
            arguments["NextToken"] = token
    return points


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def finest_period(age_seconds: float) -> int:
    """The finest period CloudWatch still holds for datapoints `age_seconds` old."""
    return next((period for limit, period in PERIODS if age_seconds <= limit), 3600)


def incoming_records(
    cloudwatch: Any, stream: str, start: float, end: float, period: int
) -> float | None:
    """Sum of AWS/Kinesis IncomingRecords of `stream` over [start, end) (multiples of `period`);
    None when no datapoint exists (no data is not zero)."""
    if start >= end:
        return None
    query = metric_stat(
        "incoming", "AWS/Kinesis", "IncomingRecords", {"StreamName": stream}, "Sum", period
    )
    points = metric_data(
        cloudwatch, [query], datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
    )["incoming"]
    return sum(points.values()) if points else None
