"""The report's time window and the CloudWatch periods it is read at.

CloudWatch keeps datapoints at a period below 60 s for 3 hours (high-resolution custom metrics,
put with StorageResolution 1), 60 s ones for 15 days, 300 s ones for 63 days and 3600 s ones for
455 days; a query whose StartTime is older must ask for a period CloudWatch still holds, or gets
no datapoint
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html,
https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricStat.html).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from turnout.report.timeline import entry_time

RETENTION_PERIODS = (
    (timedelta(hours=3), 1),
    (timedelta(days=15), 60),
    (timedelta(days=63), 300),
    (None, 3600),
)
# Sub-minute periods only while the window's start is this much younger than the 3 hours:
# the query runs a moment after the period is chosen.
HIGH_RESOLUTION_MARGIN = timedelta(minutes=10)
NICE_PERIODS = (60, 120, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400)
# The replicator's lag: 10 s and 30 s are high-resolution periods GetMetricData accepts (so are
# 1 and 5, which would only draw the noise between single invocations).
LAG_PERIODS = (10, 30, *NICE_PERIODS)
MAX_POINTS_PER_SERIES = 360
MAX_LAG_POINTS_PER_SERIES = 720


def retention_floor(start: datetime, now: datetime) -> int:
    """The smallest period CloudWatch still holds for data as old as `start`."""
    age = now - start
    if age <= RETENTION_PERIODS[0][0] - HIGH_RESOLUTION_MARGIN:
        return 1
    return next(period for limit, period in RETENTION_PERIODS[1:] if limit is None or age <= limit)


def choose_period(
    start: datetime,
    end: datetime,
    now: datetime,
    periods: tuple[int, ...] = NICE_PERIODS,
    max_points: int = MAX_POINTS_PER_SERIES,
) -> int:
    """The smallest of `periods` that keeps a series under `max_points` and that CloudWatch
    still holds for data as old as `start`."""
    wanted = math.ceil((end - start).total_seconds() / max_points)
    floor = retention_floor(start, now)
    return next((period for period in periods if period >= max(wanted, floor)), periods[-1])


def choose_lag_period(start: datetime, end: datetime, now: datetime) -> int:
    """The replicator's lag at the finest period CloudWatch holds (10 s within 3 hours, for a
    window up to 2 hours), at most MAX_LAG_POINTS_PER_SERIES points."""
    return choose_period(start, end, now, LAG_PERIODS, MAX_LAG_POINTS_PER_SERIES)


def report_window(
    entries: list[dict], since: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """From a little before the first journal entry (or `since`) to a little after the last one
    (at most now): the traffic before and after the cutover is part of the picture."""
    times = sorted(entry_time(entry) for entry in entries)
    in_window = [moment for moment in times if since is None or moment >= since]
    first, last = in_window[0], in_window[-1]
    margin = max(timedelta(minutes=2), (last - first) / 10)
    start = since if since is not None else first - margin
    return start, min(now, last + margin)


def align(moment: datetime, period: int, up: bool = False) -> datetime:
    """Period boundaries since the epoch, as CloudWatch stamps its datapoints."""
    seconds = moment.timestamp()
    aligned = (math.ceil if up else math.floor)(seconds / period) * period
    return datetime.fromtimestamp(aligned, UTC)
