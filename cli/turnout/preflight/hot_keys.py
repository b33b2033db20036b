"""`hot-keys` (live, reads the old environment and any other named): no partition key arrives
faster than the replicator can copy it in its stream's ordering mode.

The ceiling per key, from the replicator's schedule (lambdas/replicator/schedule.py, writer.py):

- strict: a PutRecords call carries at most one unacknowledged record per key, and calls are
  made one at a time, so a key moves one record per round trip: 1 / latency.
- relaxed: a key's pending run travels in one call, at most `MAX_RECORDS_PER_CALL` records (and
  the prefix window) per round trip, and the pacer gives a target shard at most 1,000 records
  and 1 MiB per second (https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html):
  min(500 / latency, 1,000, 1 MiB / the key's mean record size).

Either is an upper bound: entry failures (each retried in a later call), the time between
calls and Lambda's polling make the real rate lower (docs/replicator.md, "Measured": strict at
10 % / 30 % entry failures reaches 87 % / 47 % of it). A key faster than its ceiling makes the
replicator fall behind without bound; hence the warning above `WARN_SHARE` of it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from turnout.lambdas.replicator.config import (
    MAX_RECORDS_PER_CALL,
    SHARD_BYTES_PER_SECOND,
    SHARD_RECORDS_PER_SECOND,
    ReplicatorConfig,
)
from turnout.preflight.key_sample import WINDOW_SECONDS, KeyRate, StreamSample
from turnout.preflight.registry import PreflightContext, register
from turnout.preflight.result import Check, Finding, Verdict
from turnout.preflight.target_latency import TARGET_ENVIRONMENT, TargetLatency, estimate_latencies

NAME = "hot-keys"
# Above half its ceiling a key falls behind at 30 % entry failures (a throttled catch-up) or
# when its rate doubles at a peak the sample's window averaged away.
WARN_SHARE = 0.5
TOP_KEYS = 3
KEY_SHOWN_CHARACTERS = 64
QUOTAS_DOC = "https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html"
PREFIX_WINDOW = next(f.default for f in fields(ReplicatorConfig) if f.name == "prefix_window")
READABLE = (
    "give the preflight credentials that can call kinesis:ListShards, GetShardIterator and "
    "GetRecords on the streams (and cloudwatch:GetMetricData in the old environment), then run "
    "it again"
)


@dataclass(frozen=True)
class Ceiling:
    per_second: float
    why: str


def ceiling(ordering: str, latency_seconds: float, mean_bytes: float) -> Ceiling:
    """The most records per second the replicator moves for one key."""
    latency = max(latency_seconds, 1e-6)
    milliseconds = f"{latency * 1000:.1f} ms"
    if ordering == "strict":
        return Ceiling(1 / latency, f"strict: one record per key per round trip of {milliseconds}")
    per_call = min(MAX_RECORDS_PER_CALL, PREFIX_WINDOW)
    limits = {
        f"{per_call} records per round trip of {milliseconds}": per_call / latency,
        f"a target shard's {SHARD_RECORDS_PER_SECOND:,} records/s": SHARD_RECORDS_PER_SECOND,
        f"a target shard's 1 MiB/s at {mean_bytes:.0f} bytes a record": SHARD_BYTES_PER_SECOND
        / max(mean_bytes, 1.0),
    }
    binding = min(limits, key=lambda why: limits[why])
    return Ceiling(limits[binding], f"relaxed: {binding} ({QUOTAS_DOC})")


def verdict(rate: float, limit: Ceiling) -> Verdict:
    if rate > limit.per_second:
        return Verdict.FAIL
    if rate > WARN_SHARE * limit.per_second:
        return Verdict.WARN
    return Verdict.PASS


@register(NAME, live_only=True)
def hot_keys(context: PreflightContext) -> Check:
    """Each stream's fastest keys against the replicator's per-key ceiling."""
    return assess(context, WINDOW_SECONDS)


def assess(context: PreflightContext, window_seconds: float) -> Check:
    if TARGET_ENVIRONMENT not in context.environments:
        return Check.of(
            NAME,
            "spec",
            [],
            passed="times the replicator's target, the old streams: run with --env old or both",
        )
    samples = [
        sample
        for environment in context.environments
        for sample in context.stream_samples(environment, window_seconds)
    ]
    latencies = estimate_latencies(context.spec, context.aws, clock=context.clock)
    findings = [
        finding
        for stream in context.spec.streams
        for finding in stream_findings(
            stream.name,
            stream.ordering,
            [sample for sample in samples if sample.stream == stream.name],
            latencies[stream.name],
        )
    ]
    return Check.of(
        NAME,
        "+".join(context.environments),
        findings,
        passed=f"no key above {WARN_SHARE:.0%} of the replicator's per-key ceiling",
    )


def stream_findings(
    stream: str, ordering: str, samples: list[StreamSample], latency: TargetLatency
) -> list[Finding]:
    """What one stream's samples (one per environment read) show against its ceiling."""
    unread = [
        Finding(Verdict.UNKNOWN, f"{stream}: {sample.problem}", READABLE, unread=True)
        for sample in samples
        if sample.problem
    ]
    if latency.seconds is None:
        unread.append(Finding(Verdict.UNKNOWN, f"{stream}: {latency.problem}", READABLE, True))
    read = [sample for sample in samples if not sample.problem]
    if unread or not read:
        return unread
    busiest = max(read, key=lambda sample: sample.keys[0].per_second if sample.keys else 0.0)
    if not busiest.keys:
        places = ", ".join(sample.physical for sample in read)
        seconds = f"{busiest.window_seconds:.0f} s"
        return [Finding(Verdict.PASS, f"{stream}: no record in the last {seconds} ({places})")]
    top = busiest.keys[0]
    limit = ceiling(ordering, latency.seconds, top.mean_bytes)
    return [key_finding(stream, ordering, busiest, top, limit, latency)]


