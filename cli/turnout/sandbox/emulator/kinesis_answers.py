"""``PutRecords``' and ``GetRecords``' answers written with ``json.dumps`` (no behaviour change).

moto's generic response serializer walks the operation's output shape for every value it
writes: ~1.2 ms of the server's CPU for a 72-record ``PutRecords`` answer, and for a
2,000-record ``GetRecords`` answer a few hundred milliseconds in which the server, one Python
process, answers nobody else. Measured with py-spy on the replication benchmark (2026-12-03):
the serializer took 55 % of the emulator's CPU, and every read of a Lambda mapping's next batch
stalled the four writers' ``PutRecords`` together for 0.2-1.8 s, which AWS never does.

Both answers are fixed structures: these functions write the bytes moto's serializer writes
(members in the output shape's order, ``Data`` in base64, timestamps as epoch seconds truncated
to the millisecond, ``None`` members left out; tests compare the two), and hand anything else
(an error, an unexpected type, ``PRETTIFY_RESPONSES``) back to moto's serializer.
"""

from __future__ import annotations

import base64
import calendar
import json
from datetime import datetime
from typing import Any

from .dynamodb_reads import answered_with_json

CONTENT_TYPE = "application/x-amz-json-1.1"
# The members of botocore's kinesis GetRecordsOutput and Record shapes, in their order.
_GET_RECORDS_MEMBERS = ("Records", "NextShardIterator", "MillisBehindLatest")
_RECORD_MEMBERS = frozenset(
    {"SequenceNumber", "ApproximateArrivalTimestamp", "Data", "PartitionKey"}
)


def _plain(result: Any) -> dict | None:
    """The answer's dict when moto's serializer would write it as plain JSON, else None."""
    from moto import settings
    from moto.core.responses import ActionResult

    if type(result) is not ActionResult or settings.PRETTIFY_RESPONSES:
        return None
    answer = result.result
    return answer if isinstance(answer, dict) else None


def put_records_json(result: Any) -> str | None:
    """The JSON body of a ``PutRecords`` answer (``result``: what moto's ``put_records`` returns),
    or None when it is not the plain structure this writes (moto's serializer must do it)."""
    response = _plain(result)
    if (
        response is None
        or response.keys() != {"FailedRecordCount", "Records"}
        or type(response["FailedRecordCount"]) is not int
        or not isinstance(response["Records"], list)
        or not all(
            type(r) is dict
            and r.keys() == {"SequenceNumber", "ShardId"}
            and type(r["SequenceNumber"]) is str
            and type(r["ShardId"]) is str
            for r in response["Records"]
        )
    ):
        return None
    return json.dumps(response)


def epoch_seconds(moment: datetime) -> int | float:
    """A naive UTC timestamp as moto's JSON serializer writes it: epoch seconds, below the
    second truncated to the millisecond."""
    whole = calendar.timegm(moment.timetuple())
    if moment.microsecond:
        return whole + (moment.microsecond // 1000) / 1000.0
    return whole


def _record_json(record: Any) -> dict | None:
    if type(record) is not dict or record.keys() != _RECORD_MEMBERS:
        return None
    number, arrived = record["SequenceNumber"], record["ApproximateArrivalTimestamp"]
    data, key = record["Data"], record["PartitionKey"]
    if (
        type(number) is not str
        or type(arrived) is not datetime
        or arrived.tzinfo is not None  # moto's records are naive UTC; others go to moto
        or type(data) is not bytes
        or type(key) is not str
    ):
        return None
    return {
        "SequenceNumber": number,
        "ApproximateArrivalTimestamp": epoch_seconds(arrived),
        "Data": base64.b64encode(data).decode("ascii"),
        "PartitionKey": key,
    }


def get_records_json(result: Any) -> str | None:
    """The JSON body of a ``GetRecords`` answer, or None when it is not the plain structure
    this writes (moto's serializer must do it)."""
    response = _plain(result)
    if response is None or not set(response) <= set(_GET_RECORDS_MEMBERS):
        return None
    records, iterator = response.get("Records"), response.get("NextShardIterator")
    behind = response.get("MillisBehindLatest")
    if (
        not isinstance(records, list)
        or (iterator is not None and type(iterator) is not str)
        or (behind is not None and type(behind) is not int)
    ):
        return None
    written = []
    for record in records:
        one = _record_json(record)
        if one is None:
            return None
        written.append(one)
    answer: dict[str, Any] = {"Records": written}
    if iterator is not None:
        answer["NextShardIterator"] = iterator
    if behind is not None:
        answer["MillisBehindLatest"] = behind
    return json.dumps(answer)


def fast_kinesis_answers() -> None:
    """Write ``PutRecords``' and ``GetRecords``' answers with the functions above. Idempotent."""
    from moto.kinesis.responses import KinesisResponse

    for operation, write in (("put_records", put_records_json), ("get_records", get_records_json)):
        original = getattr(KinesisResponse, operation)
        if getattr(original, "_turnout_json", False):
            continue
        setattr(KinesisResponse, operation, answered_with_json(original, write, CONTENT_TYPE))
