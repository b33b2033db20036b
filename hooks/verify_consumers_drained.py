"""The environment's consumers have processed everything in its streams, shard by shard (open
shards and closed shards still in retention alike).

Each consumer is judged by the drain predicate of its kind (`turnout.drain`): Lambda consumers by
marker records they acknowledge (`drain_evidence: markers`) or by CloudWatch metrics
(`drain_evidence: metrics`), KCL applications by their lease table. The hook waits, with progress,
until every verdict is `drained`; `unknown` is never treated as drained. A Lambda consumer's
verdict also reads its mappings' on-failure destinations (`turnout.drain.discarded`): records
discarded there during the migration make it `not drained` at once ("not drained: N records
discarded to <queue>"), and an SNS or S3 destination, which cannot be counted, `unknown`.
Marker records and each on-failure queue's baseline (when none is recorded yet) are the only
side effects (skipped in a dry run, which reports one round of verdicts without waiting).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from turnout.drain.base import predicate_for, wait_until_drained, watch_discards
from turnout.drain.scope import bounded_timeout, scope_from_context
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed


class VerifyConsumersDrained(Hook):
    name = "verify_consumers_drained"

    class Args(HookArgs):
        environment: Literal["old", "new"]
        timeout_seconds: float = Field(gt=0)
        poll_seconds: float = Field(default=10.0, gt=0)
        reads_per_second: float = Field(default=2.0, gt=0, le=5)
        workers: int = Field(default=32, ge=1, le=256)  # shards read side by side
        metrics_period_seconds: int = Field(default=60, ge=60)
        metrics_quiet_periods: int = Field(default=5, ge=1)
        metrics_lookback_periods: int = Field(default=60, ge=2)
        metrics_max_iterator_age_ms: float = Field(default=5000, ge=0)
        # how on-failure queues are read: count (queue attributes) or peek (receives messages)
        discards: Literal["count", "peek"] = "count"

    def run(self, context: HookContext) -> dict:
        environment = self.args.environment
        scope = scope_from_context(
            context,
            environment,
            reads_per_second=self.args.reads_per_second,
            workers=self.args.workers,
            progress=context.progress,
        )
        settings = {
            "period_seconds": self.args.metrics_period_seconds,
            "quiet_periods": self.args.metrics_quiet_periods,
            "lookback_periods": self.args.metrics_lookback_periods,
            "max_iterator_age_ms": self.args.metrics_max_iterator_age_ms,
        }
        consumers = getattr(context.spec.consumers, environment)
        predicates = [predicate_for(consumer, scope, **settings) for consumer in consumers]
        watch_discards(predicates, self.args.discards)
        prepared = {predicate.consumer_name: predicate.start() for predicate in predicates}
        prepared = {name: value for name, value in prepared.items() if value}
        if context.dry_run:
            verdicts = [predicate.verdict() for predicate in predicates]
            return {
                "environment": environment,
                "dry_run": True,
                "prepared": prepared,
                "consumers": [verdict.to_dict() for verdict in verdicts],
            }
        timeout = bounded_timeout(context, self.args.timeout_seconds)
        outcome = wait_until_drained(
            predicates,
            what=f"the {environment} environment's consumers to drain",
            timeout_seconds=timeout,
            poll_seconds=self.args.poll_seconds,
            clock=context.clock,
            sleep=context.sleep,
            progress=context.progress,
        )
        data = {"environment": environment, "prepared": prepared, **outcome.to_dict()}
        if outcome.discarded:
            raise failure(
                data,
                f"the {environment} environment's consumers discarded records during the "
                f"migration: {outcome.problems()}. Those records were skipped by the consumer and "
                "stay in the stream until its retention ends: re-drive them from the shard and "
                "sequence ranges in the queue's messages before going on.",
            )
        if not outcome.drained:
            raise failure(
                data,
                f"the {environment} environment's consumers did not drain within {timeout:.0f} s: "
                f"{outcome.problems()}. Unknown means the evidence is missing (a paused consumer, "
                "no metrics, no lease table, an on-failure destination that cannot be counted) "
                "and is never taken as drained.",
            )
        return data


def failure(data: dict, message: str) -> HookFailed:
    error = HookFailed(message)
    error.data = data  # type: ignore[attr-defined]
    return error
