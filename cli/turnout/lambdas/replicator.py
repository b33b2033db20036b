"""turnout replicator: copy one Kinesis shard batch to the peer environment's stream.

Deployed as an AWS Lambda function behind a Kinesis event source mapping (ESM)
with ``ReportBatchItemFailures``. This module is zipped alone and runs on the
Lambda Python 3.11/3.12 runtimes: it imports only the standard library, boto3
and botocore.

What one invocation does (see ``docs/replicator.md`` for the full story):

1. parse the batch (one shard of one source stream, in sequence order);
2. loop guard: the active-direction parameter in the source account *and* in
   the target account (read through the writer role) must both equal
   ``TURNOUT_DIRECTION``; otherwise nothing is written and the whole batch is
   reported as failed;
3. write the records to the mapped target stream with PutRecords, keeping
   per-partition-key order, retrying failed entries and throttled or failed
   calls with exponential backoff and full jitter while the invocation has time;
4. advance the ledger (DynamoDB, conditional, never backwards) for the
   contiguous written prefix;
5. publish metrics (best effort) and one JSON summary log line;
6. return ``batchItemFailures`` naming the first record not yet written, so
   Lambda checkpoints before it and retries from there. Nothing is dropped.

Entry point: :func:`handler`. Everything it uses is built by
:meth:`Replicator.from_environment` from injectable parts (client factory,
clock, random source, log sink) so tests can inject faults.
"""

from __future__ import annotations

import binascii
import heapq
import json
import os
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

MAX_RECORDS_PER_CALL = 500
DEFAULT_MAX_REQUEST_BYTES = 5 * 1024 * 1024
DEFAULT_MAX_RECORD_BYTES = 1024 * 1024
SORTABLE_WIDTH = 64
DIRECTIONS = ("old_to_new", "new_to_old")
DEFAULT_METRIC_NAMESPACE = "Turnout/Replication"

# Errors that mean "the writer role's credentials are no longer good": drop the
# cached credentials and assume the role again, at once.
CREDENTIAL_ERROR_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
    }
)
# Throttling, whole call or per entry.
THROTTLE_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "KMSThrottlingException",
        "ThrottlingException",
        "Throttling",
        "LimitExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
    }
)
# Transient service-side failures, whole call or per entry.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "InternalServiceError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# Per-entry errors that will not heal within this invocation: stop writing and
# report the batch as failed at the first unwritten record (Lambda retries it).
PERMANENT_ENTRY_ERROR_CODES = frozenset(
    {
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
        "KMSOptInRequired",
        "AccessDeniedException",
    }
)


class ReplicatorError(Exception):
    """Base class of the errors the replicator raises (a Lambda function error)."""


class ConfigurationError(ReplicatorError):
    """The environment or the batch does not match the configuration."""


class BadEventError(ReplicatorError):
    """The event is not a single-shard Kinesis ESM batch."""


class RecordTooLargeError(ReplicatorError):
    """The batch starts with a record the target stream can never accept."""

    def __init__(self, sequence_number: str, size: int, limit: int) -> None:
        super().__init__(
            f"record {sequence_number} is {size} bytes (data + partition key), "
            f"larger than the target's maximum of {limit} bytes"
        )
        self.sequence_number = sequence_number
        self.size = size
        self.limit = limit


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicatorConfig:
    """Everything the replicator needs; the first block comes from the environment."""

    direction: str
    direction_parameter: str
    target_role_arn: str
    external_id: str
    target_region: str
    stream_map: Mapping[str, str]
    ledger_table: str
    metric_namespace: str = DEFAULT_METRIC_NAMESPACE
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    # Tunables (constructor only; defaults suit a 60 s function timeout).
    safety_margin_ms: int = 5000
    backoff_base_seconds: float = 0.05
    backoff_cap_seconds: float = 2.0
    direction_cache_seconds: float = 5.0
    credential_duration_seconds: int = 3600
    credential_refresh_margin_seconds: float = 300.0
    role_session_name: str = "turnout-replicator"
    default_remaining_ms: int = 60_000

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ConfigurationError(
                f"TURNOUT_DIRECTION must be one of {DIRECTIONS}, got {self.direction!r}"
            )
        if not self.stream_map:
            raise ConfigurationError("TURNOUT_STREAM_MAP maps no stream")
        if self.max_record_bytes <= 0:
            raise ConfigurationError("TURNOUT_MAX_RECORD_BYTES must be positive")
        if self.direction_cache_seconds > 5.0:
            raise ConfigurationError("the direction parameters may be cached 5 s at most")

    @property
    def max_request_bytes(self) -> int:
        """PutRecords request limit (data + partition keys of all entries).

        5 MiB for standard streams; a stream whose maximum record size was
        raised above that must at least accept one maximal record per call.
        """
        return max(DEFAULT_MAX_REQUEST_BYTES, self.max_record_bytes)

    @classmethod
    def from_environment(cls, env: Mapping[str, str], **tunables: Any) -> ReplicatorConfig:
        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ConfigurationError(f"environment variable {name} is not set")
            return value

        try:
            stream_map = json.loads(required("TURNOUT_STREAM_MAP"))
        except ValueError as exc:
            raise ConfigurationError(f"TURNOUT_STREAM_MAP is not JSON: {exc}") from exc
        if not isinstance(stream_map, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in stream_map.items()
        ):
            raise ConfigurationError("TURNOUT_STREAM_MAP must be a JSON object of names")
        try:
            max_record_bytes = int(env.get("TURNOUT_MAX_RECORD_BYTES") or DEFAULT_MAX_RECORD_BYTES)
        except ValueError as exc:
            raise ConfigurationError("TURNOUT_MAX_RECORD_BYTES must be an integer") from exc
        return cls(
            direction=required("TURNOUT_DIRECTION"),
            direction_parameter=required("TURNOUT_DIRECTION_PARAMETER"),
            target_role_arn=required("TURNOUT_TARGET_ROLE_ARN"),
            external_id=required("TURNOUT_EXTERNAL_ID"),
            target_region=required("TURNOUT_TARGET_REGION"),
            stream_map=stream_map,
            ledger_table=required("TURNOUT_LEDGER_TABLE"),
            metric_namespace=env.get("TURNOUT_METRIC_NAMESPACE") or DEFAULT_METRIC_NAMESPACE,
            max_record_bytes=max_record_bytes,
            **tunables,
        )


