"""Replication mode read-across (docs/read-across.md): the old Lambda consumers have processed
everything in the NEW streams through their cross-account mappings, shard by shard. A rollback
waits for it after the new streams fell quiet, before it disables those mappings.

The evidence: a marker record put into every open shard of each new stream the consumer reads,
acknowledged by the old consumer in the old environment's markers table once it has processed
every record before it (`turnout.drain.read_across`). `unknown` is never taken as drained. The
markers are the only side effect (skipped in a dry run, which reports one round of verdicts).
"""

from __future__ import annotations

from pydantic import Field

from turnout.drain.base import wait_until_drained
from turnout.drain.read_across import read_across_predicates, read_across_scope
from turnout.drain.scope import bounded_timeout
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed


class VerifyReadAcrossDrained(Hook):
    name = "verify_read_across_drained"

    class Args(HookArgs):
        timeout_seconds: float = Field(gt=0)
        poll_seconds: float = Field(default=5.0, gt=0)
        reads_per_second: float = Field(default=2.0, gt=0, le=5)
        workers: int = Field(default=8, ge=1, le=256)

    def run(self, context: HookContext) -> dict:
        scope = read_across_scope(
            context,
            reads_per_second=self.args.reads_per_second,
            workers=self.args.workers,
            progress=context.progress,
        )
        predicates = read_across_predicates(scope)
        prepared = {predicate.consumer_name: predicate.prepare() for predicate in predicates}
        if context.dry_run:
            verdicts = [predicate.check().to_dict() for predicate in predicates]
            return {"dry_run": True, "prepared": prepared, "consumers": verdicts}
        timeout = bounded_timeout(context, self.args.timeout_seconds)
        outcome = wait_until_drained(
            predicates,
            what="the old consumers to read the new streams' tail",
            timeout_seconds=timeout,
            poll_seconds=self.args.poll_seconds,
            clock=context.clock,
            sleep=context.sleep,
            progress=context.progress,
        )
        data = {"prepared": prepared, **outcome.to_dict()}
        if not outcome.drained:
            error = HookFailed(
                f"the old consumers did not read the new streams' tail within {timeout:.0f} s: "
                f"{outcome.problems()}. Their mappings on the new streams stay enabled and the "
                "records stay in the new streams (retention): run the rollback again to resume."
            )
            error.data = data  # type: ignore[attr-defined]
            raise error
        return data
