"""`direction-flag-rate`: the replicator's reads of the active-direction parameter stay well
within Parameter Store's throughput.

Every execution environment of the active replicator reads the parameter in its own account
(source) and in the peer's (target, through the writer role), each at most once per cache period
(`direction_cache_seconds` in the replicator's config, 5 s). Lambda runs one environment per shard
and parallelization factor
(https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html#kinesis-polling-and-batching),
so the reads are shards x parallelization x 2 accounts / cache seconds in total, half of it in
each account. Parameter Store's default throughput is 40 transactions per second per account
and region, shared by GetParameter, GetParameters and GetParametersByPath and by everything else
in the account (https://docs.aws.amazon.com/general/latest/gr/ssm.html). When throttled, the
guard refuses the batch (a read failure is never guessed around): replication stalls.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import fields

from turnout.lambdas.replicator.config import ReplicatorConfig
from turnout.preflight.registry import PreflightContext, register
from turnout.preflight.result import Check, Finding, Verdict

NAME = "direction-flag-rate"
SSM_QUOTAS_DOC = "https://docs.aws.amazon.com/general/latest/gr/ssm.html"
DEFAULT_GET_PARAMETER_TPS = 40
WARN_SHARE = 0.5
FAIL_SHARE = 0.8
# The replicator's own default (its loop guard refuses a longer one), read from its config so
# the two cannot drift apart.
DIRECTION_CACHE_SECONDS = next(
    field.default for field in fields(ReplicatorConfig) if field.name == "direction_cache_seconds"
)


@register(NAME)
def direction_flag_rate(context: PreflightContext) -> Check:
    """The direction parameter's read rate is a safe share of SSM's default throughput."""
    spec = context.spec
    shards = sum(stream.initial_shards for stream in spec.streams)
    on_demand = any(stream.capacity.mode == "on_demand" for stream in spec.streams)
    factor = spec.replication.parallelization_factor
    per_side = shards * factor / DIRECTION_CACHE_SECONDS
    # One read per side; both sides land on one quota when old and new share account and region.
    places = Counter(
        (getattr(spec.environments, env).account_id, getattr(spec.environments, env).region)
        for env in ("old", "new")
    )
    busiest = per_side * max(places.values())
    share = busiest / DEFAULT_GET_PARAMETER_TPS
    fact = (
        f"{'at least ' if on_demand else ''}{shards} shards x parallelization {factor} x 2 "
        f"accounts / {DIRECTION_CACHE_SECONDS:g} s cache = {2 * per_side:.1f} GetParameter/s; "
        f"{busiest:.1f}/s in the busiest account and region"
        f"{' (old and new share it)' if max(places.values()) > 1 else ''}, {share:.0%} of the "
        f"default {DEFAULT_GET_PARAMETER_TPS}/s ({SSM_QUOTAS_DOC})"
    )
    change = (
        "enable Parameter Store's higher throughput in both accounts (billed per call), or "
        "fewer shards; the rate is shared with everything else reading Parameter Store there"
    )
    if share > FAIL_SHARE:
        finding = Finding(
            Verdict.FAIL,
            f"{fact}: above {FAIL_SHARE:.0%}, throttled reads stall replication",
            change,
        )
    elif share > WARN_SHARE:
        finding = Finding(Verdict.WARN, f"{fact}: above {WARN_SHARE:.0%}", change)
    else:
        finding = Finding(Verdict.PASS, "")
    return Check.of(NAME, "spec", [finding], passed=fact)
