"""Point-in-time fact: every Lambda consumer mapping of the environment is Disabled right now.

KCL and custom consumers cannot be observed as paused through an AWS API; they are reported as
`unverified` (their pause command or hook is what pauses them)."""

from __future__ import annotations

from typing import Literal

from turnout.consumers import consumer_mapping_states
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed


class VerifyConsumersPaused(Hook):
    name = "verify_consumers_paused"

    class Args(HookArgs):
        environment: Literal["old", "new"]

    def run(self, context: HookContext) -> dict:
        data = consumer_mapping_states(context, self.args.environment, "Disabled")
        if data["wrong"]:
            raise HookFailed(
                f"the {self.args.environment} environment's consumers are not all paused: "
                + "; ".join(data["wrong"])
                + ". Run pause_consumers (a mapping still Disabling is not paused yet)."
            )
        return data