# --------------------------------------------------------------------------
# Injectable infrastructure: clock, client factory, logger
# --------------------------------------------------------------------------


class SystemClock:
    """Wall time for timestamps, monotonic time for budgets, real sleeps."""

    @staticmethod
    def time() -> float:
        return time.time()

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds)


# Our own loop does the PutRecords retries (it knows the time budget and the
# per-key order), so botocore must not retry those calls behind our back.
# botocore's client-side parameter validation walks every entry of every PutRecords call: about a
# fifth of the handler's CPU per record (bench/RESULTS.md). Each entry is built here from a record
# Kinesis already accepted (its partition key and data are valid by construction) and sizes are
# checked here, so the Kinesis client skips it; a malformed request would still be refused by
# Kinesis with ValidationException, a non-retryable error that stops the batch visibly.
_BOTO_CONFIGS = {
    "kinesis": BotoConfig(
        connect_timeout=2,
        read_timeout=5,
        retries={"total_max_attempts": 1, "mode": "standard"},
        parameter_validation=False,
    ),
    "ssm": BotoConfig(
        connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 2, "mode": "standard"}
    ),
    "sts": BotoConfig(
        connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 3, "mode": "standard"}
    ),
    "dynamodb": BotoConfig(
        connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 3, "mode": "standard"}
    ),
    "cloudwatch": BotoConfig(
        connect_timeout=1, read_timeout=2, retries={"total_max_attempts": 1, "mode": "standard"}
    ),
}

# A client factory is called as factory(service, region_name=None, credentials=None)
# where credentials is an STS ``Credentials`` mapping (or None: the function's role).
ClientFactory = Callable[..., Any]


def boto3_client_factory(
    service: str,
    region_name: str | None = None,
    credentials: Mapping[str, Any] | None = None,
) -> Any:
    kwargs: dict[str, Any] = {"config": _BOTO_CONFIGS.get(service)}
    if region_name:
        kwargs["region_name"] = region_name
    if credentials is not None:
        kwargs["aws_access_key_id"] = credentials["AccessKeyId"]
        kwargs["aws_secret_access_key"] = credentials["SecretAccessKey"]
        kwargs["aws_session_token"] = credentials["SessionToken"]
    return boto3.client(service, **kwargs)


