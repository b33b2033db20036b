"""Before the switch: the new environment's streams hold no record (every shard, read from
TRIM_HORIZON to its end). The new->old replicator starts at TRIM_HORIZON, so its first record
must be the first post-switch record: anything already in the new streams (test traffic, an
earlier attempt) would be replicated into the old environment."""

from __future__ import annotations

from pydantic import Field

from turnout.aws.kinesis import ShardReader, is_open, list_shards
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed


class VerifyNewStreamsEmpty(Hook):
    name = "verify_new_streams_empty"

    class Args(HookArgs):
        max_calls_per_shard: int = Field(default=50, ge=1)
        reads_per_second: float = Field(default=2.0, gt=0, le=5)

    def run(self, context: HookContext) -> dict:
        kinesis = context.client("new", "kinesis")
        reader = ShardReader(
            kinesis,
            clock=context.clock,
            sleep=context.sleep,
            reads_per_second=self.args.reads_per_second,
        )
        streams: dict[str, dict] = {}
        found: list[str] = []
        for stream in context.spec.streams:
            physical = stream.name_in("new")
            shards = {}
            for shard in list_shards(kinesis, physical):
                scan = reader.scan(
                    physical, shard["ShardId"], None, max_calls=self.args.max_calls_per_shard
                )
                shards[shard["ShardId"]] = {**scan.summary(), "open": is_open(shard)}
                if scan.count:
                    found.append(
                        f"{stream.name} ({physical})/{shard['ShardId']}: "
                        f"{'at least ' if not scan.complete else ''}{scan.count} records"
                    )
            streams[stream.name] = {
                "name": physical,
                "records": sum(entry["records"] for entry in shards.values()),
                "shards": shards,
            }
        data = {"streams": streams}
        if found:
            error = HookFailed(
                "the new environment's streams are not empty: "
                + "; ".join(found)
                + ". The new->old replicator starts at TRIM_HORIZON, so these records (test "
                "traffic or an earlier attempt) would be replicated into the old environment. "
                "Recreate the new streams (or wait for the records to expire) before switching."
            )
            error.data = data  # type: ignore[attr-defined]
            raise error
        return data
