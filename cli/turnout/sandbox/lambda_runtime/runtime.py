"""The local Lambda runtime: runs deployed function code for enabled Kinesis event source
mappings of the emulator, with AWS's batching, checkpoint and error-handling semantics.

Threads: one refresher (lists mappings and functions of every configured account/region every
``refresh_interval``, lists each enabled mapping's shards and starts shard pollers) and one
poller per (mapping, shard) that reads, batches, invokes and checkpoints. Each function has one
worker subprocess (see ``functions.py``); each shard has at most one batch in flight.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.utils import parse_timestamp

from turnout.aws.endpoint import BASE_CREDENTIALS, assume_role_credentials, role_arn

from .checkpoints import CheckpointStore
from .emf import EmfLogMetrics
from .functions import CodeCache, FunctionConfig, FunctionHost, InvokeResult
from .log import log_event
from .metrics import LambdaMetricsPublisher

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous invocation payload limit
_RECORD_OVERHEAD = 512  # JSON around one record in the event, roughly
_BOTO_CONFIG = Config(
    retries={"max_attempts": 2, "mode": "standard"},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=64,
)


@dataclass(frozen=True)
class MappingConfig:
    """A Kinesis event source mapping as listed by the emulator, with AWS's defaults."""

    uuid: str
    account_id: str
    region: str
    function_arn: str
    event_source_arn: str
    enabled: bool
    batch_size: int
    batching_window: float
    starting_position: str
    starting_timestamp: float | None
    bisect: bool
    max_retry_attempts: int
    max_record_age: int
    on_failure: str | None
    report_item_failures: bool

    @classmethod
    def from_api(cls, esm: dict[str, Any], account_id: str, region: str) -> MappingConfig:
        ts = esm.get("StartingPositionTimestamp")
        if isinstance(ts, dt.datetime):
            ts = ts.timestamp()
        destination = ((esm.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )

        def _int(name: str, default: int) -> int:
            value = esm.get(name)
            return default if value is None else int(value)

        return cls(
            uuid=esm["UUID"],
            account_id=account_id,
            region=region,
            function_arn=esm["FunctionArn"],
            event_source_arn=esm["EventSourceArn"],
            enabled=esm.get("State", "Enabled") in ("Enabled", "Enabling", "Updating"),
            batch_size=max(1, _int("BatchSize", 100)),
            batching_window=float(esm.get("MaximumBatchingWindowInSeconds") or 0),
            starting_position=esm.get("StartingPosition") or "TRIM_HORIZON",
            starting_timestamp=float(ts) if ts is not None else None,
            bisect=bool(esm.get("BisectBatchOnFunctionError")),
            max_retry_attempts=_int("MaximumRetryAttempts", -1),
            max_record_age=_int("MaximumRecordAgeInSeconds", -1),
            on_failure=destination or None,
            report_item_failures="ReportBatchItemFailures"
            in (esm.get("FunctionResponseTypes") or []),
        )

    @property
    def stream_region(self) -> str:
        return self.event_source_arn.split(":")[3]

    @property
    def stream_account(self) -> str:
        return self.event_source_arn.split(":")[4]


def _epoch_or_parsed(value: Any) -> Any:
    """Timestamp parser of the runtime's Kinesis clients: GetRecords' epoch numbers stay floats
    (botocore would build a timezone-aware datetime per record, a quarter of the poller's CPU,
    only for :func:`_arrival` to turn it back into a float); other forms are parsed as usual."""
    if isinstance(value, int | float):
        return float(value)
    return parse_timestamp(value)


def _arrival(record: dict[str, Any]) -> float:
    ts = record.get("ApproximateArrivalTimestamp")
    if isinstance(ts, dt.datetime):
        return ts.timestamp()
    return float(ts or 0)


def _iso(epoch: float) -> str:
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
                    "approximateArrivalTimestamp": round(_arrival(r), 3),
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


MALFORMED = "malformed"


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
) -> dict[str, Any]:
    """The on-failure destination message: metadata only, never the records."""
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
        "timestamp": _iso(time.time()),
        "KinesisBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": records[0]["SequenceNumber"],
            "endSequenceNumber": records[-1]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(_arrival(records[0])),
            "approximateArrivalOfLastRecord": _iso(_arrival(records[-1])),
            "batchSize": len(records),
            "streamArn": mapping.event_source_arn,
        },
    }


