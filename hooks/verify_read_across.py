"""Point-in-time fact (replication mode read-across, docs/read-across.md): every old Lambda
consumer has one mapping on each new stream it reads, and each is in the wanted state (Enabled
from mirrored until the commit or the end of a rollback, Disabled after). While Enabled, every
old KCL application's read-across instance holds a lease on each open shard of the new streams
it reads (its lease table, in the old account: it runs)."""

from __future__ import annotations

from typing import Literal

from turnout.consumers import read_across_mapping_states
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed
from turnout.kcl_read_across import instance_lease_states, read_across_instances


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
        if self.args.state != "Enabled" or not read_across_instances(context.spec):
            return data
        instances = instance_lease_states(context)
        if instances["wrong"]:
            raise HookFailed(
                "the KCL applications' read-across instances do not all read the new streams: "
                + "; ".join(instances["wrong"])
                + ". Each is started by its read_across.start_command (step start-kcl-read-across); "
                "check it runs with the TURNOUT_READ_ACROSS_* settings, then run the cutover again."
            )
        return {**data, "kcl_instances": instances["instances"]}