def key_finding(
    stream: str,
    ordering: str,
    sample: StreamSample,
    top: KeyRate,
    limit: Ceiling,
    latency: TargetLatency,
) -> Finding:
    found = verdict(top.per_second, limit)
    share = top.per_second / limit.per_second
    measured = (
        f"{stream}: key {_shown(top.key)} arrives at {top.per_second:.1f} records/s "
        f"({top.records} records in {sample.shortest_span:.0f} s of {sample.physical}, "
        f"{sample.environment}), {share:.0%} of the replicator's ceiling of "
        f"{limit.per_second:.1f} records/s for it ({limit.why}; latency: {latency.source}); "
        f"top keys: {_top(sample)}"
    )
    if found is Verdict.PASS:
        return Finding(found, measured)
    spread = (
        f"spread the key over several (e.g. a suffix from 0 to {int(share) + 2}; its readers "
        "then keep per-key order per new key only)"
    )
    if ordering == "strict":
        change = (
            f"set streams[].ordering: relaxed for {stream} if its consumers are idempotent and "
            f"keep the last write per key (docs/replicator.md, 'When each fits'), or {spread}"
        )
    else:
        change = f"{spread}: one key is written to one target shard, whatever the mode"
    if found is Verdict.FAIL:
        return Finding(
            found,
            f"{measured}: replication of this key falls behind without bound",
            change,
        )
    return Finding(
        found,
        f"{measured}: above {WARN_SHARE:.0%}, entry failures or a peak make it fall behind",
        change,
    )


def _top(sample: StreamSample) -> str:
    return ", ".join(f"{_shown(key.key)} {key.per_second:.1f}/s" for key in sample.keys[:TOP_KEYS])


def _shown(key: str) -> str:
    if len(key) <= KEY_SHOWN_CHARACTERS:
        return repr(key)
    return repr(key[:KEY_SHOWN_CHARACTERS]) + "..."