class _Abandon(Exception):
    """Stop requested while a batch was unfinished: leave it unchecked-pointed."""


class ShardPoller(threading.Thread):
    def __init__(self, runner: MappingRunner, shard_id: str) -> None:
        super().__init__(daemon=True, name=f"poller-{runner.uuid[:8]}-{shard_id[-4:]}")
        self.runner = runner
        self.rt = runner.runtime
        self.shard_id = shard_id
        self.stop_event = threading.Event()
        self.in_flight = False

    # ------------------------------------------------------------------ helpers
    def _stopping(self) -> bool:
        return self.stop_event.is_set() or self.rt._stop.is_set()

    def _wait(self, seconds: float) -> None:
        if self.stop_event.wait(max(0.0, seconds)) or self.rt._stop.is_set():
            raise _Abandon

    def _fields(self, **extra: Any) -> dict[str, Any]:
        return {"mapping": self.runner.uuid, "shard": self.shard_id, **extra}

    def _start_spec(self) -> dict[str, Any]:
        entry = self.rt.store.mapping(self.runner.uuid) or {}
        if self.shard_id not in (entry.get("initial_shards") or []):
            return {"type": "TRIM_HORIZON"}  # a shard born after the mapping (a child)
        pos = entry.get("starting_position") or "TRIM_HORIZON"
        if pos == "LATEST":
            # "After the newest record when the mapping was first seen", kept as a timestamp so
            # that a restart before the first checkpoint loses nothing.
            return {"type": "AT_TIMESTAMP", "timestamp": entry["first_seen"]}
        if pos == "AT_TIMESTAMP":
            return {"type": "AT_TIMESTAMP", "timestamp": entry.get("starting_timestamp") or 0}
        return {"type": "TRIM_HORIZON"}

    def _iterator(self, kinesis: Any, after: str | None, start: dict[str, Any]) -> str:
        args: dict[str, Any] = {
            "StreamARN": self.runner.config.event_source_arn,
            "ShardId": self.shard_id,
        }
        if after is not None:
            args.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=after)
        elif start["type"] == "AT_TIMESTAMP":
            args.update(
                ShardIteratorType="AT_TIMESTAMP",
                Timestamp=dt.datetime.fromtimestamp(float(start["timestamp"]), tz=dt.UTC),
            )
        else:
            args.update(ShardIteratorType="TRIM_HORIZON")
        return kinesis.get_shard_iterator(**args)["ShardIterator"]

    # ------------------------------------------------------------------ main loop
    def run(self) -> None:
        try:
            self._run()
        except _Abandon:
            pass
        except Exception as exc:  # restarted by the refresher
            log_event("poller_failed", logging.ERROR, **self._fields(error=repr(exc)))
        finally:
            self.in_flight = False

    def _run(self) -> None:
        uuid = self.runner.uuid
        entry = self.rt.store.shard(uuid, self.shard_id)
        if entry is None:
            entry = self.rt.store.init_shard(uuid, self.shard_id, self._start_spec())
        last_read: str | None = entry.get("checkpoint")
        start = entry["start"]
        cfg = self.runner.config
        kinesis = self.rt.client("kinesis", cfg.stream_account, cfg.stream_region)
        log_event("poller_started", **self._fields(after=last_read, start=start["type"]))
        buffer: list[dict[str, Any]] = []
        first_buffered: float | None = None
        iterator: str | None = None
        at_end = False
        while not self._stopping():
            cfg = self.runner.config
            if iterator is None and not at_end:
                iterator = self._iterator(kinesis, last_read, start)
            if not at_end and len(buffer) < max(2 * cfg.batch_size, 100):
                try:
                    resp = kinesis.get_records(
                        ShardIterator=iterator,
                        Limit=min(10000, max(cfg.batch_size, 100)),
                        StreamARN=cfg.event_source_arn,
                    )
                except ClientError as exc:
                    code = exc.response.get("Error", {}).get("Code")
                    if code in ("ExpiredIteratorException", "InvalidArgumentException"):
                        iterator = None
                        continue
                    raise
                records = resp.get("Records") or []
                if records:
                    buffer.extend(records)
                    last_read = records[-1]["SequenceNumber"]
                    if first_buffered is None:
                        first_buffered = time.monotonic()
                iterator = resp.get("NextShardIterator")
                if iterator is None:
                    at_end = True
            if not buffer:
                if at_end:
                    self.rt.store.mark_ended(uuid, self.shard_id)
                    log_event("shard_end", **self._fields())
                    return
                self._note_closed_end(last_read)
                self._wait(self.rt.poll_interval)
                continue
            assert first_buffered is not None
            waited = time.monotonic() - first_buffered
            if (
                len(buffer) < cfg.batch_size
                and cfg.batching_window > 0
                and not at_end
                and waited < cfg.batching_window
            ):
                self._wait(min(self.rt.poll_interval, cfg.batching_window - waited))
                continue
            batch = self._take(buffer, cfg.batch_size)
            self._process(batch)
            del buffer[: len(batch)]
            first_buffered = time.monotonic() if buffer else None

    def _note_closed_end(self, last_read: str | None) -> None:
        """A closed shard read to its end lets its children start. (AWS also ends the iterator;
        moto never does and may keep writing to a closed parent, so the poller stays.)"""
        desc = self.runner.shards.get(self.shard_id) or {}
        ending = (desc.get("SequenceNumberRange") or {}).get("EndingSequenceNumber")
        if ending is None:
            return
        read_to_end = int(ending) == 0 or (last_read is not None and int(last_read) >= int(ending))
        if read_to_end and not self.rt.store.shard_ended(self.runner.uuid, self.shard_id):
            self.rt.store.mark_ended(self.runner.uuid, self.shard_id)
            log_event("shard_end", **self._fields(closed=True))

    @staticmethod
    def _take(buffer: list[dict[str, Any]], batch_size: int) -> list[dict[str, Any]]:
        size = 0
        batch: list[dict[str, Any]] = []
        for record in buffer[:batch_size]:
            rsize = len(record["Data"]) * 4 // 3 + len(record["PartitionKey"]) + _RECORD_OVERHEAD
            if batch and size + rsize > MAX_PAYLOAD_BYTES:
                break
            batch.append(record)
            size += rsize
        return batch

    # ------------------------------------------------------------------ one batch
    def _checkpoint(self, records: list[dict[str, Any]]) -> None:
        seq = records[-1]["SequenceNumber"]
        self.rt.store.checkpoint(self.runner.uuid, self.shard_id, seq)

    def _process(self, batch: list[dict[str, Any]]) -> None:
        """Run ``batch`` to completion: success, or discarded to the on-failure destination.
        Checkpoints advance only over finished records, in order."""
        pending: list[list[dict[str, Any]]] = [batch]
        attempts = 0  # invocations of pending[0] that failed and count against the quota
        invokes = 0
        last: InvokeResult | None = None
        while pending:
            if self._stopping():
                raise _Abandon
            cfg = self.runner.config
            current = pending[0]
            if cfg.max_record_age >= 0:
                now = time.time()
                expired = [r for r in current if now - _arrival(r) > cfg.max_record_age]
                if expired:
                    # Records of a shard arrive in order: the expired ones are a prefix.
                    n = len(expired)
                    self._discard(current[:n], "RecordAgeExceeded", invokes, last)
                    current = current[n:]
                    if not current:
                        pending.pop(0)
                        attempts = invokes = 0
                        continue
                    pending[0] = current
            host = self.rt.function_host(cfg.function_arn)
            if host is None:
                log_event("function_missing", logging.WARNING, **self._fields())
                self._wait(max(self.rt.poll_interval, 1.0))
                continue
            event = build_event(current, self.shard_id, cfg, host.config.role)
            self.in_flight = True
            sent_at = time.time()
            try:
                last = host.invoke(event)
            finally:
                self.in_flight = False
            invokes += 1
            self.rt._count("invocations")
            if last.kind == "stopped" or (self._stopping() and not last.ok):
                raise _Abandon
            self.rt.metrics.record(
                cfg.function_arn, ok=last.ok, last_arrival=_arrival(current[-1]), sent_at=sent_at
            )
            seqs = [r["SequenceNumber"] for r in current]
            failed: list[str] | str = []
            if not last.ok:
                failed = MALFORMED  # a function error: the whole batch failed
            elif cfg.report_item_failures:
                failed = parse_batch_item_failures(last.payload, seqs)
            if failed == []:
                self._checkpoint(current)
                log_event(
                    "batch_succeeded",
                    **self._fields(
                        size=len(current), first=seqs[0], last=seqs[-1], request=last.request_id
                    ),
                )
                pending.pop(0)
                attempts = invokes = 0
                continue
            if failed == MALFORMED:
                log_event(
                    "batch_failed",
                    logging.WARNING,
                    **self._fields(
                        size=len(current),
                        first=seqs[0],
                        last=seqs[-1],
                        kind=last.kind if not last.ok else "invalid_response",
                        error=(last.error_message or "")[:200] if not last.ok else None,
                        request=last.request_id,
                    ),
                )
                if cfg.bisect and len(current) > 1:
                    # Splitting does not consume the retry quota (AWS).
                    half = len(current) // 2
                    pending[0:1] = [current[:half], current[half:]]
                    continue
                remaining = current
            else:
                assert isinstance(failed, list)
                lowest = min(failed, key=int)
                index = seqs.index(lowest)
                if index > 0:
                    self._checkpoint(current[:index])
                remaining = current[index:]
                log_event(
                    "batch_partially_failed",
                    logging.WARNING,
                    **self._fields(
                        size=len(current),
                        retry_from=lowest,
                        failures=len(failed),
                        request=last.request_id,
                    ),
                )
                pending[0] = remaining
            attempts += 1
            if 0 <= cfg.max_retry_attempts < attempts:
                self._discard(remaining, "RetryAttemptsExhausted", invokes, last)
                pending.pop(0)
                attempts = invokes = 0
                continue
            self.rt._count("retries")
            backoff = min(self.rt.retry_backoff * (2 ** (attempts - 1)), self.rt.max_retry_backoff)
            self._wait(backoff)

    def _discard(
        self,
        records: list[dict[str, Any]],
        condition: str,
        invokes: int,
        last: InvokeResult | None,
    ) -> None:
        cfg = self.runner.config
        message = failure_message(
            mapping=cfg,
            shard_id=self.shard_id,
            records=records,
            condition=condition,
            request_id=last.request_id if last else "",
            invoke_count=invokes,
            last_result=last,
        )
        if cfg.on_failure:
            # Until the destination accepts the message the records are not skipped.
            while True:
                try:
                    self.rt.send_to_destination(cfg.on_failure, message)
                    break
                except (ClientError, BotoCoreError) as exc:
                    log_event("destination_failed", logging.ERROR, **self._fields(error=repr(exc)))
                    self._wait(max(self.rt.poll_interval, 1.0))
        self._checkpoint(records)
        self.rt._count("discarded_batches")
        log_event(
            "batch_discarded",
            logging.WARNING,
            **self._fields(
                condition=condition,
                size=len(records),
                first=records[0]["SequenceNumber"],
                last=records[-1]["SequenceNumber"],
                destination=cfg.on_failure,
            ),
        )


