"""The replicator of a direction has written everything in its source streams: for every source
shard (open and closed), no record follows the ledger's `last_sequence_number`; a shard with
records and no ledger item is not drained. Waits, with progress, up to `timeout_seconds`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from turnout.drain.base import wait_until_drained
from turnout.drain.ledger import ReplicatorConsumer, ReplicatorLedger
from turnout.drain.scope import bounded_timeout, scope_from_context
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed


class VerifyReplicatorDrained(Hook):
    name = "verify_replicator_drained"

    class Args(HookArgs):
        direction: Literal["old_to_new", "new_to_old"]
        timeout_seconds: float = Field(gt=0)
        poll_seconds: float = Field(default=5.0, gt=0)
        reads_per_second: float = Field(default=2.0, gt=0, le=5)
        workers: int = Field(default=32, ge=1, le=256)  # shards read side by side

    def run(self, context: HookContext) -> dict:
        source = self.args.direction.split("_to_")[0]
        scope = scope_from_context(
            context,
            source,
            reads_per_second=self.args.reads_per_second,
            workers=self.args.workers,
            progress=context.progress,
        )
        predicate = ReplicatorLedger(ReplicatorConsumer(context.spec, source), scope)
        timeout = bounded_timeout(context, self.args.timeout_seconds)
        outcome = wait_until_drained(
            [predicate],
            what=f"the {self.args.direction} replicator to drain",
            timeout_seconds=timeout,
            poll_seconds=self.args.poll_seconds,
            clock=context.clock,
            sleep=context.sleep,
            progress=context.progress,
        )
        data = {"direction": self.args.direction, **outcome.to_dict()}
        if not outcome.drained:
            error = HookFailed(
                f"the {self.args.direction} replicator did not drain its {source} streams within "
                f"{timeout:.0f} s: {outcome.problems()}. Check that its mapping is enabled, that "
                "both active-direction parameters name this direction, and its failure queue."
            )
            error.data = data  # type: ignore[attr-defined]
            raise error
        return data
