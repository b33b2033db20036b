"""Point-in-time fact (replication mode read-across, docs/read-across.md): every old Lambda
consumer has one mapping on each new stream it reads, and each is in the wanted state (Enabled
from mirrored until the commit or the end of a rollback, Disabled after)."""

from __future__ import annotations

from typing import Literal

from turnout.consumers import read_across_mapping_states
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed


class VerifyReadAcross(Hook):
    name = "verify_read_across"

    class Args(HookArgs):
        state: Literal["Enabled", "Disabled"]

    def run(self, context: HookContext) -> dict:
        data = read_across_mapping_states(context, self.args.state)
        if data["wrong"]:
            raise HookFailed(
                f"the old consumers' mappings on the new streams are not all {self.args.state}: "
                + "; ".join(data["wrong"])
                + ". They are Terraform's (aws_lambda_event_source_mapping.read_across in the "
                "old environment): run the cutover again to apply them, and wait while one is "
                "still Creating, Enabling or Disabling."
            )
        return data
