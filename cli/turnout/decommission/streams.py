"""May the old streams be deleted? Only when, for every one of them:

1. its retention has passed since the commit (every record it held at the commit has expired:
   deleting it loses nothing a reader could still get), and
2. nothing was written to it since the commit: no record from the commit on (read from an
   AT_TIMESTAMP iterator at the commit, every shard), and no IncomingRecords since it.

The records read are exact; the metric also covers records that expired before this check.
Kinesis: https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetShardIterator.html
(AT_TIMESTAMP), CloudWatch retention of metric data:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Metric
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from turnout.aws.cloudwatch import metric_data, metric_stat
from turnout.aws.kinesis import ShardReader, list_shards

# 1-minute datapoints are kept 15 days, 5-minute 63 days, 1-hour 455 days.
PERIODS = ((15 * 86400, 60), (63 * 86400, 300), (455 * 86400, 3600))


def retention_due(spec: Any, committed_at: float) -> dict[str, float]:
    """Old stream name -> when its retention since the commit has passed (epoch seconds)."""
    return {
        stream.name_in("old"): committed_at + stream.retention_hours * 3600
        for stream in spec.streams
    }


def records_since(reader: ShardReader, stream: str, since: float, max_calls: int) -> dict:
    """Records that arrived in `stream` at or after `since`, every shard (bounded reads)."""
    found = {"records": 0, "complete": True, "shards": {}}
    for shard in list_shards(reader.kinesis, stream):
        shard_id = shard["ShardId"]
        iterator = reader.iterator(stream, shard_id, "AT_TIMESTAMP", timestamp=since)
        count, complete = 0, False
        for _ in range(max_calls):
            page = reader.get_records(stream, shard_id, iterator)
            count += len(page.get("Records", []))
            iterator = page.get("NextShardIterator")
            if iterator is None or (not page.get("Records") and not page.get("MillisBehindLatest")):
                complete = True
                break
        found["shards"][shard_id] = count
        found["records"] += count
        found["complete"] = found["complete"] and complete
    return found


def incoming_since(cloudwatch: Any, stream: str, since: float, until: float) -> float | None:
    """Sum of AWS/Kinesis IncomingRecords from the first whole period after `since`; None when
    no datapoint exists (no data is not zero, but it is not a write either)."""
    age = max(0.0, until - since)
    period = next((p for limit, p in PERIODS if age <= limit), 3600)
    start = math.ceil(since / period) * period
    if start >= until:
        return None
    query = metric_stat(
        "incoming", "AWS/Kinesis", "IncomingRecords", {"StreamName": stream}, "Sum", period
    )
    points = metric_data(
        cloudwatch,
        [query],
        datetime.fromtimestamp(start, UTC),
        datetime.fromtimestamp(until, UTC),
    )["incoming"]
    return sum(points.values()) if points else None
