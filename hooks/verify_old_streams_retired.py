"""Built-in check (decommission, before the old streams are deleted): every old stream's
retention has passed since the commit, and nothing was written to it since the commit (no
record from the commit on in any shard, no IncomingRecords since). Deleting then loses nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import Field

from turnout.aws.access import service_clock
from turnout.aws.kinesis import ShardReader
from turnout.decommission.streams import incoming_since, records_since, retention_due
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class VerifyOldStreamsRetired(Hook):
    name = "verify_old_streams_retired"

    class Args(HookArgs):
        reads_per_second: float = Field(default=2.0, gt=0, le=5)
        max_calls_per_shard: int = Field(default=50, ge=1, le=10000)

    def run(self, context: HookContext) -> dict:
        if not context.phase_since:
            raise HookFailed(
                "cannot tell when the migration was committed (the journal has no completed "
                "new-live->committed transition), so the old streams' retention cannot be "
                "judged; they are kept."
            )
        committed = datetime.fromisoformat(context.phase_since).timestamp()
        now = service_clock(context.aws)()  # the journal's and the streams' clock
        due = retention_due(context.spec, committed)
        waiting = {name: when for name, when in due.items() if when > now}
        if waiting:
            raise HookFailed(
                f"the old streams are kept until their retention has passed since the commit at "
                f"{_when(committed)}: "
                + ", ".join(f"{name} until {_when(when)}" for name, when in sorted(waiting.items()))
                + ". Nothing was deleted; the replication and the old consumers' mappings are "
                "removed already. Run `turnout decommission --allow-destroy` again after that "
                "time: it resumes here."
            )
        return self._nothing_written(context, committed, now, due)

    def _nothing_written(self, context: HookContext, committed: float, now: float, due) -> dict:
        reader = ShardReader(
            context.client("old", "kinesis"),
            sleep=context.sleep,
            reads_per_second=self.args.reads_per_second,
        )
        cloudwatch = context.client("old", "cloudwatch")
        report, written = {}, []
        for name in sorted(due):
            seen = records_since(reader, name, committed, self.args.max_calls_per_shard)
            incoming = incoming_since(cloudwatch, name, committed, now)
            report[name] = {**seen, "incoming_records_since_commit": incoming}
            if seen["records"] or (incoming or 0) > 0 or not seen["complete"]:
                written.append(
                    f"{name}: {seen['records']} record(s) read since the commit"
                    + ("" if seen["complete"] else " (at least: the read did not reach the end)")
                    + f", IncomingRecords {incoming if incoming is not None else 'no data'}"
                )
        if written:
            raise HookFailed(
                f"something wrote to the old streams after the commit at {_when(committed)}: "
                + "; ".join(written)
                + ". A producer still writes there: find it before deleting anything. Nothing "
                "was deleted."
            )
        return {"committed_at": _when(committed), "streams": report}
