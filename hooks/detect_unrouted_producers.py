"""Prove that nothing still writes to an environment's streams (no unrouted producers).

Every OPEN shard of every stream is watched from a LATEST iterator (then from the newest record
seen). The check passes once no shard received any record for `quiet_seconds`; each new record
restarts the quiet window. After `timeout_seconds` it fails, naming the shards still receiving.
Reads are paced to `reads_per_second` GetRecords per shard (default 2; a shard serves 5 per
second, shared with the live consumers).
"""

from __future__ import annotations

from typing import Literal

from botocore.exceptions import ClientError
from pydantic import Field

from turnout.aws.errors import error_code
from turnout.aws.kinesis import ShardReader, children_of, is_open, list_shards
from turnout.drain.scope import bounded_timeout
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed


class DetectUnroutedProducers(Hook):
    name = "detect_unrouted_producers"

    class Args(HookArgs):
        environment: Literal["old", "new"]
        quiet_seconds: float = Field(gt=0)
        timeout_seconds: float = Field(gt=0)
        poll_seconds: float = Field(default=1.0, gt=0)
        reads_per_second: float = Field(default=2.0, gt=0, le=5)

    def run(self, context: HookContext) -> dict:
        environment = self.args.environment
        kinesis = context.client(environment, "kinesis")
        reader = ShardReader(
            kinesis,
            clock=context.clock,
            sleep=context.sleep,
            reads_per_second=self.args.reads_per_second,
        )
        timeout = bounded_timeout(context, self.args.timeout_seconds)
        started = context.clock()
        watchers: dict[tuple[str, str], dict] = {}

        def watch(logical: str, physical: str, shard_id: str, iterator_type: str) -> None:
            watchers[(logical, shard_id)] = {
                "logical": logical,
                "physical": physical,
                "shard": shard_id,
                "iterator": reader.iterator(physical, shard_id, iterator_type),
                "taken_at": context.clock(),
                "last_sequence_number": None,
                "last_record_at": None,
                "count": 0,
            }

        shards_of: dict[str, list[dict]] = {}
        for stream in context.spec.streams:
            physical = stream.name_in(environment)
            shards_of[stream.name] = list_shards(kinesis, physical)
            for shard in shards_of[stream.name]:
                if is_open(shard):
                    watch(stream.name, physical, shard["ShardId"], "LATEST")

        last_record_at = started
        rounds = 0
        while True:
            rounds += 1
            for key, watcher in list(watchers.items()):
                if watcher["iterator"] is None:
                    continue
                page = self._read(reader, watcher)
                records = page.get("Records", [])
                if records:
                    now = context.clock()
                    watcher["count"] += len(records)
                    watcher["last_sequence_number"] = records[-1]["SequenceNumber"]
                    watcher["last_record_at"] = now
                    last_record_at = now
                watcher["iterator"] = page.get("NextShardIterator")
                if watcher["iterator"] is None:  # the shard was closed (resharded): follow it
                    logical, physical = watcher["logical"], watcher["physical"]
                    shards_of[logical] = list_shards(kinesis, physical)
                    for child in children_of(shards_of[logical], key[1]):
                        if (logical, child["ShardId"]) not in watchers:
                            watch(logical, physical, child["ShardId"], "TRIM_HORIZON")
            now = context.clock()
            quiet_for = now - last_record_at
            elapsed = now - started
            total = sum(watcher["count"] for watcher in watchers.values())
            if quiet_for >= self.args.quiet_seconds:
                return self._data(watchers, started, now, rounds, quiet_for)
            if elapsed >= timeout:
                busy = [
                    f"{watcher['logical']} ({watcher['physical']})/{watcher['shard']}: "
                    f"{watcher['count']} records"
                    for watcher in watchers.values()
                    if watcher["last_record_at"] is not None
                    and now - watcher["last_record_at"] < self.args.quiet_seconds
                ]
                error = HookFailed(
                    f"something still writes to the {environment} environment's streams: "
                    f"{total} records arrived in {elapsed:.0f} s and the streams were never quiet "
                    f"for {self.args.quiet_seconds:g} s (longest quiet: {quiet_for:.0f} s). "
                    f"Still receiving: {'; '.join(busy) or 'none in the last window'}. Find the "
                    "producers that do not read the route (or cache it) before going on: their "
                    "records would not reach the new environment's consumers."
                )
                error.data = self._data(watchers, started, now, rounds, quiet_for)  # type: ignore[attr-defined]
                raise error
            context.progress(
                f"waiting for {environment} streams to fall quiet: quiet for {quiet_for:.0f} of "
                f"{self.args.quiet_seconds:g} s, {total} records seen, {elapsed:.0f} s of "
                f"{timeout:.0f} s"
            )
            context.sleep(
                min(self.args.poll_seconds, max(0.0, self.args.quiet_seconds - quiet_for))
            )

    @staticmethod
    def _read(reader: ShardReader, watcher: dict) -> dict:
        try:
            return reader.get_records(watcher["physical"], watcher["shard"], watcher["iterator"])
        except ClientError as problem:
            if error_code(problem) != "ExpiredIteratorException":
                raise
        # Iterators live 5 minutes: continue exactly where this one stood.
        if watcher["last_sequence_number"] is not None:
            iterator = reader.iterator(
                watcher["physical"],
                watcher["shard"],
                "AFTER_SEQUENCE_NUMBER",
                sequence_number=watcher["last_sequence_number"],
            )
        else:
            iterator = reader.iterator(
                watcher["physical"], watcher["shard"], "AT_TIMESTAMP", timestamp=watcher["taken_at"]
            )
        return reader.get_records(watcher["physical"], watcher["shard"], iterator)

    @staticmethod
    def _data(watchers: dict, started: float, now: float, rounds: int, quiet_for: float) -> dict:
        streams: dict[str, dict] = {}
        for watcher in watchers.values():
            entry = streams.setdefault(
                watcher["logical"], {"name": watcher["physical"], "records": 0, "shards": {}}
            )
            entry["records"] += watcher["count"]
            entry["shards"][watcher["shard"]] = watcher["count"]
        return {
            "quiet_seconds": round(quiet_for, 1),
            "elapsed_seconds": round(now - started, 1),
            "rounds": rounds,
            "streams": streams,
        }
