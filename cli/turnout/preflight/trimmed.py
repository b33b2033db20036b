"""How many records a new stream that Kinesis is trimming has lost so far, at least.

The new streams were empty at the switch (`new-streams-empty`, baseline->switched), so every
record written to a new stream since then that is older than the oldest record it still holds
is gone. Sequence numbers cannot count them (they increase but are not counters); CloudWatch
can: AWS/Kinesis IncomingRecords, the stream's basic metric, summed over the whole periods from
the switch's period up to the period of the oldest record left, that one excluded (part of it
is still held). So the figure is a lower bound, short of the truth by at most the records that
arrived in that one period before the oldest record left, and it grows every minute the
consumers stay paused while Kinesis trims on.
https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from turnout.aws.cloudwatch import finest_period, incoming_records
from turnout.aws.errors import READ_ERRORS
from turnout.errors import TurnoutError


def trimmed_at_least(
    cloudwatch: Any, stream: str, switched_at: float, oldest_arrival: float, now: float
) -> int | None:
    """Records written to `stream` from the switch until the period of its oldest record left:
    all trimmed. None when CloudWatch holds no datapoint for them."""
    period = finest_period(max(0.0, now - switched_at))
    start = math.floor(switched_at / period) * period
    end = math.floor(oldest_arrival / period) * period
    if end <= start:
        return 0
    found = incoming_records(cloudwatch, stream, start, end, period)
    return None if found is None else int(found)


@dataclass(frozen=True)
class Trimmed:
    """What the gate knows of the records lost in a new stream: `count` (at least), or why not."""

    count: int | None
    unknown: str = ""

    @property
    def text(self) -> str:
        if self.count is None:
            return self.unknown
        return (
            f"at least {self.count:,} records written since the switch (AWS/Kinesis "
            "IncomingRecords up to the oldest record left), more every minute it stays paused"
        )


def count_trimmed(
    aws: Any, stream: str, switched_at: float | None, oldest_arrival: float, now: float
) -> Trimmed:
    """The records lost in `stream` (the new environment's), read from CloudWatch once."""
    if switched_at is None:
        return Trimmed(
            None,
            "how many is unknown: the switch's start is not known here (the cutover's gate "
            "reads it from the journal and counts them)",
        )
    try:
        count = trimmed_at_least(
            aws.client("new", "cloudwatch"), stream, switched_at, oldest_arrival, now
        )
    except (TurnoutError, *READ_ERRORS) as problem:
        detail = " ".join(str(problem).split()).rstrip(".")
        return Trimmed(
            None, f"how many is unknown: AWS/Kinesis IncomingRecords could not be read ({detail})"
        )
    if count is None:
        return Trimmed(
            None, "how many is unknown: CloudWatch holds no AWS/Kinesis IncomingRecords for it"
        )
    return Trimmed(count)
