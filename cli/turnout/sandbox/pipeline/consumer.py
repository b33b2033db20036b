"""The sandbox's consumer Lambda: "the user's existing code" that reads a Kinesis stream.

It runs on the Lambda Python runtime (3.11/3.12) and imports only the standard library and boto3,
so it is zipped on its own. For every record of a batch, in order, it stores one item in the
processed table of its environment (one item per *processing*: a record delivered twice is stored
twice, so duplicates stay visible). Data it cannot parse is stored as such (``parse_error``), never
skipped. A turnout marker record (``{"turnout_marker": {"id": ...}}``) is acknowledged in the
markers table once every record before it in the batch is stored; that is what drain checks with
marker evidence wait for.

Configuration (environment variables):

| variable | meaning |
|---|---|
| ``SANDBOX_PROCESSED_TABLE`` | the environment's processed table (hash key ``processing_id``) |
| ``SANDBOX_MARKERS_TABLE`` | the environment's markers table (hash key ``marker_id``) |
| ``SANDBOX_ENVIRONMENT`` | ``old`` or ``new`` |

A write that fails after retries stops the batch at the first record not stored and reports it in
``batchItemFailures`` (the mapping uses ReportBatchItemFailures): Lambda retries from there.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
from typing import Any

import boto3

_BATCH_WRITE_MAX = 25
_WRITE_ATTEMPTS = 8
_counter = itertools.count()
_ddb = None


def _client():
    global _ddb
    if _ddb is None:
        _ddb = boto3.client("dynamodb")
    return _ddb


def _stream_name(arn: str) -> str:
    return arn.split(":", 5)[-1].split("/", 1)[-1]


def describe(record: dict, environment: str, consumer: str, request_id: str) -> dict:
    """What one Kinesis record of the event becomes: ("marker", id) or ("item", item)."""
    kinesis = record["kinesis"]
    shard_id = record["eventID"].split(":", 1)[0]
    sequence_number = kinesis["sequenceNumber"]
    stream_name = _stream_name(record["eventSourceARN"])
    raw = base64.b64decode(kinesis["data"])
    parsed = None
    error = None
    try:
        parsed = json.loads(raw)
        if not isinstance(parsed, dict):
            error = "not a JSON object"
    except ValueError as problem:
        error = f"not JSON: {problem}"
    if error is None:
        marker = parsed.get("turnout_marker")
        if isinstance(marker, dict) and isinstance(marker.get("id"), str) and marker["id"]:
            return {"kind": "marker", "id": marker["id"], "sequence_number": sequence_number}
        if not all(isinstance(parsed.get(name), str) for name in ("id", "key", "stream")) or (
            not isinstance(parsed.get("seq"), int)
        ):
            error = "not a sandbox event (id, key, stream, seq)"
    now = time.time()
    item = {
        "environment": {"S": environment},
        "consumer": {"S": consumer},
        "request_id": {"S": request_id},
        "stream_name": {"S": stream_name},
        "shard_id": {"S": shard_id},
        "sequence_number": {"S": sequence_number},
        "partition_key": {"S": kinesis["partitionKey"]},
        "arrival": {"N": repr(float(kinesis.get("approximateArrivalTimestamp") or 0))},
        "processed_at": {"N": repr(now)},
        # Order of processings within this worker: time, then a counter for equal times.
        "processed_order": {"S": f"{time.time_ns():020d}.{os.getpid():07d}.{next(_counter):012d}"},
    }
    if error is None:
        event_id = parsed["id"]
        item.update(
            {
                "event_id": {"S": event_id},
                "key": {"S": parsed["key"]},
                "seq": {"N": str(parsed["seq"])},
                "stream": {"S": parsed["stream"]},
            }
        )
        if isinstance(parsed.get("produced_at"), int | float):
            item["produced_at"] = {"N": repr(float(parsed["produced_at"]))}
    else:
        event_id = f"unparseable:{stream_name}:{shard_id}:{sequence_number}"
        item.update(
            {
                "event_id": {"S": event_id},
                "parse_error": {"S": error[:500]},
                "raw_base64": {"S": base64.b64encode(raw[:2048]).decode("ascii")},
                "raw_size": {"N": str(len(raw))},
            }
        )
    item["processing_id"] = {"S": f"{event_id}#{request_id}#{sequence_number}#{next(_counter)}"}
    return {"kind": "item", "item": item, "sequence_number": sequence_number}


def _write_items(dynamodb: Any, table: str, items: list[dict]) -> None:
    """BatchWriteItem with retries of unprocessed items; raises when they never go through."""
    requests = [{"PutRequest": {"Item": item}} for item in items]
    for attempt in range(_WRITE_ATTEMPTS):
        response = dynamodb.batch_write_item(RequestItems={table: requests})
        requests = (response.get("UnprocessedItems") or {}).get(table) or []
        if not requests:
            return
        time.sleep(min(1.0, 0.05 * 2**attempt))
    raise RuntimeError(f"{len(requests)} items were never written to {table}")


def use_client(client) -> None:
    """The DynamoDB client the handler stores with (on Lambda: made from the environment)."""
    global _ddb
    _ddb = client


def handler(event, context):
    return process_batch(
        event.get("Records", []),
        environment=os.environ["SANDBOX_ENVIRONMENT"],
        consumer=context.function_name,
        request_id=context.aws_request_id,
        table=os.environ["SANDBOX_PROCESSED_TABLE"],
        markers_table=os.environ["SANDBOX_MARKERS_TABLE"],
    )


def process_batch(
    records: list,
    *,
    environment: str,
    consumer: str,
    request_id: str,
    table: str,
    markers_table: str,
    dynamodb: Any = None,
) -> dict:
    """Store every record of a batch (Lambda's Kinesis event records), in order; the answer
    Lambda reads: ``batchItemFailures`` naming the first record not stored, if any. Stored with
    `dynamodb` (default: the function's client, made from its environment)."""
    dynamodb = dynamodb or _client()
    actions = [describe(record, environment, consumer, request_id) for record in records]
    stored = 0  # actions[:stored] are done
    pending: list[int] = []  # indexes of items not yet written, in order

    def flush() -> None:
        nonlocal stored
        while pending:
            chunk = pending[:_BATCH_WRITE_MAX]
            _write_items(dynamodb, table, [actions[index]["item"] for index in chunk])
            del pending[: len(chunk)]
            stored = pending[0] if pending else chunk[-1] + 1

    try:
        for index, action in enumerate(actions):
            if action["kind"] == "item":
                pending.append(index)
                if len(pending) >= _BATCH_WRITE_MAX:
                    flush()
                continue
            flush()  # a marker is acknowledged only after everything before it is stored
            stored = index
            dynamodb.put_item(
                TableName=markers_table,
                Item={
                    "marker_id": {"S": action["id"]},
                    "consumer": {"S": consumer},
                    "seen_at": {"N": repr(time.time())},
                    "environment": {"S": environment},
                    "sequence_number": {"S": action["sequence_number"]},
                    "stream_name": {"S": _stream_name(records[index]["eventSourceARN"])},
                    "shard_id": {"S": records[index]["eventID"].split(":", 1)[0]},
                },
            )
            stored = index + 1
        flush()
    except Exception as problem:  # report the first record not stored; Lambda retries from it
        if stored >= len(actions):
            return {"batchItemFailures": []}
        first = actions[stored]["sequence_number"]
        print(
            json.dumps(
                {
                    "level": "ERROR",
                    "message": "batch_incomplete",
                    "error": f"{type(problem).__name__}: {problem}",
                    "first_unstored": first,
                    "stored": stored,
                    "records": len(actions),
                }
            )
        )
        return {"batchItemFailures": [{"itemIdentifier": first}]}
    return {"batchItemFailures": []}
