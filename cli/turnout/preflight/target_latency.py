"""How long a PutRecords round trip to the replicator's target stream takes, estimated without
writing (preflight is read-only).

The replicator copies new -> old, so its targets are the old streams. Two estimates, the first
that is available:

1. CloudWatch `AWS/Kinesis` `PutRecords.Latency` of the target stream ("the time taken per
   PutRecords operation", a stream-level metric Kinesis publishes for free,
   https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html), the average
   over the last `METRIC_HOURS`: the latency the stream is giving its producers' PutRecords now
   (before the switch the producers write to the old streams). It is measured by Kinesis, so it
   leaves out the network between the replicator and the endpoint: a lower bound.
2. Without datapoints (the producers use PutRecord, or nothing writes there), the median of
   `PROBES` timed ListShards round trips to the target stream from this machine. ListShards is
   the cheapest read (1,000 transactions per second per stream,
   https://docs.aws.amazon.com/kinesis/latest/APIReference/API_ListShards.html) and does less
   than a PutRecords, which stores the records before it answers; but it is timed from where the
   preflight runs, not from the replicator: from a machine far from the region it overstates
   the latency (the fact says which estimate was used).

The replicator publishes no latency metric of its own (its EMF metrics are counts and
`ReplicationLagMs`, docs/replicator.md).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from turnout.aws.cloudwatch import metric_data, metric_stat
from turnout.aws.errors import READ_ERRORS
from turnout.errors import TurnoutError
from turnout.spec.names import names

TARGET_ENVIRONMENT = "old"  # the replicator copies new -> old
METRIC = "PutRecords.Latency"
METRIC_HOURS = 1
PROBES = 5
METRICS_DOC = "https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html"


@dataclass(frozen=True)
class TargetLatency:
    stream: str  # logical name
    physical: str  # the target stream
    seconds: float | None = None
    source: str = ""  # how it was estimated
    problem: str = ""  # why it could not be


def estimate_latencies(
    spec: Any,
    aws: Any,
    timer: Callable[[], float] = time.perf_counter,
    clock: Callable[[], float] = time.time,
) -> dict[str, TargetLatency]:
    """Logical stream -> the PutRecords latency to its old (target) stream. `clock`: now on the
    services' clock, the one CloudWatch stamps datapoints with."""
    place = names(spec, TARGET_ENVIRONMENT)
    physical = {stream.name: place.stream(stream.name) for stream in spec.streams}
    published, cloudwatch_problem = _published(aws, physical, datetime.fromtimestamp(clock(), UTC))
    found = {}
    for stream, target in physical.items():
        if stream in published:
            milliseconds = published[stream]
            source = (
                f"CloudWatch {METRIC} of {target}, average of the last {METRIC_HOURS} h, measured "
                f"by Kinesis ({METRICS_DOC})"
            )
            found[stream] = TargetLatency(stream, target, milliseconds / 1000, source)
        else:
            found[stream] = _timed(aws, stream, target, timer, cloudwatch_problem)
    return found


def _published(aws: Any, physical: dict[str, str], end: datetime) -> tuple[dict[str, float], str]:
    """Logical stream -> its target's average PutRecords.Latency (ms) in the hour before `end`,
    where it has one."""
    queries = [
        metric_stat(f"q{index}", "AWS/Kinesis", METRIC, {"StreamName": target}, "Average", 3600)
        for index, target in enumerate(physical.values())
    ]
    try:
        cloudwatch = aws.client(TARGET_ENVIRONMENT, "cloudwatch")
        points = metric_data(cloudwatch, queries, end - timedelta(hours=METRIC_HOURS), end)
    except (TurnoutError, *READ_ERRORS) as problem:
        return {}, f"CloudWatch could not be read ({type(problem).__name__})"
    found = {}
    for index, stream in enumerate(physical):
        values = list(points.get(f"q{index}", {}).values())
        if values:
            found[stream] = statistics.fmean(values)
    return found, ""


def _timed(
    aws: Any, stream: str, target: str, timer: Callable[[], float], cloudwatch_problem: str
) -> TargetLatency:
    why = cloudwatch_problem or f"no {METRIC} datapoint in the last {METRIC_HOURS} h"
    try:
        kinesis = aws.client(TARGET_ENVIRONMENT, "kinesis")
        rounds = []
        for _ in range(PROBES):
            started = timer()
            kinesis.list_shards(StreamName=target, MaxResults=1)
            rounds.append(timer() - started)
    except (TurnoutError, *READ_ERRORS) as problem:
        detail = " ".join(str(problem).split()).rstrip(".")
        return TargetLatency(
            stream,
            target,
            problem=f"could not time a round trip to {target} (kinesis ListShards; {why}): "
            f"{type(problem).__name__}: {detail}",
        )
    source = (
        f"median of {PROBES} ListShards round trips to {target} from this machine ({why}): a "
        "stand-in for the replicator's PutRecords round trip, which does more but runs in AWS"
    )
    return TargetLatency(stream, target, statistics.median(rounds), source)
