"""One batch of a shard run to completion, with AWS's error handling for Kinesis event source
mappings (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html,
https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html):

- a function error (or a malformed ReportBatchItemFailures response) fails the whole batch; a
  partial failure retries from the lowest failed record, after finishing the records before it;
- ``BisectBatchOnFunctionError`` splits a failed batch in two halves, processed in order;
  splitting does not consume the retry quota;
- ``MaximumRetryAttempts`` (-1 = forever): after that many retries the batch is discarded;
  ``MaximumRecordAgeInSeconds`` (-1 = forever): records older than that (sandbox clock) are
  discarded before an invocation;
- discarded records are skipped only after the on-failure destination accepted AWS's metadata
  record (``events.failure_message``); without a destination they are skipped.

Records are reported to ``finished`` in shard order as they are done (processed or discarded);
the caller checkpoints over them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .config import MappingConfig
from .events import MALFORMED, arrival, build_event, failure_message, parse_batch_item_failures
from .functions import FunctionHost, InvokeResult
from .log import log_event

if TYPE_CHECKING:
    from .poller import ShardPoller

Records = list[dict[str, Any]]


class Abandon(Exception):
    """Stop requested while a batch was unfinished: it is left without a checkpoint."""


class BatchRun:
    """Runs one batch (and the halves it is bisected into) until every record is finished."""

    def __init__(
        self, poller: ShardPoller, batch: Records, finished: Callable[[Records], None]
    ) -> None:
        self.poller = poller
        self.rt = poller.rt
        self.finished = finished
        self.pending: list[Records] = [batch]
        self.attempts = 0  # failed invocations of pending[0] that count against the quota
        self.invokes = 0
        self.last: InvokeResult | None = None

    def run(self) -> None:
        while self.pending:
            if self.poller.stopping():
                raise Abandon
            cfg = self.poller.runner.config
            if not self._drop_expired(cfg):
                continue
            host = self.rt.function_host(cfg.function_arn)
            if host is None:
                log_event("function_missing", logging.WARNING, **self.poller.fields())
                self.poller.wait(max(self.rt.poll_interval, 1.0))
                continue
            current = self.pending[0]
            self.last = self._invoke(host, cfg, current)
            failed = self._failures(cfg, current)
            if failed == []:
                self._succeeded(current)
                continue
            remaining = self._failed(cfg, current, failed)
            if remaining is not None:
                self._retry_or_discard(cfg, remaining)

    def _next_batch(self) -> None:
        self.pending.pop(0)
        self.attempts = self.invokes = 0

    def _drop_expired(self, cfg: MappingConfig) -> bool:
        """MaximumRecordAgeInSeconds; False when nothing of the head batch is left."""
        if cfg.max_record_age < 0:
            return True
        current = self.pending[0]
        now = self.rt.clock()
        expired = 0
        while expired < len(current) and now - arrival(current[expired]) > cfg.max_record_age:
            expired += 1  # records of a shard arrive in order: the expired ones are a prefix
        if expired:
            self._discard(current[:expired], "RecordAgeExceeded")
            current = current[expired:]
        if not current:
            self._next_batch()
            return False
        self.pending[0] = current
        return True

    def _invoke(self, host: FunctionHost, cfg: MappingConfig, current: Records) -> InvokeResult:
        event = build_event(current, self.poller.shard_id, cfg, host.config.role)
        sent_at = self.rt.clock()  # the sandbox clock: see LambdaMetricsPublisher.record
        with self.poller.invoking():
            result = host.invoke(event)
        self.invokes += 1
        self.rt.count("invocations")
        if result.kind == "stopped" or (self.poller.stopping() and not result.ok):
            raise Abandon
        self.rt.metrics.record(
            cfg.function_arn,
            ok=result.ok,
            last_arrival=arrival(current[-1]),
            sent_at=sent_at,
        )
        return result

    def _failures(self, cfg: MappingConfig, current: Records) -> list[str] | str:
        assert self.last is not None
        if not self.last.ok:
            return MALFORMED  # a function error: the whole batch failed
        if cfg.report_item_failures:
            return parse_batch_item_failures(
                self.last.payload, [r["SequenceNumber"] for r in current]
            )
        return []

    def _succeeded(self, current: Records) -> None:
        assert self.last is not None
        self.finished(current)
        log_event(
            "batch_succeeded",
            **self.poller.fields(
                size=len(current),
                first=current[0]["SequenceNumber"],
                last=current[-1]["SequenceNumber"],
                request=self.last.request_id,
            ),
        )
        self._next_batch()

    def _failed(
        self, cfg: MappingConfig, current: Records, failed: list[str] | str
    ) -> Records | None:
        """What is left to retry, or None when the batch was bisected instead."""
        last = self.last
        assert last is not None
        seqs = [r["SequenceNumber"] for r in current]
        if failed == MALFORMED:
            log_event(
                "batch_failed",
                logging.WARNING,
                **self.poller.fields(
                    size=len(current),
                    first=seqs[0],
                    last=seqs[-1],
                    kind=last.kind if not last.ok else "invalid_response",
                    error=(last.error_message or "")[:200] if not last.ok else None,
                    request=last.request_id,
                ),
            )
            if cfg.bisect and len(current) > 1:
                half = len(current) // 2  # splitting does not consume the retry quota (AWS)
                self.pending[0:1] = [current[:half], current[half:]]
                return None
            return current
        lowest = min(failed, key=int)
        index = seqs.index(lowest)
        if index > 0:
            self.finished(current[:index])
        remaining = current[index:]
        log_event(
            "batch_partially_failed",
            logging.WARNING,
            **self.poller.fields(
                size=len(current), retry_from=lowest, failures=len(failed), request=last.request_id
            ),
        )
        self.pending[0] = remaining
        return remaining

    def _retry_or_discard(self, cfg: MappingConfig, remaining: Records) -> None:
        self.attempts += 1
        if 0 <= cfg.max_retry_attempts < self.attempts:
            self._discard(remaining, "RetryAttemptsExhausted")
            self._next_batch()
            return
        self.rt.count("retries")
        backoff = self.rt.retry_backoff * (2 ** (self.attempts - 1))
        self.poller.wait(min(backoff, self.rt.max_retry_backoff))

    def _discard(self, records: Records, condition: str) -> None:
        cfg = self.poller.runner.config
        message = failure_message(
            mapping=cfg,
            shard_id=self.poller.shard_id,
            records=records,
            condition=condition,
            request_id=self.last.request_id if self.last else "",
            invoke_count=self.invokes,
            last_result=self.last,
            now=self.rt.clock(),
        )
        if cfg.on_failure:
            # Until the destination accepts the message the records are not skipped.
            while True:
                try:
                    self.rt.send_to_destination(cfg.on_failure, message)
                    break
                except (ClientError, BotoCoreError) as exc:
                    log_event(
                        "destination_failed", logging.ERROR, **self.poller.fields(error=repr(exc))
                    )
                    self.poller.wait(max(self.rt.poll_interval, 1.0))
        self.finished(records)
        self.rt.count("discarded_batches")
        log_event(
            "batch_discarded",
            logging.WARNING,
            **self.poller.fields(
                condition=condition,
                size=len(records),
                first=records[0]["SequenceNumber"],
                last=records[-1]["SequenceNumber"],
                destination=cfg.on_failure,
            ),
        )