class MappingRunner:
    """An enabled mapping: its current configuration, its shards and their pollers."""

    def __init__(self, runtime: LocalLambdaRuntime, config: MappingConfig) -> None:
        self.runtime = runtime
        self.config = config
        self.uuid = config.uuid
        self.shards: dict[str, dict[str, Any]] = {}
        self.pollers: dict[str, ShardPoller] = {}

    def sync_shards(self, shards: list[dict[str, Any]]) -> None:
        self.shards = {s["ShardId"]: s for s in shards}
        store = self.runtime.store
        for shard_id in sorted(self.shards):
            poller = self.pollers.get(shard_id)
            if poller is not None and poller.is_alive():
                continue
            previous = self.runtime._pollers.get((self.uuid, shard_id))
            if previous is not None and previous.is_alive():
                continue  # a poller of an earlier run is finishing its batch: one in flight
            if poller is not None and store.shard_ended(self.uuid, shard_id):
                continue  # finished (the iterator ended: AWS semantics)
            desc = self.shards[shard_id]
            parents = [
                p
                for p in (desc.get("ParentShardId"), desc.get("AdjacentParentShardId"))
                if p and p in self.shards
            ]
            if not all(store.shard_ended(self.uuid, p) for p in parents):
                continue  # parent shards are processed to their end first
            poller = ShardPoller(self, shard_id)
            self.pollers[shard_id] = poller
            self.runtime._pollers[(self.uuid, shard_id)] = poller
            poller.start()

    def stop(self, wait: bool = True, timeout: float = 10.0) -> None:
        # A snapshot: the refresher thread may be registering a poller right now, and it
        # registers a poller before starting it (joining a thread not yet started raises).
        pollers = list(self.pollers.values())
        for poller in pollers:
            poller.stop_event.set()
        if wait:
            deadline = time.monotonic() + timeout
            for poller in pollers:
                if poller.ident is not None:  # not started yet: it sees stop_event at once
                    poller.join(max(0.0, deadline - time.monotonic()))

    def busy(self) -> bool:
        return any(p.in_flight for p in self.pollers.values())


