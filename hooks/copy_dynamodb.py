"""Built-in hook: copy a data store of kind dynamodb declared in the spec's `data_stores:`.

Parallel scan segments of the old table written into the new table at a bounded rate,
resumable per segment, then verified by item count and an order-independent checksum. The
step table runs it at the store's declared point (`at:`); see docs/datastores.md.
"""

from __future__ import annotations

from turnout.datastores.run import copy_store
from turnout.hooks import Hook, HookArgs, HookContext


class CopyDynamoDb(Hook):
    name = "copy_dynamodb"

    class Args(HookArgs):
        store: str  # the data store's name in data_stores

    def run(self, context: HookContext) -> dict:
        return copy_store(context, self.args.store)
