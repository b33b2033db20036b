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
from typing import Any

from turnout.aws.cloudwatch import finest_period, incoming_records
from turnout.aws.kinesis import ShardReader, list_shards


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
    period = finest_period(max(0.0, until - since))
    return incoming_records(cloudwatch, stream, math.ceil(since / period) * period, until, period)
