"""Built-in hook (decommission): delete the event source mappings of an environment's Lambda
consumers on the spec's streams. KCL and custom consumers are listed for the operator to stop.
Idempotent: a mapping already gone is not an error; a run after all are gone removes nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from turnout.decommission.mappings import remove_lambda_mappings
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed


class RemoveConsumerMappings(Hook):
    name = "remove_consumer_mappings"

    class Args(HookArgs):
        environment: Literal["old", "new"]
        settle_timeout_seconds: float = Field(default=300, gt=0)

    def run(self, context: HookContext) -> dict:
        try:
            data = remove_lambda_mappings(
                context, self.args.environment, self.args.settle_timeout_seconds
            )
        except TimeoutError as problem:
            raise HookFailed(
                f"removing the {self.args.environment} consumers' mappings did not finish: "
                f"{problem}. Mappings already deleted stay deleted (their consumers were paused "
                f"since the commit, so no record is read by them any more); run again."
            ) from None
        context.progress(
            f"{self.args.environment} consumers: {len(data['removed'])} mapping(s) "
            + ("would be " if context.dry_run else "")
            + "removed"
            + (f"; stop yourself: {', '.join(data['manual'])}" if data["manual"] else "")
        )
        return data
