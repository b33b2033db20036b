"""`retention-clock` (live, the new environment): the oldest record a new stream holds, which its
paused consumers (and, at switched, the replicator) have not processed yet, against the stream's
retention. Kinesis trims a record once it is older than the stream's retention
(https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html); a consumer
enabled after that starts at the oldest record left, after a gap.

- fail: the oldest record is at retention (within `TRIMMED_SHARE`): Kinesis is trimming the
  stream, so the records written before it are gone, or go within minutes; how many at least,
  from CloudWatch's count of what was written since the switch (`trimmed.py`: sequence numbers
  increase but are not counters). Also fail, whatever the oldest record's age, when the switch
  is older than the retention and CloudWatch counts records written since the switch before the
  oldest one left: those are gone. That is the case of a stream written in bursts or sparsely
  (a record every 15 minutes leaves an oldest record up to 15 minutes short of retention), and
  of an empty stream into which records were written since the switch.
- warn: above `WARN_SHARE` of retention; or the stream holds nothing although the switch was
  longer ago than its retention, and CloudWatch cannot say whether anything was written since
  (pass when it counts none).
- unknown: a stream could not be read.
"""

from __future__ import annotations

from turnout.preflight.registry import PreflightContext, register
from turnout.preflight.result import Check, Finding, Verdict
from turnout.preflight.stream_age import StreamAge, hours, measure_streams
from turnout.preflight.trimmed import Trimmed, count_trimmed
from turnout.spec.names import names

NAME = "retention-clock"
WARN_SHARE = 0.8
# The emulator trims on every read, AWS some time after: the oldest record left is "at
# retention" once it is within 1 % of it (14 min of 24 h), when its neighbours written just
# before it are already gone.
TRIMMED_SHARE = 0.99
RETENTION_DOC = "https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html"
DO_NOT_ENABLE = (
    "do not enable the new consumers on this stream: check whether the replicator copied the "
    "trimmed records to the old stream before they went (`turnout status`), then roll back "
    "(`turnout rollback`) or rebuild the new consumers' state from the old environment"
)
READABLE = (
    "give the preflight credentials that can call kinesis:DescribeStreamSummary, ListShards, "
    "GetShardIterator and GetRecords in the new environment, then run it again"
)


@register(NAME, live_only=True)
def retention_clock(context: PreflightContext) -> Check:
    """Each new stream's oldest unprocessed record against the stream's retention."""
    if "new" not in context.environments:
        return Check.of(NAME, "spec", [], passed="reads the new environment's streams only")
    findings = [
        _finding(context, age)
        for age in measure_streams(context.spec, context.aws, "new", context.clock)
    ]
    return Check.of(
        NAME,
        "new",
        findings,
        passed=f"every new stream's oldest record is below {WARN_SHARE:.0%} of its retention",
    )


def readers(spec, stream: str) -> str:
    """The new consumers that read `stream`, paused until new-live."""
    found = [
        f"{consumer.kind}:{_consumer_name(consumer)}"
        for consumer in spec.consumers.new
        if stream in consumer.streams
    ]
    return ", ".join(found) or "no new consumer (the replicator only)"


def _consumer_name(consumer) -> str:
    for field in ("function_name", "application", "name"):
        if getattr(consumer, field, None):
            return getattr(consumer, field)
    return "?"


def _finding(context: PreflightContext, age: StreamAge) -> Finding:
    if age.problem:
        return Finding(Verdict.UNKNOWN, age.problem, READABLE, unread=True)
    who = readers(context.spec, age.stream)
    if age.oldest_age_seconds is None:
        return _empty(context, age)
    share, retention = age.share or 0.0, hours(age.retention_seconds)
    measured = (
        f"{age.stream}: its oldest record ({age.oldest_shard}) is "
        f"{hours(age.oldest_age_seconds)} old, {share:.0%} of its {retention} retention "
        f"(measured with {age.clock}; read by {who})"
    )
    now = context.clock()
    reached = share >= TRIMMED_SHARE
    lost = _lost(context, age, now - age.oldest_age_seconds, now, reached)
    if reached or lost.count:
        why = (
            "it has reached retention, so Kinesis is trimming the stream"
            if reached
            else f"the switch started {hours(now - (context.switched_at or now))} ago, longer "
            "than its retention, and Kinesis has trimmed what was written before it"
        )
        return Finding(
            Verdict.FAIL,
            f"{measured}: {why} and the records written to it before this one are gone "
            f"({lost.text}); its paused consumers would start after that gap ({RETENTION_DOC})",
            f"{DO_NOT_ENABLE}; raise streams[].retention_hours (or set "
            "cutover.raise_retention_hours) before the next attempt",
        )
    if share >= WARN_SHARE:
        return Finding(
            Verdict.WARN,
            f"{measured}: {hours(age.left_seconds or 0)} left before Kinesis trims it",
            "enable the new consumers before then (go on to new-live), or raise the stream's "
            "retention now (streams[].retention_hours, or cutover.raise_retention_hours to raise "
            "it until the commit only; then apply the new environment: "
            "IncreaseStreamRetentionPeriod keeps every record not yet trimmed)",
        )
    return Finding(
        Verdict.PASS, f"{measured}, {hours(age.left_seconds or 0)} left before it is trimmed"
    )


def _lost(
    context: PreflightContext, age: StreamAge, oldest_arrival: float, now: float, reached: bool
) -> Trimmed:
    """What CloudWatch counts written since the switch before `oldest_arrival` (all gone): read
    when the stream reached retention, or when the switch is older than the retention (a
    sparse or bursty stream loses records short of it); else nothing is read."""
    switched_at = context.switched_at
    older = switched_at is not None and now - switched_at > age.retention_seconds
    if not (reached or older):
        return Trimmed(None)
    stream = names(context.spec, "new").stream(age.stream)
    return count_trimmed(context.aws, stream, switched_at, oldest_arrival, now)


def _empty(context: PreflightContext, age: StreamAge) -> Finding:
    held = f"{age.stream} holds no record"
    if context.switched_at is None:
        return Finding(Verdict.PASS, held)
    now = context.clock()
    since = now - context.switched_at
    if since < age.retention_seconds:
        return Finding(Verdict.PASS, held)
    gone = _lost(context, age, now, now, reached=False).count
    if gone == 0:
        return Finding(
            Verdict.PASS,
            f"{held}, and CloudWatch counts none written to it since the switch "
            "(AWS/Kinesis IncomingRecords)",
        )
    if gone:
        return Finding(
            Verdict.FAIL,
            f"{held}, and the switch started {hours(since)} ago, longer than its "
            f"{hours(age.retention_seconds)} retention: Kinesis has trimmed everything written "
            f"to it since (at least {gone:,} records, AWS/Kinesis IncomingRecords); its paused "
            f"consumers would start after that gap ({RETENTION_DOC})",
            DO_NOT_ENABLE,
        )
    return Finding(
        Verdict.WARN,
        f"{held}, and the switch started {hours(since)} ago, longer than its "
        f"{hours(age.retention_seconds)} retention: if producers wrote to it since, Kinesis "
        "has trimmed all of it",
        "compare the stream's IncomingRecords since the switch (CloudWatch) with what the "
        "replicator copied (`turnout status`) before enabling its consumers",
    )
