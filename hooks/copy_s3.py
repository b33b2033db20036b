"""Built-in hook: copy a data store of kind s3 declared in the spec's `data_stores:`.

Server-side copy of the old bucket (or prefix) into the new bucket, incremental by size and ETag,
resumable from its checkpoint, then verified object by object with a manifest. The step table
runs it at the store's declared point (`at:`); see docs/datastores.md.
"""

from __future__ import annotations

from turnout.datastores.run import copy_store
from turnout.hooks import Hook, HookArgs, HookContext


class CopyS3(Hook):
    name = "copy_s3"

    class Args(HookArgs):
        store: str  # the data store's name in data_stores

    def run(self, context: HookContext) -> dict:
        return copy_store(context, self.args.store)
