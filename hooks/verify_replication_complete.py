"""The commit gate: everything the new streams received since the switch reached the old streams
through replication, per partition key, complete, once and in order (`turnout verify`,
docs/verify.md), and no Lambda consumer of either environment discarded records to its
on-failure destination during the migration (`turnout.drain.discarded`). Fails listing the
missing, extra, duplicated and reordered records and the discards."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from turnout.aws.access import service_clock
from turnout.drain.discarded import check_environments
from turnout.engine.state import StateStore
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed
from turnout.spec.names import control_plane
from turnout.verify.run import (
    VerifyOptions,
    parse_since,
    problems_text,
    since_window,
    verify,
    window_from_journal,
)


class VerifyReplicationComplete(Hook):
    name = "verify_replication_complete"

    class Args(HookArgs):
        grace_seconds: float = Field(default=60.0, ge=0)
        reads_per_second: float = Field(default=1.0, gt=0, le=5)
        sample: float = Field(default=1.0, gt=0, le=1)
        workers: int = Field(default=8, ge=1, le=64)
        allow_duplicates: bool = False
        since: str | None = None  # default: the switch and replication start in the journal
        # how on-failure queues are read: count (queue attributes) or peek (receives messages)
        discards: Literal["count", "peek"] = "count"

    def run(self, context: HookContext) -> dict:
        if self.args.since is not None:
            now = service_clock(context.aws)()
            window = since_window(parse_since(self.args.since, now))
        else:
            control = control_plane(context.spec)
            environment = control.environment
            state_table = control.state_table
            store = StateStore(
                context.client(environment, "dynamodb"), state_table, context.spec.migration
            )
            window = window_from_journal(store)
        options = VerifyOptions(
            grace_seconds=self.args.grace_seconds,
            reads_per_second=self.args.reads_per_second,
            sample=self.args.sample,
            workers=self.args.workers,
            allow_duplicates=self.args.allow_duplicates,
            clock=context.clock,
            sleep=context.sleep,
        )

        def discards() -> list[dict]:
            found = check_environments(
                context.spec, context.aws, ["old", "new"], context.clock, self.args.discards
            )
            return [verdict.to_dict() for verdict in found]

        report = verify(context.spec, context.aws, window, options, context.progress, discards)
        data = compact(report.document)
        if not report.passed:
            error = HookFailed(
                "replication is not complete, or a consumer discarded records: the old streams "
                "must hold exactly what the new streams received since the switch, in order, and "
                f"no consumer may have skipped a batch: {problems_text(data)}. Commit "
                "would stop replication and leave the old environment with this difference. "
                "Run `turnout verify` for the full report; fix the replication (failure queue, "
                "replicator logs) and run the cutover again, or roll back."
            )
            error.data = data  # type: ignore[attr-defined]
            raise error
        return data


def compact(document: dict) -> dict:
    """What the journal and the state item keep: counts per stream, the first findings; the
    per-shard detail stays in `turnout verify --json`."""
    return {
        **{key: document[key] for key in ("passed", "window", "sample", "totals", "seconds")},
        "discards": document.get("discards", []),
        "records_per_second": document["records_per_second"],
        "streams": {
            name: {
                "ordering": stream["ordering"],
                "failing_kinds": stream["failing_kinds"],
                "keys": stream["keys"],
                "keys_with_problems": stream["keys_with_problems"],
                "records": stream["records"],
                "findings": stream["findings"][:10],
            }
            for name, stream in document["streams"].items()
        },
    }
