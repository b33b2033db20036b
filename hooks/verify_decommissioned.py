"""Built-in check (decommission): the migration's machinery is gone: in each environment the
replicator function, its event source mappings and its writer role; with `old_streams`, the old
streams too."""

from __future__ import annotations

from turnout.decommission.leftovers import leftovers
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed


class VerifyDecommissioned(Hook):
    name = "verify_decommissioned"

    class Args(HookArgs):
        old_streams: bool = False

    def run(self, context: HookContext) -> dict:
        found = leftovers(context, self.args.old_streams)
        if found:
            raise HookFailed(
                "the decommission apply finished but these still exist: "
                + "; ".join(found)
                + ". Something outside this Terraform state holds them, or the apply was "
                "interrupted: run `turnout decommission` again."
            )
        return {"gone": True, "old_streams_checked": self.args.old_streams}
