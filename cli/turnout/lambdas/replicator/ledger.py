"""The ledger: per source shard, what has been written, advanced conditionally, never backwards."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from botocore.exceptions import ClientError

from .config import ReplicatorConfig
from .errors import error_code
from .infra import JsonLogger

SORTABLE_WIDTH = 64


def sortable_sequence(sequence_number: str) -> str:
    """Zero-padded to 64 digits so string order equals numeric order."""
    return sequence_number.zfill(SORTABLE_WIDTH)


class Ledger:
    """Per source shard: what has been written, advanced conditionally.

    The update for a batch covers its contiguous written prefix only. The condition
    ``attribute_not_exists(last_sequence_sortable) OR last_sequence_sortable < :new`` keeps an
    older or retried batch from moving it backwards; the ADDs apply only when the condition
    passes, so record and byte counts are never added twice for the same last sequence number.
    The duplicate and inversion counts are real copies each time an invocation makes them: when
    the watermark does not move they are added by a second update. Both updates record the
    invocation's request id, and the second one applies only where the item does not carry it
    yet: a retry of an update that was applied although its answer was lost (a timeout) counts
    nothing twice.
    """

    UPDATE = (
        "SET #seq = :seq, #sortable = :sortable, #arrival = :arrival, #updated = :updated,"
        " #direction = :direction, #stream = :stream, #shard = :shard, #target = :target,"
        " #request = :request"
        " ADD #records :records, #bytes :bytes, #duplicates :duplicates,"
        " #inversions :inversions"
    )
    CONDITION = "attribute_not_exists(#sortable) OR #sortable < :sortable"
    COUNTS_UPDATE = (
        "SET #updated = :updated, #request = :request"
        " ADD #duplicates :duplicates, #inversions :inversions"
    )
    COUNTS_CONDITION = "attribute_not_exists(#request) OR #request <> :request"
    NAMES: ClassVar[Mapping[str, str]] = {
        "#seq": "last_sequence_number",
        "#sortable": "last_sequence_sortable",
        "#arrival": "last_arrival_time",
        "#updated": "updated_at",
        "#direction": "direction",
        "#stream": "source_stream",
        "#shard": "shard_id",
        "#target": "target_stream",
        "#records": "record_count",
        "#bytes": "byte_count",
        "#duplicates": "duplicate_count",
        "#inversions": "inversion_count",
        "#request": "last_request_id",
    }

    def __init__(self, config: ReplicatorConfig, dynamodb: Any, clock: Any, logger: JsonLogger):
        self._table = config.ledger_table
        self._direction = config.direction
        self._dynamodb = dynamodb
        self._clock = clock
        self._log = logger

    @staticmethod
    def shard_key(stream_name: str, shard_id: str) -> str:
        return f"{stream_name}/{shard_id}"

    def advance(
        self,
        *,
        stream_name: str,
        shard_id: str,
        target_stream: str,
        last_sequence_number: str,
        last_arrival_time: float,
        records: int,
        byte_count: int,
        duplicates: int = 0,
        inversions: int = 0,
        request_id: str = "",
    ) -> bool:
        """True when the ledger moved; False when it already stood at or past this batch.

        Any other error propagates (the caller retries or fails the batch).
        """
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"shard_key": {"S": self.shard_key(stream_name, shard_id)}},
                UpdateExpression=self.UPDATE,
                ConditionExpression=self.CONDITION,
                ExpressionAttributeNames=dict(self.NAMES),
                ExpressionAttributeValues={
                    ":seq": {"S": last_sequence_number},
                    ":sortable": {"S": sortable_sequence(last_sequence_number)},
                    ":arrival": {"N": f"{last_arrival_time:.3f}"},
                    ":updated": {"N": f"{self._clock.time():.3f}"},
                    ":direction": {"S": self._direction},
                    ":stream": {"S": stream_name},
                    ":shard": {"S": shard_id},
                    ":target": {"S": target_stream},
                    ":records": {"N": str(records)},
                    ":bytes": {"N": str(byte_count)},
                    ":duplicates": {"N": str(duplicates)},
                    ":inversions": {"N": str(inversions)},
                    ":request": {"S": request_id},
                },
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            self._log.info(
                "ledger_not_advanced",
                reason="ledger already at or past this batch",
                shard_key=self.shard_key(stream_name, shard_id),
                last_sequence_number=last_sequence_number,
            )
            return False
        return True

    def add_counts(
        self, *, stream_name: str, shard_id: str, duplicates: int, inversions: int, request_id: str
    ) -> bool:
        """Add copies made by an invocation that did not move the watermark; False when this
        invocation's counts are already there."""
        names = {
            key: self.NAMES[key] for key in ("#updated", "#duplicates", "#inversions", "#request")
        }
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"shard_key": {"S": self.shard_key(stream_name, shard_id)}},
                UpdateExpression=self.COUNTS_UPDATE,
                ConditionExpression=self.COUNTS_CONDITION,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={
                    ":updated": {"N": f"{self._clock.time():.3f}"},
                    ":duplicates": {"N": str(duplicates)},
                    ":inversions": {"N": str(inversions)},
                    ":request": {"S": request_id},
                },
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            return False
        return True
