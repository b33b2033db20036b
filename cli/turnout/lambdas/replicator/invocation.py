"""One invocation: parse, guard, write, record in the ledger, report (docs/replicator.md)."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import accounting
from .budget import Budget
from .config import ReplicatorConfig, StreamRoute
from .decode import ParsedBatch, parse_batch
from .errors import ConfigurationError, MalformedRecordError, RecordTooLargeError, error_code
from .guard import DirectionGuard
from .infra import ClientFactory, JsonLogger, SystemClock, boto3_client_factory, call_seconds
from .ledger import Ledger
from .metrics import emf_line
from .pacing import ShardPacer
from .target import TargetAccount
from .writer import BatchWriter, WriteResult

LEDGER_RETRY_PAUSE_SECONDS = 0.2


@dataclass
class BatchOutcome:
    """What one invocation did; ``response()`` is what Lambda gets back."""

    stream_name: str = ""
    shard_id: str = ""
    record_count: int = 0
    ordering: str = "strict"
    written: int = 0  # successful entry writes in this invocation (copies)
    written_prefix: int = 0  # records [0, written_prefix) all written (their last copy)
    failure_index: int | None = None  # first record Lambda must deliver again
    failure_sequence_number: str | None = None
    stop_reason: str | None = None
    duplicates_resent: int = 0  # copies beyond one per record (accounting.py)
    inversions: int = 0  # copies written ahead of an earlier record's last copy
    unknown_outcome_entries: int = 0  # entries of calls whose outcome nobody knows
    retried_entries: int = 0
    throttles: int = 0
    calls: int = 0
    pacing_waits: int = 0
    credential_refreshes: int = 0
    ledger: str = "skipped"  # advanced | not_advanced | failed | skipped
    replication_lag_ms: float | None = None
    replicated_bytes: int = 0
    seconds: float = 0.0

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
        self.pacer = ShardPacer(
            config.shard_records_per_second,
            config.shard_bytes_per_second,
            config.shard_map_max_age_seconds,
            self.clock,
            self.log,
        )
        self.writer = BatchWriter(
            config, self.target, self.guard, self.pacer, self.clock, rng, self.log
        )
        self.ledger = Ledger(config, client_factory("dynamodb"), self.clock, self.log)
        self._request_id = ""

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, **kwargs: Any) -> Replicator:
        return cls(ReplicatorConfig.from_environment(os.environ if env is None else env), **kwargs)

    def handle(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        return self.process(event, context).response()

    def _budget(self, context: Any) -> Budget:
        remaining_ms = self.config.default_remaining_ms
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            remaining_ms = context.get_remaining_time_in_millis()
        return Budget(self.clock, remaining_ms / 1000.0)

    def _parse(self, event: Mapping[str, Any]) -> ParsedBatch:
        try:
            return parse_batch(event)
        except MalformedRecordError as problem:
            self.log.error(
                "batch_malformed",
                position=problem.position,
                sequence_number=problem.sequence_number,
                problem=problem.problem,
                action="nothing written; function error (retries, bisect, on-failure destination)",
            )
            raise

    def _route(self, batch: ParsedBatch) -> StreamRoute:
        route = self.config.route(batch.stream_name)
        if route is None:
            self.log.error("stream_not_mapped", stream=batch.stream_name)
            raise ConfigurationError(
                f"source stream {batch.stream_name!r} is not in TURNOUT_STREAM_MAP"
            )
        return route

    def process(self, event: Mapping[str, Any], context: Any) -> BatchOutcome:
        request_id = getattr(context, "aws_request_id", None)
        self._request_id = str(request_id or uuid.uuid4())
        self.log.context = {"direction": self.config.direction, "request_id": request_id}
        budget = self._budget(context)
        batch = self._parse(event)
        count = len(batch)
        outcome = BatchOutcome(
            stream_name=batch.stream_name, shard_id=batch.shard_id, record_count=count
        )
        if count == 0:
            return outcome
        route = self._route(batch)
        outcome.ordering = route.ordering
        self.log.context.update(stream=batch.stream_name, shard_id=batch.shard_id)

        writable = self._writable(batch)
        result = self.writer.write(batch, writable, route, budget)
        if result.stop_reason == "direction":
            self._refused(result, len(batch))
        if result.stop_reason is None and writable < count:
            result.stop_reason = "record_too_large"
        failure_index = self._record(outcome, batch, route, result, budget)
        self._finish(outcome, batch, result, failure_index, budget)
        return outcome

    def _writable(self, batch: ParsedBatch) -> int:
        """How many records from the start can be written: up to the first one too large."""
        limit = self.config.max_record_bytes
        oversize = batch.first_oversize_index(limit)
        if oversize is None:
            return len(batch)
        self.log.error(
            "record_too_large",
            sequence_number=batch.sequence_numbers[oversize],
            size=batch.sizes[oversize],
            limit=limit,
            action="batch fails at this record; bisect-on-error, retries and the on-failure "
            "destination handle it",
        )
        if oversize == 0:
            raise RecordTooLargeError(batch.sequence_numbers[0], batch.sizes[0], limit)
        return oversize

    def _refused(self, result: WriteResult, records: int) -> None:
        before = result.calls == 0 and result.copies == 0
        self.log.warning(
            "loop_guard_refused",
            reason=result.stop_detail,
            phase="before-write" if before else "mid-batch",
            records=records,
            action="writing stopped; the batch fails at the first record not written",
        )

    # ------------------------------------------------------------------ ledger

    def _record(
        self,
        outcome: BatchOutcome,
        batch: ParsedBatch,
        route: StreamRoute,
        result: WriteResult,
        budget: Budget,
    ) -> int | None:
        """Advance the ledger for the written prefix; the failure index Lambda gets back."""
        count, prefix = len(batch), result.prefix
        failure_index: int | None = prefix if prefix < count else None
        counted = self._counts(batch, result, prefix if failure_index is not None else count)
        try:
            self._ledger_with_retries(outcome, batch, route, result, counted, budget)
        except (ClientError, BotoCoreError) as exc:
            # Written but not recorded: fail the whole batch so the retry writes it again
            # (duplicates, counted) and records it. The ledger must never claim less than
            # reality without a retry.
            outcome.ledger = "failed"
            outcome.stop_reason = "ledger_error"
            self.log.error("ledger_update_failed", error=error_code(exc))
            return 0
        return failure_index

    def _counts(
        self, batch: ParsedBatch, result: WriteResult, failure_index: int
    ) -> tuple[int, int]:
        """(duplicates, inversions) of this invocation's copies if Lambda resumes there."""
        duplicates = accounting.duplicates(result.copies, failure_index)
        inversions = result.inversions + accounting.future_inversions(
            batch.partition_keys, result.state, failure_index, len(result.state)
        )
        return duplicates, inversions

    def _ledger_with_retries(
        self,
        outcome: BatchOutcome,
        batch: ParsedBatch,
        route: StreamRoute,
        result: WriteResult,
        counted: tuple[int, int],
        budget: Budget,
    ) -> None:
        """The ledger update, tried again while the finish budget has room for an attempt."""
        while True:
            try:
                self._update_ledger(outcome, batch, route, result, counted)
                return
            except (ClientError, BotoCoreError) as exc:
                attempt = call_seconds("dynamodb") + LEDGER_RETRY_PAUSE_SECONDS
                if not budget.allows_finish(attempt):
                    raise
                self.log.warning("ledger_update_retry", error=error_code(exc))
                self.clock.sleep(LEDGER_RETRY_PAUSE_SECONDS)

    def _update_ledger(
        self,
        outcome: BatchOutcome,
        batch: ParsedBatch,
        route: StreamRoute,
        result: WriteResult,
        counted: tuple[int, int],
    ) -> None:
        prefix = result.prefix
        duplicates, inversions = counted
        moved = False
        if prefix > 0:
            moved = self.ledger.advance(
                stream_name=batch.stream_name,
                shard_id=batch.shard_id,
                target_stream=route.target,
                last_sequence_number=batch.sequence_numbers[prefix - 1],
                last_arrival_time=batch.arrivals[prefix - 1],
                records=prefix,
                byte_count=sum(batch.sizes[:prefix]),
                duplicates=duplicates,
                inversions=inversions,
                request_id=self._request_id,
            )
            outcome.ledger = "advanced" if moved else "not_advanced"
        if not moved and (duplicates or inversions):
            self.ledger.add_counts(
                stream_name=batch.stream_name,
                shard_id=batch.shard_id,
                duplicates=duplicates,
                inversions=inversions,
                request_id=self._request_id,
            )

    # ------------------------------------------------------------------ report

    def _finish(
        self,
        outcome: BatchOutcome,
        batch: ParsedBatch,
        result: WriteResult,
        failure_index: int | None,
        budget: Budget,
    ) -> None:
        outcome.written = result.copies
        outcome.written_prefix = result.prefix
        outcome.stop_reason = outcome.stop_reason or result.stop_reason
        for name in ("retried_entries", "throttles", "calls", "credential_refreshes"):
            setattr(outcome, name, getattr(result, name))
        outcome.pacing_waits = result.pacing_waits
        outcome.unknown_outcome_entries = result.unknown_outcome_entries
        outcome.replicated_bytes = result.copied_bytes
        resume = len(batch) if failure_index is None else failure_index
        outcome.duplicates_resent, outcome.inversions = self._counts(batch, result, resume)
        if failure_index is not None:
            outcome.failure_index = failure_index
            outcome.failure_sequence_number = batch.sequence_numbers[failure_index]
        if result.newest_arrival:
            outcome.replication_lag_ms = max(
                0.0, (self.clock.time() - result.newest_arrival) * 1000.0
            )
        outcome.seconds = round(self.clock.monotonic() - budget.started, 3)
        self._emit_metrics(outcome)
        self._summary(outcome, result)

    def _emit_metrics(self, outcome: BatchOutcome) -> None:
        self.log.line(
            emf_line(
                namespace=self.config.metric_namespace,
                direction=self.config.direction,
                stream=outcome.stream_name,
                counts={
                    "ReplicatedRecords": outcome.written,
                    "ReplicatedBytes": outcome.replicated_bytes,
                    "RetriedEntries": outcome.retried_entries,
                    "Throttles": outcome.throttles,
                    "DuplicatesResent": outcome.duplicates_resent,
                    "Inversions": outcome.inversions,
                    "UnknownOutcomeEntries": outcome.unknown_outcome_entries,
                },
                lag_ms=outcome.replication_lag_ms,
                timestamp_ms=int(self.clock.time() * 1000),
                context={"request_id": self.log.context.get("request_id")},
            )
        )

    def _summary(self, outcome: BatchOutcome, result: WriteResult) -> None:
        done = outcome.failure_index is None
        self.log.log(
            "INFO" if done else "WARNING",
            "batch_done" if done else "batch_incomplete",
            records=outcome.record_count,
            ordering=outcome.ordering,
            written=outcome.written,
            written_prefix=outcome.written_prefix,
            failure_sequence_number=outcome.failure_sequence_number,
            stop_reason=outcome.stop_reason,
            duplicates_resent=outcome.duplicates_resent,
            inversions=outcome.inversions,
            unknown_outcome_entries=outcome.unknown_outcome_entries,
            retried_entries=outcome.retried_entries,
            throttles=outcome.throttles,
            calls=outcome.calls,
            pacing_waits=outcome.pacing_waits,
            backoff_ms=round(self.writer.backoff.delay * 1000.0, 1),
            credential_refreshes=outcome.credential_refreshes,
            ledger=outcome.ledger,
            seconds=outcome.seconds,
            replication_lag_ms=(
                None if outcome.replication_lag_ms is None else round(outcome.replication_lag_ms)
            ),
        )
