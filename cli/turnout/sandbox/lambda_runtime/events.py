"""AWS's documents around a Kinesis batch: the event a function receives, the
ReportBatchItemFailures response it may return, and the metadata record sent to an on-failure
destination when records are discarded."""

from __future__ import annotations

import base64
import datetime as dt
import time
from typing import Any

from .config import MappingConfig
from .functions import InvokeResult

MALFORMED = "malformed"


def arrival(record: dict[str, Any]) -> float:
    """A GetRecords record's ``ApproximateArrivalTimestamp`` as epoch seconds."""
    ts = record.get("ApproximateArrivalTimestamp")
    if isinstance(ts, dt.datetime):
        return ts.timestamp()
    return float(ts or 0)


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def build_event(
    records: list[dict[str, Any]], shard_id: str, mapping: MappingConfig, role: str
) -> dict[str, Any]:
    """AWS's Kinesis event for a batch of GetRecords records."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(r["Data"]).decode("ascii"),
                    "approximateArrivalTimestamp": round(arrival(r), 3),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard_id}:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": role,
                "awsRegion": mapping.stream_region,
                "eventSourceARN": mapping.event_source_arn,
            }
            for r in records
        ]
    }


def parse_batch_item_failures(payload: Any, sequence_numbers: list[str]) -> list[str] | str:
    """The failed sequence numbers of a ReportBatchItemFailures response; ``[]`` = success,
    ``MALFORMED`` = treat the whole batch as failed (AWS: empty/null/unknown itemIdentifier,
    bad key name)."""
    if payload is None:
        return []
    if not isinstance(payload, dict):
        return MALFORMED
    failures = payload.get("batchItemFailures")
    if failures is None:
        return []
    if not isinstance(failures, list):
        return MALFORMED
    known = set(sequence_numbers)
    failed: list[str] = []
    for item in failures:
        if not isinstance(item, dict):
            return MALFORMED
        ident = item.get("itemIdentifier")
        if not isinstance(ident, str) or not ident or ident not in known:
            return MALFORMED
        failed.append(ident)
    return failed


def failure_message(
    *,
    mapping: MappingConfig,
    shard_id: str,
    records: list[dict[str, Any]],
    condition: str,
    request_id: str,
    invoke_count: int,
    last_result: InvokeResult | None,
    now: float | None = None,
) -> dict[str, Any]:
    """The on-failure destination message: metadata only, never the records
    (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html, the
    example invocation record)."""
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if last_result is not None and not last_result.ok:
        response["functionError"] = last_result.error_type or "Unhandled"
    return {
        "requestContext": {
            "requestId": request_id,
            "functionArn": mapping.function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": iso(time.time() if now is None else now),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": records[0]["SequenceNumber"],
            "endSequenceNumber": records[-1]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": iso(arrival(records[0])),
            "approximateArrivalOfLastRecord": iso(arrival(records[-1])),
            "batchSize": len(records),
            "streamArn": mapping.event_source_arn,
        },
    }
