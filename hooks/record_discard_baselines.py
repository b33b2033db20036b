"""Record, when the migration starts, how many messages each Lambda consumer's on-failure queue
holds (both environments), so that the drain and verify checks count only what the consumers
discard from then on (`turnout.drain.discarded`). Idempotent: a queue's first baseline is kept
for the whole migration. Writes only to the markers tables; skipped in a dry run. A queue that
cannot be read now gets its baseline at the first drain check that reads it."""

from __future__ import annotations

from turnout.drain.discarded import watches_for
from turnout.hooks import Hook, HookArgs, HookContext


class RecordDiscardBaselines(Hook):
    name = "record_discard_baselines"

    class Args(HookArgs):
        pass

    def run(self, context: HookContext) -> dict:
        recorded: dict[str, list[dict]] = {}
        for environment in ("old", "new"):

            def client(service: str, environment: str = environment):
                return context.client(environment, service)

            watches = watches_for(
                context.spec, environment, client, context.clock, dry_run=context.dry_run
            )
            recorded[environment] = [entry for watch in watches for entry in watch.prepare()]
        return {"dry_run": context.dry_run, "baselines": recorded}
