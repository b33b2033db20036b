"""A user hook of the sandbox: copy the old environment's consumer table into the new one's.

This is the design's consistency point at work: declared for the switched → mirrored transition
(``when: pre``), it runs after the old consumers have drained the old streams and before new→old
replication or the new consumers start, so the copy holds everything old processed up to the flip
and nothing moves underneath it. Copied items keep their keys and their ``environment = "old"``
and get ``copied_from``/``copied_at``; running it twice writes the same items again (idempotent).

    hooks:
      - transition: switched->mirrored
        when: pre
        hook: sandbox_copy_consumer_table
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from pydantic import Field

from turnout.hooks import Hook, HookArgs, HookContext, HookFailed
from turnout.sandbox.names import processed_table_name

_BATCH = 25
_WRITERS = 4


class SandboxCopyConsumerTable(Hook):
    name = "sandbox_copy_consumer_table"

    class Args(HookArgs):
        source_environment: Literal["old", "new"] = "old"
        target_environment: Literal["old", "new"] = "new"
        source_table: str | None = Field(
            default=None, description="default: <prefix>sandbox-processed"
        )
        target_table: str | None = Field(
            default=None, description="default: <prefix>sandbox-processed"
        )
        write_attempts: int = Field(default=10, ge=1, le=100)

    def run(self, context: HookContext) -> dict:
        args = self.args
        if args.source_environment == args.target_environment:
            raise HookFailed(
                "sandbox_copy_consumer_table: source and target environments are the same."
            )
        source_table = args.source_table or processed_table_name(
            context.spec, args.source_environment
        )
        target_table = args.target_table or processed_table_name(
            context.spec, args.target_environment
        )
        source = context.client(args.source_environment, "dynamodb")
        target = context.client(args.target_environment, "dynamodb")
        started = time.monotonic()
        scanned = 0
        batch: list[dict[str, Any]] = []
        copied_at = {"N": repr(context.clock())}
        # Batches are written by a few threads: while one waits for an answer, another prepares
        # its request (a batch's retries stay in its thread; items are independent).
        with ThreadPoolExecutor(max_workers=_WRITERS) as writers:
            written = []
            for item in _scan(source, source_table):
                scanned += 1
                if context.dry_run:
                    continue
                item = dict(item)
                item.setdefault("copied_from", {"S": args.source_environment})
                item["copied_at"] = copied_at
                batch.append(item)
                if len(batch) == _BATCH:
                    written.append(
                        writers.submit(self._write, context, target, target_table, batch)
                    )
                    batch = []
            if batch:
                written.append(writers.submit(self._write, context, target, target_table, batch))
            copied = sum(future.result() for future in written)
        result = {
            "source": f"{args.source_environment}:{source_table}",
            "target": f"{args.target_environment}:{target_table}",
            "scanned": scanned,
            "copied": copied,
            "dry_run": context.dry_run,
            "seconds": round(time.monotonic() - started, 2),
        }
        context.progress(
            f"copied {copied:,} of {scanned:,} items {result['source']} → {result['target']}"
            + (" (dry run: nothing written)" if context.dry_run else "")
        )
        return result

    def _write(self, context: HookContext, ddb: Any, table: str, items: list[dict]) -> int:
        requests = [{"PutRequest": {"Item": item}} for item in items]
        for attempt in range(self.args.write_attempts):
            response = ddb.batch_write_item(RequestItems={table: requests})
            requests = (response.get("UnprocessedItems") or {}).get(table) or []
            if not requests:
                return len(items)
            context.sleep(min(2.0, 0.05 * 2**attempt))
        raise HookFailed(
            f"sandbox_copy_consumer_table: {len(requests)} items could not be written to {table} "
            f"after {self.args.write_attempts} attempts; the copy is incomplete (run it again: it "
            f"is idempotent)."
        )


def _scan(ddb: Any, table: str):
    try:
        kwargs: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
        while True:
            page = ddb.scan(**kwargs)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except ddb.exceptions.ResourceNotFoundException:
        raise HookFailed(
            f"sandbox_copy_consumer_table: table {table} does not exist; is the sandbox's sample "
            f"pipeline up (`turnout sandbox up`)?"
        ) from None
