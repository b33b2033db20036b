"""Built-in hook: the data stores a cutover is about to copy can be copied (read-only).

The engine runs it before the first transition changes anything: each source exists and the
old environment's credentials can read it, each target exists and fits (an S3 target enforces
bucket-owner ownership; a DynamoDB target has the source's key). The first problem found stops
the cutover with one paragraph; nothing was changed.
"""

from __future__ import annotations

from turnout.datastores.preflight import check_store
from turnout.datastores.run import store_index
from turnout.hooks import Hook, HookArgs, HookContext


class CheckDataStores(Hook):
    name = "check_data_stores"

    class Args(HookArgs):
        stores: list[str]

    def run(self, context: HookContext) -> dict:
        checked = [
            check_store(context, store_index(context.spec, name)) for name in self.args.stores
        ]
        context.progress(f"data stores ready to copy: {', '.join(self.args.stores)}")
        return {"checked": checked}
