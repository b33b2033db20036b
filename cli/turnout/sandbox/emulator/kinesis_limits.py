"""Kinesis throughput and rate limits in the emulator, metered as AWS meters them (the ``aws``
fidelity profile; figures and sources in docs/emulator.md, "Fidelity profiles").

- Writes, per shard and per second: ``write_records_per_second`` records and
  ``write_bytes_per_second`` bytes (data + partition key). PutRecords fails the entries over the
  limit with ``ProvisionedThroughputExceededException`` and AWS's message, and stores the others;
  PutRecord fails the whole call.
- Reads, per shard: ``read_calls_per_second`` GetRecords calls per second and
  ``read_bytes_per_second``; one call returns at most ``get_records_max_records`` records and
  ``get_records_max_bytes`` bytes; after a read over the per-second budget the shard's reads are
  throttled until the budget has caught up (10 MiB read -> the next 5 seconds throttled).
- Control plane: calls per second per account, stream or shard -> ``LimitExceededException``.
- On-demand streams start with the capacity of their four shards (4,000 records/s, 4 MiB/s) and
  double it after ``on_demand_scale_after_seconds`` with throttling in every second (a
  simplification of AWS's scaling, documented).

Windows are real seconds (``time.monotonic``): they bound the machine's work, not the data's age.
Only the emulator's server process imports this module (it patches moto).
"""

from __future__ import annotations

import functools
import threading
import time
from base64 import b64decode
from typing import Any

from .profile import KINESIS_CONTROL_LIMITS, FidelityProfile

THROTTLED = "ProvisionedThroughputExceededException"


def throttle_message(shard_id: str, stream_name: str, account_id: str) -> str:
    """AWS's text for a throttled shard (PutRecords entry, PutRecord, GetRecords)."""
    return f"Rate exceeded for shard {shard_id} in stream {stream_name} under account {account_id}."


class ShardMeter:
    """Per-shard, per-second counters for writes and reads, and the control-plane counters."""

    def __init__(self, profile: FidelityProfile) -> None:
        self.profile = profile
        self._lock = threading.Lock()
        # shard key -> [window second, records, bytes]
        self._writes: dict[tuple[str, ...], list[float]] = {}
        # shard key -> [window second, calls, bytes, throttled until (monotonic)]
        self._reads: dict[tuple[str, ...], list[float]] = {}
        # (account, region, operation, scope key) -> [window second, calls]
        self._control: dict[tuple[str, ...], list[float]] = {}
        # on-demand stream key -> [capacity factor, first throttled second, last throttled second]
        self._on_demand: dict[tuple[str, ...], list[float]] = {}
        self.throttled = {"write_entries": 0, "write_calls": 0, "read_calls": 0, "control": 0}

    def counts(self) -> dict[str, Any]:
        with self._lock:
            return {
                **self.throttled,
                "on_demand_capacity_factors": {
                    "/".join(key): values[0] for key, values in self._on_demand.items()
                },
            }

    # ------------------------------------------------------------------ writes
    def _capacity(self, stream_key: tuple[str, ...], on_demand: bool) -> float:
        if not on_demand:
            return 1.0
        return self._on_demand.setdefault(stream_key, [1.0, -1.0, -1.0])[0]

    def _note_on_demand_throttle(self, stream_key: tuple[str, ...], second: int) -> None:
        state = self._on_demand.setdefault(stream_key, [1.0, -1.0, -1.0])
        if state[2] < second - 1:  # throttling was interrupted: a new episode
            state[1] = second
        state[2] = second
        if second - state[1] >= self.profile.on_demand_scale_after_seconds:
            state[0] *= 2  # scaled: the stream's shards take twice as much
            state[1] = second

    def admit_write(
        self,
        shard_key: tuple[str, ...],
        size: int,
        on_demand: bool = False,
        now: float | None = None,
    ) -> bool:
        """Count one record of ``size`` bytes; False (not counted) when the shard is full."""
        second = int(time.monotonic() if now is None else now)
        stream_key = shard_key[:3]
        with self._lock:
            factor = self._capacity(stream_key, on_demand)
            window = self._writes.get(shard_key)
            if window is None or window[0] != second:
                window = self._writes[shard_key] = [second, 0, 0]
            if (
                window[1] + 1 > self.profile.write_records_per_second * factor
                or window[2] + size > self.profile.write_bytes_per_second * factor
            ):
                self.throttled["write_entries"] += 1
                if on_demand:
                    self._note_on_demand_throttle(stream_key, second)
                return False
            window[1] += 1
            window[2] += size
            return True

    # ------------------------------------------------------------------ reads
    def admit_read_call(self, shard_key: tuple[str, ...], now: float | None = None) -> bool:
        """One GetRecords call on the shard: False when over 5 calls/s or still paying for a
        large read."""
        clock = time.monotonic() if now is None else now
        second = int(clock)
        with self._lock:
            window = self._reads.get(shard_key)
            if window is None:
                window = self._reads[shard_key] = [second, 0, 0, 0.0]
            if clock < window[3]:
                self.throttled["read_calls"] += 1
                return False
            if window[0] != second:
                window[0], window[1], window[2] = second, 0, 0
            if window[1] + 1 > self.profile.read_calls_per_second:
                self.throttled["read_calls"] += 1
                return False
            window[1] += 1
            return True

    def charge_read(self, shard_key: tuple[str, ...], size: int, now: float | None = None) -> None:
        """Bytes a GetRecords call returned: past the per-second budget, the shard's reads are
        throttled until the budget has caught up with them."""
        clock = time.monotonic() if now is None else now
        with self._lock:
            window = self._reads.setdefault(shard_key, [int(clock), 0, 0, 0.0])
            window[2] += size
            if window[2] > self.profile.read_bytes_per_second:
                window[3] = window[0] + window[2] / self.profile.read_bytes_per_second

    # ------------------------------------------------------------------ control plane
    def admit_control(self, key: tuple[str, ...], limit: int, now: float | None = None) -> bool:
        second = int(time.monotonic() if now is None else now)
        with self._lock:
            window = self._control.get(key)
            if window is None or window[0] != second:
                window = self._control[key] = [second, 0]
            if window[1] + 1 > limit:
                self.throttled["control"] += 1
                return False
            window[1] += 1
            return True