class JsonLogger:
    """One JSON object per line. Callers pass facts, never payloads or secrets."""

    def __init__(self, sink: Callable[[str], Any] | None = None, clock: Any = None) -> None:
        self._sink = sink
        self._clock = clock or SystemClock()
        self.context: dict[str, Any] = {}

    def log(self, level: str, message: str, **fields: Any) -> None:
        record = {
            "time": datetime.fromtimestamp(self._clock.time(), UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": level,
            "message": message,
            **self.context,
            **fields,
        }
        line = json.dumps(record, default=str, separators=(",", ":"))
        if self._sink is None:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        else:
            self._sink(line)

    def info(self, message: str, **fields: Any) -> None:
        self.log("INFO", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.log("WARNING", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.log("ERROR", message, **fields)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "Unknown")
    return type(exc).__name__


def _http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _epoch(value: Any) -> float:
    """STS Expiration: a datetime from boto3, an ISO string from some emulators."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float):
        return float(value)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


# --------------------------------------------------------------------------
# Target account access: writer-role credentials, cached and refreshed
# --------------------------------------------------------------------------


class TargetAccount:
    """Clients for the target account, made from the writer role's credentials.

    The credentials are cached until ``credential_refresh_margin_seconds``
    (at most half their lifetime) before they expire, and dropped at once by
    :meth:`invalidate` when a call says they are expired or unknown.
    """

    def __init__(
        self,
        config: ReplicatorConfig,
        sts_client: Any,
        client_factory: ClientFactory,
        clock: Any,
        logger: JsonLogger,
    ) -> None:
        self._config = config
        self._sts = sts_client
        self._factory = client_factory
        self._clock = clock
        self._log = logger
        self._credentials: Mapping[str, Any] | None = None
        self._refresh_at = 0.0
        self._clients: dict[str, Any] = {}
        self.assume_count = 0

    def kinesis(self) -> Any:
        return self._client("kinesis")

    def ssm(self) -> Any:
        return self._client("ssm")

    def invalidate(self, reason: str) -> None:
        if self._credentials is not None:
            self._log.warning("writer_credentials_dropped", reason=reason)
        self._credentials = None
        self._clients.clear()

    def _client(self, service: str) -> Any:
        if self._credentials is None or self._clock.time() >= self._refresh_at:
            self._assume_role()
        client = self._clients.get(service)
        if client is None:
            client = self._factory(
                service, region_name=self._config.target_region, credentials=self._credentials
            )
            self._clients[service] = client
        return client

    def _assume_role(self) -> None:
        cfg = self._config
        response = self._sts.assume_role(
            RoleArn=cfg.target_role_arn,
            RoleSessionName=cfg.role_session_name,
            ExternalId=cfg.external_id,
            DurationSeconds=cfg.credential_duration_seconds,
        )
        credentials = response["Credentials"]
        now = self._clock.time()
        expires_at = _epoch(credentials["Expiration"])
        margin = min(cfg.credential_refresh_margin_seconds, max(expires_at - now, 0.0) / 2)
        self._credentials = credentials
        self._refresh_at = expires_at - margin
        self._clients.clear()
        self.assume_count += 1
        self._log.info(
            "writer_role_assumed",
            role_arn=cfg.target_role_arn,
            expires_in_s=round(expires_at - now, 1),
        )


# --------------------------------------------------------------------------
# Loop guard: both accounts' active-direction parameters must name us
# --------------------------------------------------------------------------


class DirectionGuard:
    """Two-key loop guard.

    A batch may be written only while the active-direction parameter in the
    source account *and* the one in the target account (read through the
    writer role) both equal this function's direction. Each value is cached
    for at most ``direction_cache_seconds`` (5 s); read failures are never
    cached and never guessed around: they refuse the write.
    """

    def __init__(
        self,
        config: ReplicatorConfig,
        source_ssm: Any,
        target: TargetAccount,
        clock: Any,
    ) -> None:
        self._expected = config.direction
        self._parameter = config.direction_parameter
        self._max_age = config.direction_cache_seconds
        self._source_ssm = source_ssm
        self._target = target
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}

    def refusal(self) -> str | None:
        """None when writing is allowed, else the reason it is not."""
        for side in ("source", "target"):
            try:
                value = self._value(side)
            except (ClientError, BotoCoreError, KeyError, TypeError) as exc:
                return f"{side} parameter {self._parameter} unreadable: {error_code(exc)}"
            if value != self._expected:
                return (
                    f"{side} parameter {self._parameter} is {value!r}, "
                    f"this function is {self._expected!r}"
                )
        return None

    def _value(self, side: str) -> str:
        now = self._clock.monotonic()
        cached = self._cache.get(side)
        if cached is not None and now - cached[1] < self._max_age:
            return cached[0]
        self._cache.pop(side, None)
        value = self._read(side)
        self._cache[side] = (value, now)
        return value

    def _read(self, side: str) -> str:
        if side == "source":
            return self._get(self._source_ssm)
        try:
            return self._get(self._target.ssm())
        except ClientError as exc:
            if error_code(exc) not in CREDENTIAL_ERROR_CODES:
                raise
            self._target.invalidate(error_code(exc))
            return self._get(self._target.ssm())

    def _get(self, ssm: Any) -> str:
        return str(ssm.get_parameter(Name=self._parameter)["Parameter"]["Value"])


# --------------------------------------------------------------------------
# Batch parsing
# --------------------------------------------------------------------------


def stream_name_from_arn(arn: str) -> str:
    # arn:aws:kinesis:<region>:<account>:stream/<name>[/consumer/...]
    try:
        return arn.split(":stream/", 1)[1].split("/", 1)[0]
    except IndexError:
        raise BadEventError(f"not a Kinesis stream ARN: {arn!r}") from None


class ParsedBatch:
    """One ESM batch as parallel lists, in source (sequence) order."""

    __slots__ = (
        "arrivals",
        "entries",
        "partition_keys",
        "sequence_numbers",
        "shard_id",
        "sizes",
        "stream_name",
    )

    def __init__(self, stream_name: str, shard_id: str) -> None:
        self.stream_name = stream_name
        self.shard_id = shard_id
        self.sequence_numbers: list[str] = []
        self.partition_keys: list[str] = []
        self.entries: list[dict[str, Any]] = []  # PutRecords request entries
        self.sizes: list[int] = []  # data + partition key bytes, as Kinesis counts
        self.arrivals: list[float] = []

    def __len__(self) -> int:
        return len(self.sequence_numbers)

    def first_oversize_index(self, limit: int) -> int | None:
        for index, size in enumerate(self.sizes):
            if size > limit:
                return index
        return None


def parse_batch(event: Mapping[str, Any]) -> ParsedBatch:
    """Decode the ESM event. The data stays opaque bytes (KPL aggregates included).

    The ESM event carries no ExplicitHashKey, so the target shard is chosen by
    the partition key alone.
    """
    records = event.get("Records") or []
    if not records:
        return ParsedBatch("", "")
    first = records[0]
    source_arn = first["eventSourceARN"]
    shard_id = first["eventID"].split(":", 1)[0]
    batch = ParsedBatch(stream_name_from_arn(source_arn), shard_id)
    seqs = batch.sequence_numbers
    keys = batch.partition_keys
    entries = batch.entries
    sizes = batch.sizes
    arrivals = batch.arrivals
    decode = binascii.a2b_base64
    for record in records:
        if record["eventSourceARN"] != source_arn or not record["eventID"].startswith(shard_id):
            raise BadEventError("a batch must come from one shard of one stream")
        kinesis = record["kinesis"]
        data = decode(kinesis["data"])
        key = kinesis["partitionKey"]
        seqs.append(kinesis["sequenceNumber"])
        keys.append(key)
        entries.append({"Data": data, "PartitionKey": key})
        sizes.append(len(data) + (len(key) if key.isascii() else len(key.encode("utf-8"))))
        arrivals.append(float(kinesis.get("approximateArrivalTimestamp") or 0.0))
    return batch


# --------------------------------------------------------------------------
# The ordered writer
# --------------------------------------------------------------------------


@dataclass
class WriteResult:
    acked: bytearray  # acked[i] == 1: record i is in the target stream
    acked_count: int = 0
    prefix: int = 0  # records [0, prefix) are all written
    calls: int = 0
    retried_entries: int = 0
    throttles: int = 0
    credential_refreshes: int = 0
    stop_reason: str | None = None  # why writing stopped early, None when done
    stop_detail: str | None = None


class KeyScheduler:
    """Which records may go into the next PutRecords call.

    ORDER DESIGN
    ------------
    PutRecords gives no ordering across the entries of one call: if entry A1
    fails and A2 (same key) succeeds, A2 is in the stream before A1 and nothing
    can undo that. So **each call carries at most one not-yet-acknowledged
    record per partition key**: the head of that key's queue. A key's next
    record becomes eligible only once its predecessor was acknowledged by a
    successful entry. Calls are made one at a time, so "acknowledged" is never
    ambiguous, and a failed entry simply stays its key's head.

    State, all flat arrays indexed by the record's position in the batch (no
    per-key objects, O(log n) per record):

    - ``following[i]``: the next record with record i's key, -1 if none;
    - ``level[i]``: how many records of i's key remain from i on (i included),
      i.e. how many more calls that key needs at least;
    - ``state[i]``: WAITING (a predecessor is unacknowledged), READY (head,
      eligible), IN_FLIGHT, ACKED;
    - two min-heaps over the READY records (lazy deletion: entries whose
      state is no longer READY are skipped): by index, and by level.

    Filling a call: first every head on a *critical* key (level equal to the
    highest level pending: the key that bounds how many calls the batch needs),
    then the smallest indices. Smallest-index-first makes the contiguous
    written prefix (the Lambda checkpoint on failure) grow as fast as possible;
    serving the critical keys first keeps a long key from stretching the batch
    into extra, half-empty calls at the end. A call holds min(500, pending
    keys) records within the request byte limit, so a batch over many keys is
    packed full, and a single hot key gets one record per round trip.
    """

    WAITING, READY, IN_FLIGHT, ACKED = 0, 1, 2, 3

    def __init__(self, keys: list[str], count: int) -> None:
        following = [-1] * count
        level = [1] * count
        last_seen: dict[str, int] = {}
        get = last_seen.get
        for index in range(count - 1, -1, -1):
            key = keys[index]
            nxt = get(key, -1)
            if nxt >= 0:
                following[index] = nxt
                level[index] = level[nxt] + 1
            last_seen[key] = index
        heads = sorted(last_seen.values())  # first record of each key
        self.count = count
        self.following = following
        self.level = level
        self.top_level = max(level, default=1)
        self.state = bytearray(count)
        for index in heads:
            self.state[index] = self.READY
        self.by_index = heads  # sorted: already a heap
        self.by_level = [(self.top_level - level[i]) * count + i for i in heads]
        heapq.heapify(self.by_level)

    def take(self, sizes: list[int], max_records: int, max_bytes: int) -> list[int]:
        """Pick the next call's records (marked IN_FLIGHT)."""
        state = self.state
        count = self.count
        by_level = self.by_level
        by_index = self.by_index
        heappop = heapq.heappop
        call: list[int] = []
        total = 0
        # 1. critical keys: the heads with the highest pending level.
        critical = -1
        while by_level and len(call) < max_records:
            index = by_level[0] % count
            if state[index] != 1:
                heappop(by_level)
                continue
            rank = by_level[0] // count
            if critical < 0:
                critical = rank
            elif rank != critical:
                break
            size = sizes[index]
            if call and total + size > max_bytes:
                return call
            heappop(by_level)
            state[index] = 2
            call.append(index)
            total += size
        # 2. the rest by source order.
        while by_index and len(call) < max_records:
            index = by_index[0]
            if state[index] != 1:
                heappop(by_index)
                continue
            size = sizes[index]
            if call and total + size > max_bytes:
                break
            heappop(by_index)
            state[index] = 2
            call.append(index)
            total += size
        return call

    def acknowledge(self, index: int) -> None:
        """Record ``index`` is in the target: its key's next record becomes eligible."""
        self.state[index] = 3
        nxt = self.following[index]
        if nxt >= 0:
            self._ready(nxt)

    def retry(self, index: int) -> None:
        """Record ``index`` was not written: it stays its key's head."""
        self._ready(index)

    def _ready(self, index: int) -> None:
        self.state[index] = 1
        heapq.heappush(self.by_index, index)
        heapq.heappush(self.by_level, (self.top_level - self.level[index]) * self.count + index)


class KeyOrderedWriter:
    """Writes one parsed batch to the target stream, per-key order preserved.

    The order design is described on :class:`KeyScheduler`. Failure point:
    the batch is one shard in sequence order, so Lambda resumes at the first
    record not yet written (``prefix``). Records after it that were already
    written are sent again by that retry: duplicates, counted by the caller
    (at-least-once), but never reordered within a key, since every re-sent
    record's predecessors were written before it.
    """

    def __init__(
        self,
        config: ReplicatorConfig,
        target: TargetAccount,
        guard: DirectionGuard,
        clock: Any,
        rng: random.Random,
        logger: JsonLogger,
    ) -> None:
        self._config = config
        self._target = target
        self._guard = guard
        self._clock = clock
        self._rng = rng
        self._log = logger

    def write(
        self, batch: ParsedBatch, count: int, stream_name: str, deadline: float
    ) -> WriteResult:
        """Write records [0, count) of ``batch`` until done or ``deadline`` (monotonic)."""
        cfg = self._config
        clock = self._clock
        entries = batch.entries
        sizes = batch.sizes
        scheduler = KeyScheduler(batch.partition_keys, count)
        state = scheduler.state
        acknowledge = scheduler.acknowledge
        retry = scheduler.retry
        result = WriteResult(acked=bytearray())  # set at the end
        attempt = 0  # consecutive failed rounds, for the backoff exponent
        credential_failures = 0
        prefix = 0

        while prefix < count:
            if clock.monotonic() >= deadline:
                result.stop_reason = "time"
                break
            refusal = self._guard.refusal()
            if refusal is not None:
                result.stop_reason, result.stop_detail = "direction", refusal
                break
            call = scheduler.take(sizes, MAX_RECORDS_PER_CALL, cfg.max_request_bytes)
            if not call:  # cannot happen: the record at ``prefix`` is always a head
                result.stop_reason = "internal"
                break

            try:
                client = self._target.kinesis()
                response = client.put_records(
                    StreamName=stream_name, Records=[entries[i] for i in call]
                )
                result.calls += 1
            except (ClientError, BotoCoreError) as exc:
                for index in call:
                    retry(index)
                code = error_code(exc)
                if isinstance(exc, ClientError) and code in CREDENTIAL_ERROR_CODES:
                    self._target.invalidate(code)
                    result.credential_refreshes += 1
                    result.retried_entries += len(call)
                    credential_failures += 1
                    if credential_failures == 1:
                        continue  # fresh credentials, retry at once
                elif not _retryable_call_error(exc):
                    result.stop_reason, result.stop_detail = "write_error", code
                    self._log.error(
                        "put_records_failed", error=code, stream=stream_name, entries=len(call)
                    )
                    break
                else:
                    result.retried_entries += len(call)
                    if code in THROTTLE_ERROR_CODES:
                        result.throttles += 1
                    self._log.warning("put_records_retry", error=code, entries=len(call))
                attempt += 1
                if not self._backoff(attempt, deadline):
                    result.stop_reason = "time"
                    break
                continue
            credential_failures = 0

            # Acknowledge: successful entries release their key's next record.
            failed = 0
            permanent: str | None = None
            outcomes = response["Records"]
            if not response.get("FailedRecordCount") and len(outcomes) == len(call):
                for index in call:
                    acknowledge(index)
            else:
                if len(outcomes) != len(call):  # malformed answer: trust nothing
                    outcomes = [{"ErrorCode": "InternalFailure"}] * len(call)
                for index, outcome in zip(call, outcomes, strict=True):
                    code = outcome.get("ErrorCode")
                    if code:
                        failed += 1
                        retry(index)
                        if code in THROTTLE_ERROR_CODES:
                            result.throttles += 1
                        elif code in PERMANENT_ENTRY_ERROR_CODES:
                            permanent = code
                    else:
                        acknowledge(index)
            result.acked_count += len(call) - failed
            while prefix < count and state[prefix] == 3:
                prefix += 1

            if permanent is not None:
                result.stop_reason, result.stop_detail = "write_error", permanent
                self._log.error("put_records_entry_failed", error=permanent, stream=stream_name)
                break
            if failed:
                result.retried_entries += failed
                attempt += 1
                if not self._backoff(attempt, deadline):
                    result.stop_reason = "time"
                    break
            else:
                attempt = 0

        result.prefix = prefix
        result.acked = bytearray(1 if s == 3 else 0 for s in state)
        return result

    def _backoff(self, attempt: int, deadline: float) -> bool:
        """Exponential backoff with full jitter; False when it would pass the deadline."""
        cfg = self._config
        ceiling = min(cfg.backoff_cap_seconds, cfg.backoff_base_seconds * (2 ** min(attempt, 30)))
        delay = self._rng.uniform(0.0, ceiling)
        if self._clock.monotonic() + delay >= deadline:
            return False
        self._clock.sleep(delay)
        return True


def _retryable_call_error(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        code = error_code(exc)
        return (
            code in THROTTLE_ERROR_CODES
            or code in TRANSIENT_ERROR_CODES
            or _http_status(exc) >= 500
        )
    # Connection resets, timeouts, endpoint errors: transient. A request we
    # built wrongly is not.
    return not isinstance(exc, ParamValidationError)


# --------------------------------------------------------------------------
# Ledger and metrics
# --------------------------------------------------------------------------


def sortable_sequence(sequence_number: str) -> str:
    """Zero-padded to 64 digits so string order equals numeric order."""
    return sequence_number.zfill(SORTABLE_WIDTH)


class Ledger:
    """Per source shard: what has been written, advanced conditionally.

    The update for a batch covers its contiguous written prefix only. The
    condition ``attribute_not_exists(last_sequence_sortable) OR
    last_sequence_sortable < :new`` keeps an older or retried batch from moving
    it backwards; the ADDs apply only when the condition passes, so counts are
    never added twice for the same last sequence number.
    """

    UPDATE = (
        "SET #seq = :seq, #sortable = :sortable, #arrival = :arrival, #updated = :updated,"
        " #direction = :direction, #stream = :stream, #shard = :shard, #target = :target"
        " ADD #records :records, #bytes :bytes"
    )
    CONDITION = "attribute_not_exists(#sortable) OR #sortable < :sortable"
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
    ) -> bool:
        """True when the ledger moved; False when it already stood at or past this batch.

        Any other error propagates (the caller fails the batch).
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


class MetricsPublisher:
    """CloudWatch PutMetricData, best effort: a failure is logged, never raised."""

    def __init__(self, config: ReplicatorConfig, cloudwatch: Any, logger: JsonLogger) -> None:
        self._namespace = config.metric_namespace
        self._direction = config.direction
        self._cloudwatch = cloudwatch
        self._log = logger

    def publish(self, stream_name: str, counts: Mapping[str, float], lag_ms: float | None) -> bool:
        dimensions = [
            {"Name": "Direction", "Value": self._direction},
            {"Name": "Stream", "Value": stream_name},
        ]
        data = [
            {"MetricName": name, "Dimensions": dimensions, "Value": float(value), "Unit": unit}
            for name, value, unit in (
                ("ReplicatedRecords", counts["ReplicatedRecords"], "Count"),
                ("ReplicatedBytes", counts["ReplicatedBytes"], "Bytes"),
                ("RetriedEntries", counts["RetriedEntries"], "Count"),
                ("Throttles", counts["Throttles"], "Count"),
                ("DuplicatesResent", counts["DuplicatesResent"], "Count"),
            )
        ]
        if lag_ms is not None:
            data.append(
                {
                    "MetricName": "ReplicationLagMs",
                    "Dimensions": dimensions,
                    "Value": float(lag_ms),
                    "Unit": "Milliseconds",
                }
            )
        try:
            self._cloudwatch.put_metric_data(Namespace=self._namespace, MetricData=data)
        except Exception as exc:  # metrics must never fail the batch
            self._log.warning("metrics_not_published", error=error_code(exc))
            return False
        return True


# --------------------------------------------------------------------------
# The replicator
# --------------------------------------------------------------------------


@dataclass
class BatchOutcome:
    """What one invocation did; ``response()`` is what Lambda gets back."""

    stream_name: str = ""
    shard_id: str = ""
    record_count: int = 0
    written: int = 0  # records acknowledged by the target in this invocation
    written_prefix: int = 0  # records [0, written_prefix) all written
    failure_index: int | None = None  # first record Lambda must deliver again
    failure_sequence_number: str | None = None
    stop_reason: str | None = None
    duplicates_resent: int = 0  # written records at/after the failure point
    retried_entries: int = 0
    throttles: int = 0
    calls: int = 0
    credential_refreshes: int = 0
    ledger: str = "skipped"  # advanced | not_advanced | failed | skipped
    replication_lag_ms: float | None = None
    replicated_bytes: int = 0

    def response(self) -> dict[str, list[dict[str, str]]]:
        if self.failure_sequence_number is None:
            return {"batchItemFailures": []}
        return {"batchItemFailures": [{"itemIdentifier": self.failure_sequence_number}]}


class Replicator:
    """Builds the collaborators once (cached across invocations) and runs batches."""

    def __init__(
        self,
        config: ReplicatorConfig,
        *,
        client_factory: ClientFactory = boto3_client_factory,
        clock: Any = None,
        rng: random.Random | None = None,
        log_sink: Callable[[str], Any] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.log = JsonLogger(log_sink, self.clock)
        self.log.context = {"direction": config.direction}
        rng = rng or random.Random()
        self.target = TargetAccount(
            config, client_factory("sts"), client_factory, self.clock, self.log
        )
        self.guard = DirectionGuard(config, client_factory("ssm"), self.target, self.clock)
        self.writer = KeyOrderedWriter(config, self.target, self.guard, self.clock, rng, self.log)
        self.ledger = Ledger(config, client_factory("dynamodb"), self.clock, self.log)
        self.metrics = MetricsPublisher(config, client_factory("cloudwatch"), self.log)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> Replicator:
        return cls(ReplicatorConfig.from_environment(os.environ if env is None else env), **kwargs)

    def handle(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return self.process(event, context).response()

    def _deadline(self, context: Any) -> float:
        remaining_ms = self.config.default_remaining_ms
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            remaining_ms = context.get_remaining_time_in_millis()
        # Keep a margin for the call in flight, the ledger and the metrics; never
        # more than half the budget, so a short timeout still makes progress.
        margin_ms = min(self.config.safety_margin_ms, remaining_ms / 2)
        return self.clock.monotonic() + (remaining_ms - margin_ms) / 1000.0

    def process(self, event: Mapping[str, Any], context: Any) -> BatchOutcome:
        self.log.context = {
            "direction": self.config.direction,
            "request_id": getattr(context, "aws_request_id", None),
        }
        batch = parse_batch(event)
        count = len(batch)
        outcome = BatchOutcome(
            stream_name=batch.stream_name, shard_id=batch.shard_id, record_count=count
        )
        if count == 0:
            return outcome
        target_stream = self.config.stream_map.get(batch.stream_name)
        if target_stream is None:
            self.log.error("stream_not_mapped", stream=batch.stream_name)
            raise ConfigurationError(
                f"source stream {batch.stream_name!r} is not in TURNOUT_STREAM_MAP"
            )
        deadline = self._deadline(context)
        self.log.context.update(stream=batch.stream_name, shard_id=batch.shard_id)

        refusal = self.guard.refusal()
        if refusal is not None:
            return self._refuse(outcome, batch, refusal)

        writable = count
        oversize = batch.first_oversize_index(self.config.max_record_bytes)
        if oversize is not None:
            self.log.error(
                "record_too_large",
                sequence_number=batch.sequence_numbers[oversize],
                size=batch.sizes[oversize],
                limit=self.config.max_record_bytes,
                action="batch fails at this record; bisect-on-error, retries and the "
                "on-failure destination handle it",
            )
            if oversize == 0:
                raise RecordTooLargeError(
                    batch.sequence_numbers[0], batch.sizes[0], self.config.max_record_bytes
                )
            writable = oversize

        result = self.writer.write(batch, writable, target_stream, deadline)
        if result.stop_reason == "direction":
            self.log.warning("loop_guard_refused", reason=result.stop_detail, phase="mid-batch")
        outcome.written = result.acked_count
        outcome.written_prefix = result.prefix
        outcome.stop_reason = result.stop_reason or (
            "record_too_large" if oversize is not None else None
        )
        outcome.retried_entries = result.retried_entries
        outcome.throttles = result.throttles
        outcome.calls = result.calls
        outcome.credential_refreshes = result.credential_refreshes
        failure_index: int | None = result.prefix if result.prefix < count else None

        prefix = result.prefix
        if prefix > 0:
            try:
                moved = self.ledger.advance(
                    stream_name=batch.stream_name,
                    shard_id=batch.shard_id,
                    target_stream=target_stream,
                    last_sequence_number=batch.sequence_numbers[prefix - 1],
                    last_arrival_time=batch.arrivals[prefix - 1],
                    records=prefix,
                    byte_count=sum(batch.sizes[:prefix]),
                )
                outcome.ledger = "advanced" if moved else "not_advanced"
            except (ClientError, BotoCoreError) as exc:
                # Written but not recorded: fail the whole batch so the retry
                # writes it again (duplicates, counted) and records it. The
                # ledger must never claim less than reality without a retry.
                outcome.ledger = "failed"
                failure_index = 0
                outcome.stop_reason = "ledger_error"
                self.log.error("ledger_update_failed", error=error_code(exc))

        self._finish(outcome, batch, result, failure_index)
        return outcome

    def _refuse(self, outcome: BatchOutcome, batch: ParsedBatch, reason: str) -> BatchOutcome:
        self.log.warning(
            "loop_guard_refused",
            reason=reason,
            phase="before-write",
            records=len(batch),
            action="nothing written; whole batch reported as failed",
        )
        outcome.stop_reason = "direction"
        outcome.failure_index = 0
        outcome.failure_sequence_number = batch.sequence_numbers[0]
        return outcome

    def _finish(
        self,
        outcome: BatchOutcome,
        batch: ParsedBatch,
        result: WriteResult,
        failure_index: int | None,
    ) -> None:
        acked = result.acked
        written_count = len(acked)
        if failure_index is not None:
            outcome.failure_index = failure_index
            outcome.failure_sequence_number = batch.sequence_numbers[failure_index]
            # Written records at or after the failure point come back in the
            # retry and are written again: count them now.
            outcome.duplicates_resent = sum(acked[failure_index:])
        sizes = batch.sizes
        arrivals = batch.arrivals
        newest_arrival = None
        replicated_bytes = 0
        for index in range(written_count):
            if acked[index]:
                replicated_bytes += sizes[index]
                arrival = arrivals[index]
                if newest_arrival is None or arrival > newest_arrival:
                    newest_arrival = arrival
        outcome.replicated_bytes = replicated_bytes
        if newest_arrival:
            outcome.replication_lag_ms = max(0.0, (self.clock.time() - newest_arrival) * 1000.0)
        self.metrics.publish(
            batch.stream_name,
            {
                "ReplicatedRecords": outcome.written,
                "ReplicatedBytes": replicated_bytes,
                "RetriedEntries": outcome.retried_entries,
                "Throttles": outcome.throttles,
                "DuplicatesResent": outcome.duplicates_resent,
            },
            outcome.replication_lag_ms,
        )
        level = "INFO" if failure_index is None else "WARNING"
        self.log.log(
            level,
            "batch_done" if failure_index is None else "batch_incomplete",
            records=outcome.record_count,
            written=outcome.written,
            written_prefix=outcome.written_prefix,
            failure_sequence_number=outcome.failure_sequence_number,
            stop_reason=outcome.stop_reason,
            duplicates_resent=outcome.duplicates_resent,
            retried_entries=outcome.retried_entries,
            throttles=outcome.throttles,
            calls=outcome.calls,
            credential_refreshes=outcome.credential_refreshes,
            ledger=outcome.ledger,
            replication_lag_ms=(
                None if outcome.replication_lag_ms is None else round(outcome.replication_lag_ms)
            ),
        )


# --------------------------------------------------------------------------
# Lambda entry point
# --------------------------------------------------------------------------

_REPLICATOR: Replicator | None = None


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point; the Replicator (clients, credentials, caches) is reused."""
    global _REPLICATOR
    if _REPLICATOR is None:
        _REPLICATOR = Replicator.from_environment(os.environ)
    return _REPLICATOR.handle(event, context)