class LocalLambdaRuntime:
    """Runs the deployed code of every enabled Kinesis mapping of the emulator.

    ``mapping_filter`` (optional) limits which mappings are run (tests use it to stay out of
    each other's way); mappings it rejects are neither run nor forgotten.
    """

    def __init__(
        self,
        endpoint_url: str,
        accounts: list[str],
        regions: list[str],
        state_dir: str | os.PathLike[str],
        *,
        poll_interval: float = 1.0,
        refresh_interval: float = 5.0,
        retry_backoff: float = 1.0,
        max_retry_backoff: float = 30.0,
        stop_grace: float = 10.0,
        mapping_filter: Callable[[MappingConfig], bool] | None = None,
        base_credentials: tuple[str, str] = BASE_CREDENTIALS,
        python: str = sys.executable,
        metrics_interval: float = 5.0,
    ) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.accounts = list(accounts)
        self.regions = list(regions)
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.poll_interval = poll_interval
        self.refresh_interval = refresh_interval
        self.retry_backoff = retry_backoff
        self.max_retry_backoff = max_retry_backoff
        self.stop_grace = stop_grace
        self.mapping_filter = mapping_filter
        self.base_credentials = base_credentials
        self.python = python
        self.store = CheckpointStore(self.state_dir)
        # AWS/Lambda Invocations, Errors, IteratorAge, as the Lambda service publishes them.
        self.metrics = LambdaMetricsPublisher(
            lambda account, region: self.client("cloudwatch", account, region),
            interval=metrics_interval,
        )
        # CloudWatch Logs' part: EMF lines in the functions' logs become metrics (emf.py).
        self.emf = EmfLogMetrics(
            self.state_dir / "function-logs",
            self.state_dir / "emf-positions.json",
            lambda account, region: self.client("cloudwatch", account, region),
            interval=metrics_interval,
        )
        self.code_cache = CodeCache(self, self.state_dir / "code")
        self._stop = threading.Event()
        self._lock = threading.RLock()
        self._refresh_lock = threading.Lock()
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._role_creds: dict[str, dict[str, str]] = {}
        self._hosts: dict[str, FunctionHost] = {}
        self._functions: dict[str, FunctionConfig] = {}
        self._runners: dict[str, MappingRunner] = {}
        self._pollers: dict[tuple[str, str], ShardPoller] = {}
        self._mappings: dict[str, MappingConfig] = {}
        self._thread: threading.Thread | None = None
        self._refreshed = threading.Condition()
        self._refresh_count = 0
        self.stats: dict[str, int] = {
            "invocations": 0,
            "retries": 0,
            "discarded_batches": 0,
            "refreshes": 0,
        }

    # ------------------------------------------------------------------ AWS access
    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.stats[name] = self.stats.get(name, 0) + n

    def role_credentials(self, role: str, session_name: str, region: str) -> dict[str, str]:
        with self._lock:
            creds = self._role_creds.get(role)
            if creds is None:
                creds = assume_role_credentials(
                    self.endpoint_url, role, session_name, region, self.base_credentials
                )
                self._role_creds[role] = creds
            return creds

    def client(self, service: str, account_id: str, region: str) -> Any:
        key = (service, account_id, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                creds = self.role_credentials(
                    role_arn(account_id), "turnout-lambda-runtime", region
                )
                session = boto3.Session(
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                    region_name=region,
                )
                if service == "kinesis":
                    session._session.get_component("response_parser_factory").set_parser_defaults(
                        timestamp_parser=_epoch_or_parsed
                    )
                client = session.client(
                    service, endpoint_url=self.endpoint_url, config=_BOTO_CONFIG
                )
                self._clients[key] = client
            return client

    def send_to_destination(self, destination_arn: str, message: dict[str, Any]) -> None:
        parts = destination_arn.split(":")
        service, region, account = parts[2], parts[3], parts[4]
        body = json.dumps(message)
        if service == "sqs":
            sqs = self.client("sqs", account, region)
            url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)
        elif service == "sns":
            self.client("sns", account, region).publish(TopicArn=destination_arn, Message=body)
        else:
            raise ValueError(f"unsupported on-failure destination {destination_arn}")

    def function_host(self, function_arn: str) -> FunctionHost | None:
        with self._lock:
            return self._hosts.get(_unqualified(function_arn))

    # ------------------------------------------------------------------ refresh
    def refresh(self) -> None:
        """One pass: list mappings/functions, start/stop/forget mappings, sync shards. Safe to
        call while the refresher thread runs (passes never overlap)."""
        with self._refresh_lock:
            self._refresh()

    def _refresh(self) -> None:
        listed_ok: set[tuple[str, str]] = set()
        all_uuids: set[str] = set()
        seen: dict[str, MappingConfig] = {}
        functions: dict[str, FunctionConfig] = {}
        for account in self.accounts:
            for region in self.regions:
                try:
                    lam = self.client("lambda", account, region)
                    esms: list[dict[str, Any]] = []
                    for page in lam.get_paginator("list_event_source_mappings").paginate():
                        esms.extend(page.get("EventSourceMappings") or [])
                    for page in lam.get_paginator("list_functions").paginate():
                        for fn in page.get("Functions") or []:
                            cfg = FunctionConfig.from_api(fn)
                            functions[_unqualified(cfg.function_arn)] = cfg
                except (ClientError, BotoCoreError) as exc:
                    log_event(
                        "list_failed",
                        logging.WARNING,
                        account=account,
                        region=region,
                        error=repr(exc),
                    )
                    continue
                listed_ok.add((account, region))
                for esm in esms:
                    all_uuids.add(esm["UUID"])
                    if ":kinesis:" not in esm.get("EventSourceArn", ""):
                        continue
                    mapping = MappingConfig.from_api(esm, account, region)
                    if self.mapping_filter is not None and not self.mapping_filter(mapping):
                        continue
                    seen[mapping.uuid] = mapping
        with self._lock:
            for arn, cfg in functions.items():
                host = self._hosts.get(arn)
                if host is None:
                    self._hosts[arn] = FunctionHost(self, cfg)
                else:
                    host.update(cfg)
            for arn in [a for a in self._hosts if a not in functions]:
                account, region = arn.split(":")[4], arn.split(":")[3]
                if (account, region) in listed_ok:
                    self._hosts.pop(arn).close()
            self._functions = functions
            self._mappings = seen
        # Deleted mappings: forget their positions (a recreated mapping starts afresh).
        for uuid in set(self.store.mapping_uuids()) | set(self._runners):
            if uuid in all_uuids:
                continue
            entry = self.store.mapping(uuid) or {}
            owner = entry.get("function_arn") or (
                self._runners[uuid].config.function_arn if uuid in self._runners else ""
            )
            parts = owner.split(":")
            if len(parts) > 4 and (parts[4], parts[3]) not in listed_ok:
                continue
            runner = self._runners.pop(uuid, None)
            if runner is not None:
                runner.stop(wait=False)
            self.store.forget(uuid)
            log_event("mapping_forgotten", mapping=uuid)
        for uuid, mapping in seen.items():
            try:
                self._sync_mapping(mapping)
            except (ClientError, BotoCoreError) as exc:
                log_event("mapping_sync_failed", logging.WARNING, mapping=uuid, error=repr(exc))
        with self._refreshed:
            self._refresh_count += 1
            self._refreshed.notify_all()
        self._count("refreshes")

    def _list_shards(self, mapping: MappingConfig) -> list[dict[str, Any]]:
        kinesis = self.client("kinesis", mapping.stream_account, mapping.stream_region)
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamARN": mapping.event_source_arn}
        while True:
            resp = kinesis.list_shards(**kwargs)
            shards.extend(resp.get("Shards") or [])
            token = resp.get("NextToken")
            if not token:
                return shards
            kwargs = {"NextToken": token}

    def _sync_mapping(self, mapping: MappingConfig) -> None:
        uuid = mapping.uuid
        if self.store.mapping(uuid) is None:
            try:
                shards = self._list_shards(mapping)
            except ClientError as exc:
                log_event("stream_unreadable", logging.WARNING, mapping=uuid, error=repr(exc))
                return
            self.store.init_mapping(
                uuid,
                {
                    "function_arn": mapping.function_arn,
                    "event_source_arn": mapping.event_source_arn,
                    "first_seen": time.time(),
                    "starting_position": mapping.starting_position,
                    "starting_timestamp": mapping.starting_timestamp,
                    "initial_shards": [s["ShardId"] for s in shards],
                },
            )
            log_event(
                "mapping_seen",
                mapping=uuid,
                function=mapping.function_arn,
                stream=mapping.event_source_arn,
                starting_position=mapping.starting_position,
            )
        runner = self._runners.get(uuid)
        if not mapping.enabled:
            if runner is not None:
                self._runners.pop(uuid)
                runner.stop(wait=False)
                log_event("mapping_paused", mapping=uuid)
            return
        if runner is None:
            runner = MappingRunner(self, mapping)
            self._runners[uuid] = runner
            log_event("mapping_running", mapping=uuid)
        runner.config = mapping
        runner.sync_shards(self._list_shards(mapping))

    # ------------------------------------------------------------------ lifecycle
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception as exc:
                log_event("refresh_failed", logging.ERROR, error=repr(exc))
            self._stop.wait(self.refresh_interval)

    def start_in_thread(self) -> LocalLambdaRuntime:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, daemon=True, name="lambda-runtime")
            self._thread.start()
            self.metrics.start()
            self.emf.start()
            log_event(
                "runtime_started",
                endpoint=self.endpoint_url,
                accounts=self.accounts,
                regions=self.regions,
                state_dir=str(self.state_dir),
            )
        return self

    def wait_refreshed(self, timeout: float = 30.0) -> bool:
        """Wait until one full refresh pass has completed after this call."""
        with self._refreshed:
            target = self._refresh_count + 1
            return self._refreshed.wait_for(lambda: self._refresh_count >= target, timeout)

    def run_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Start (if needed) and wait until ``predicate()`` is true; False on timeout. The
        runtime keeps running afterwards (``stop()`` it)."""
        self.start_in_thread()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(min(self.poll_interval, 0.1))
        return bool(predicate())

    def run_forever(self) -> None:
        self.start_in_thread()
        while not self._stop.wait(0.5):
            pass

    def stop(self) -> None:
        """Stop polling; let an in-flight batch finish for ``stop_grace`` seconds, then kill the
        workers (that batch is then abandoned, not checkpointed)."""
        self._stop.set()
        runners = list(self._runners.values())
        for runner in runners:
            runner.stop(wait=False)
        deadline = time.monotonic() + self.stop_grace
        while time.monotonic() < deadline and any(r.busy() for r in runners):
            time.sleep(0.05)
        with self._lock:
            hosts = list(self._hosts.values())
        for host in hosts:
            host.kill_worker()
        for runner in runners:
            runner.stop(wait=True, timeout=5.0)
        for host in hosts:
            host.close()
        if self._thread is not None:
            self._thread.join(timeout=self.refresh_interval + 5)
            self._thread = None
        self._runners.clear()
        self.metrics.stop()
        self.emf.stop()
        log_event("runtime_stopped", **self.stats, metrics_sent=self.metrics.sent)

    def __enter__(self) -> LocalLambdaRuntime:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ introspection
    def mapping_positions(self, uuid: str) -> dict[str, str | None]:
        """Checkpoint per shard of a mapping (``None``: nothing processed yet)."""
        entry = self.store.mapping(uuid) or {}
        return {sid: s.get("checkpoint") for sid, s in (entry.get("shards") or {}).items()}

    def running_mappings(self) -> list[str]:
        return list(self._runners)


def _unqualified(function_arn: str) -> str:
    parts = function_arn.split(":")
    return ":".join(parts[:7])