def _record_size(entry: dict[str, Any]) -> int:
    return len(b64decode(entry.get("Data", ""))) + len(entry.get("PartitionKey", ""))


def _is_on_demand(stream: Any) -> bool:
    return (stream.stream_mode or {}).get("StreamMode") == "ON_DEMAND"


def meter_writes(meter: ShardMeter) -> None:
    """PutRecords: per-entry throttling; PutRecord: whole-call throttling."""
    from moto.core.exceptions import JsonRESTError
    from moto.kinesis.models import KinesisBackend

    original_put_records = KinesisBackend.put_records

    def put_records(self: Any, stream_arn: Any, stream_name: Any, records: list[dict]) -> Any:
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        if len(records) > 500 or not records:
            return original_put_records(self, stream_arn, stream_name, records)
        sizes = [_record_size(r) for r in records]
        if sum(sizes) > 5 * 1024 * 1024 or max(sizes) > 1024 * 1024:
            return original_put_records(self, stream_arn, stream_name, records)  # moto's errors
        on_demand = _is_on_demand(stream)
        response: dict[str, Any] = {"FailedRecordCount": 0, "Records": []}
        accepted, accepted_bytes = 0, 0
        for entry, size in zip(records, sizes, strict=True):
            shard = stream.get_shard_for_key(
                entry.get("PartitionKey"), entry.get("ExplicitHashKey")
            )
            key = (self.account_id, self.region_name, stream.stream_name, shard.shard_id)
            if not meter.admit_write(key, size, on_demand):
                response["FailedRecordCount"] += 1
                response["Records"].append(
                    {
                        "ErrorCode": THROTTLED,
                        "ErrorMessage": throttle_message(
                            shard.shard_id, stream.stream_name, self.account_id
                        ),
                    }
                )
                continue
            sequence_number, shard_id = stream.put_record(
                entry.get("PartitionKey"), entry.get("ExplicitHashKey"), entry.get("Data")
            )
            response["Records"].append({"SequenceNumber": sequence_number, "ShardId": shard_id})
            accepted += 1
            accepted_bytes += size
        if accepted:
            self._send_stream_metrics(
                stream.stream_name, incoming_bytes=accepted_bytes, incoming_records=accepted
            )
        return response

    original_put_record = KinesisBackend.put_record

    @functools.wraps(original_put_record)
    def put_record(
        self: Any,
        stream_arn: Any,
        stream_name: Any,
        partition_key: str,
        explicit_hash_key: str,
        data: str,
    ) -> Any:
        stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
        shard = stream.get_shard_for_key(partition_key, explicit_hash_key)
        if shard is not None:
            key = (self.account_id, self.region_name, stream.stream_name, shard.shard_id)
            size = len(b64decode(data or "")) + len(partition_key or "")
            if not meter.admit_write(key, size, _is_on_demand(stream)):
                meter.throttled["write_calls"] += 1
                raise JsonRESTError(
                    THROTTLED, throttle_message(shard.shard_id, stream.stream_name, self.account_id)
                )
        return original_put_record(
            self, stream_arn, stream_name, partition_key, explicit_hash_key, data
        )

    KinesisBackend.put_records = put_records  # type: ignore[method-assign]
    KinesisBackend.put_record = put_record  # type: ignore[method-assign]


