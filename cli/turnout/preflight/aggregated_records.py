"""`aggregated-records` (live): where a stream carries KPL aggregates, its peer's shards must take
each aggregate whole.

A KPL producer packs the user records its shard map predicts for one shard into one Kinesis
record, and KCL drops every sub-record whose hash key lies outside the range of the shard it
reads the aggregate from (https://docs.aws.amazon.com/streams/latest/dev/kinesis-kpl-consumer-deaggregation.html).
The replicator puts an aggregate with its first sub-record's hash key as `ExplicitHashKey`
(lambdas/replicator/aggregates.py), so the aggregate lands in the peer shard holding that key;
its other sub-records survive there only when the source shard's whole range lies within that
one peer shard's range. Hence, for every stream whose sample (the one `hot-keys` reads, see
key_sample.py) holds an aggregate: each open shard's hash key range of the sampled stream lies
within one open shard of the same stream in the other environment, or the row fails. Streams
turnout creates with the same provisioned shard count in both environments have equal ranges;
an imported or resharded stream may not. On-demand streams split and merge by themselves, so
an alignment measured now may not last: a warning.
"""

from __future__ import annotations

from typing import Any

from turnout.aws.errors import READ_ERRORS
from turnout.aws.kinesis import is_open, list_shards
from turnout.errors import TurnoutError
from turnout.preflight.key_sample import WINDOW_SECONDS, StreamSample
from turnout.preflight.registry import PreflightContext, register
from turnout.preflight.result import Check, Finding, Verdict
from turnout.preflight.stream_age import unreadable
from turnout.spec.names import names

NAME = "aggregated-records"
PEER = {"old": "new", "new": "old"}
READABLE = (
    "give the preflight credentials that can call kinesis:ListShards, GetShardIterator and "
    "GetRecords on the streams of both environments, then run it again"
)
Range = tuple[int, int]


@register(NAME, live_only=True)
def aggregated_records(context: PreflightContext) -> Check:
    """Each sampled stream holding KPL aggregates against its peer stream's shard ranges."""
    findings = [
        finding
        for environment in context.environments
        for sample in context.stream_samples(environment, WINDOW_SECONDS)
        for finding in sample_findings(context, sample)
    ]
    return Check.of(
        NAME,
        "+".join(context.environments),
        findings,
        passed="no stream's KPL aggregates could land in a shard that drops their sub-records",
    )


def sample_findings(context: PreflightContext, sample: StreamSample) -> list[Finding]:
    if sample.problem:
        return [Finding(Verdict.UNKNOWN, f"{sample.stream}: {sample.problem}", READABLE, True)]
    where = (
        f"records sampled in {sample.physical} ({sample.environment}, last "
        f"{sample.window_seconds:.0f} s)"
    )
    if not sample.aggregates:
        return [
            Finding(
                Verdict.PASS,
                f"{sample.stream}: no KPL aggregate among {sample.records:,} {where}",
            )
        ]
    peer = PEER[sample.environment]
    stream = next(s for s in context.spec.streams if s.name == sample.stream)
    peer_physical = names(context.spec, peer).stream(stream.name)
    try:
        source = open_ranges(context.aws, sample.environment, sample.physical)
        target = open_ranges(context.aws, peer, peer_physical)
    except (TurnoutError, *READ_ERRORS) as problem:
        what = f"the shards of {sample.physical} and {peer_physical}"
        fact = f"{stream.name}: {unreadable(what, problem)}"
        return [Finding(Verdict.UNKNOWN, fact, READABLE, unread=True)]
    held = f"{stream.name}: {sample.aggregates:,} of {sample.records:,} {where} are KPL aggregates"
    return [placement(stream, held, sample.physical, source, (peer, peer_physical), target)]


def placement(
    stream: Any,
    held: str,
    physical: str,
    source: list[Range],
    peer: tuple[str, str],
    target: list[Range],
) -> Finding:
    """Whether every open shard's range of the sampled stream lies within one peer shard."""
    environment, peer_physical = peer
    misfits = [r for r in source if not any(t[0] <= r[0] and r[1] <= t[1] for t in target)]
    if misfits:
        return Finding(
            Verdict.FAIL,
            f"{held}, and {len(misfits)} of its {len(source)} open shards' hash key ranges do "
            f"not lie within one open shard of {peer_physical} ({environment}, {len(target)} "
            "open shards): an aggregate replicated there lands where its first sub-record "
            "hashes, and a KCL consumer drops its sub-records that hash outside that shard",
            f"give {peer_physical} the shard ranges of {physical}: the same number of evenly "
            "split shards in both environments (streams[].capacity), resharded only together "
            "(docs/preflight.md, aggregated-records)",
        )
    aligned = (
        f"{held}; each of its {len(source)} open shards lies within one shard of "
        f"{peer_physical} ({environment}): every aggregate lands whole"
    )
    if stream.capacity.mode == "on_demand":
        return Finding(
            Verdict.WARN,
            f"{aligned}, but the stream is on-demand: Kinesis splits and merges its shards by "
            "itself, in each environment apart",
            f"make {stream.name} provisioned with the same shard count in both environments "
            "for the migration, or have its producers stop aggregating",
        )
    return Finding(Verdict.PASS, aligned)


def open_ranges(aws: Any, environment: str, physical: str) -> list[Range]:
    """The hash key ranges of a stream's open shards."""
    kinesis = aws.client(environment, "kinesis")
    return [
        (int(shard["HashKeyRange"]["StartingHashKey"]), int(shard["HashKeyRange"]["EndingHashKey"]))
        for shard in list_shards(kinesis, physical)
        if is_open(shard)
    ]
