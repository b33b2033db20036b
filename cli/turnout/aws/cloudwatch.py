"""One way to read CloudWatch metrics: GetMetricData, every page, 500 queries per call.

Periods without a datapoint are simply absent from the result (a gap), never filled with zero:
missing data means "unknown" to every caller.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

QUERIES_PER_CALL = 500  # GetMetricData's limit


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
