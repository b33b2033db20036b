"""Point-in-time fact: every Lambda consumer mapping of the environment is Enabled right now.

KCL and custom consumers cannot be observed as running through an AWS API; they are reported as
`unverified` (their resume command or hook is what resumes them)."""

from __future__ import annotations

from typing import Literal

from turnout.consumers import consumer_mapping_states
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed


class VerifyConsumersRunning(Hook):
    name = "verify_consumers_running"

    class Args(HookArgs):
        environment: Literal["old", "new"]

    def run(self, context: HookContext) -> dict:
        data = consumer_mapping_states(context, self.args.environment, "Enabled")
        if data["wrong"]:
            raise HookFailed(
                f"the {self.args.environment} environment's consumers are not all running: "
                + "; ".join(data["wrong"])
                + ". Run resume_consumers (a mapping still Enabling is not running yet)."
            )
        return data