def meter_reads(meter: ShardMeter) -> None:
    """GetRecords: 5 calls/s and 2 MiB/s per shard, at most 10,000 records / 10 MiB a call."""
    from moto.core.exceptions import JsonRESTError
    from moto.kinesis import models as kinesis_models
    from moto.kinesis.models import KinesisBackend

    profile = meter.profile
    original_get_records = KinesisBackend.get_records

    @functools.wraps(original_get_records)
    def get_records(self: Any, stream_arn: Any, shard_iterator: str, limit: Any) -> Any:
        stream_name, shard_id, _ = kinesis_models.decompose_shard_iterator(shard_iterator)
        key = (self.account_id, self.region_name, stream_name, shard_id)
        if not meter.admit_read_call(key):
            raise JsonRESTError(THROTTLED, throttle_message(shard_id, stream_name, self.account_id))
        wanted = min(int(limit or profile.get_records_max_records), profile.get_records_max_records)
        next_iterator, records, behind = original_get_records(
            self, stream_arn, shard_iterator, wanted
        )
        total, kept = 0, []
        for record in records:
            size = len(b64decode(record.data)) + len(record.partition_key)
            if kept and total + size > profile.get_records_max_bytes:
                break
            kept.append(record)
            total += size
        if len(kept) < len(records) and next_iterator is not None:
            stream = self.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
            next_iterator = kinesis_models.compose_shard_iterator(
                stream_name, stream.get_shard(shard_id), kept[-1].sequence_number
            )
        meter.charge_read(key, total)
        return next_iterator, kept, behind

    KinesisBackend.get_records = get_records  # type: ignore[method-assign]


def limit_control_plane(meter: ShardMeter) -> None:
    """The control-plane calls answer ``LimitExceededException`` past their rate. The calls
    are counted where the API request arrives (the response class), once per request."""
    from moto.core.exceptions import JsonRESTError
    from moto.kinesis.responses import KinesisResponse

    for operation, (limit, scope) in KINESIS_CONTROL_LIMITS.items():
        method_name = _snake(operation)
        original = getattr(KinesisResponse, method_name, None)
        if original is None or getattr(original, "_turnout_limited", False):
            continue

        def limited(
            self: Any,
            _original: Any = original,
            _op: str = operation,
            _limit: int = limit,
            _scope: str = scope,
        ) -> Any:
            key = (self.current_account, self.region, _op, _scope_key(self, _scope))
            if not meter.admit_control(key, _limit):
                raise JsonRESTError(
                    "LimitExceededException",
                    f"Rate exceeded for {_op} under account {self.current_account}.",
                )
            return _original(self)

        limited._turnout_limited = True  # type: ignore[attr-defined]
        functools.update_wrapper(limited, original)
        setattr(KinesisResponse, method_name, limited)


def _snake(operation: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_")


def _scope_key(response: Any, scope: str) -> str:
    if scope == "account":
        return ""
    stream = response._get_param("StreamARN") or response._get_param("StreamName") or ""
    stream = stream.rsplit("/", 1)[-1]
    if scope == "shard":
        return f"{stream}/{response._get_param('ShardId') or ''}"
    return stream
