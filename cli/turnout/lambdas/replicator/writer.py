"""Write one parsed batch to its target stream: schedule, pace, call, acknowledge, back off.

The schedule (near-prefix, strict or relaxed order) is in schedule.py, pacing per target shard
in pacing.py, the delay between calls in backoff.py, the time budget in budget.py. Calls are
made one at a time. Every entry that did not make it is sent again later; nothing is dropped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .backoff import Backoff
from .budget import Budget
from .config import MAX_RECORDS_PER_CALL, ReplicatorConfig, StreamRoute
from .decode import ParsedBatch
from .errors import (
    CREDENTIAL_ERROR_CODES,
    PERMANENT_ENTRY_ERROR_CODES,
    THROTTLE_ERROR_CODES,
    error_code,
    outcome_unknown,
    retryable_call_error,
)
from .guard import OUT_OF_TIME, DirectionGuard
from .infra import JsonLogger, call_seconds
from .pacing import UNPACED, ShardMap, ShardPacer
from .schedule import CallScheduler
from .target import TargetAccount

PAUSE_FLOOR_SECONDS = 0.001  # the shortest wait for a full shard's window to move


@dataclass
class WriteResult:
    state: bytearray = field(default_factory=bytearray)  # schedule.DONE: last copy written
    prefix: int = 0  # records [0, prefix) are all done
    copies: int = 0  # successful entry writes (a record written twice counts twice)
    copied_bytes: int = 0
    newest_arrival: float | None = None
    inversions: int = 0  # copies flagged when made (see accounting.py)
    unknown_outcome_entries: int = 0
    calls: int = 0
    retried_entries: int = 0
    throttles: int = 0
    credential_refreshes: int = 0
    pacing_waits: int = 0
    stop_reason: str | None = None  # why writing stopped early, None when done
    stop_detail: str | None = None


@dataclass
class _Run:
    """One batch being written."""

    batch: ParsedBatch
    count: int
    stream: str
    scheduler: CallScheduler
    budget: Budget
    result: WriteResult
    shard_map: ShardMap | None = None
    shards: list[int] = field(default_factory=list)
    map_wanted: bool = True
    credential_failures: int = 0


class BatchWriter:
    def __init__(
        self,
        config: ReplicatorConfig,
        target: TargetAccount,
        guard: DirectionGuard,
        pacer: ShardPacer,
        clock: Any,
        rng: random.Random,
        logger: JsonLogger,
    ) -> None:
        self._config = config
        self._target = target
        self._guard = guard
        self._pacer = pacer
        self._clock = clock
        self._log = logger
        # Kept across invocations: the target's condition outlives one batch.
        self.backoff = Backoff(
            config.backoff_step_seconds,
            config.backoff_call_seconds,
            config.backoff_cap_seconds,
            rng,
        )

    def write(
        self, batch: ParsedBatch, count: int, route: StreamRoute, budget: Budget
    ) -> WriteResult:
        """Write records [0, count) of ``batch`` until done or out of time."""
        scheduler = CallScheduler(
            batch.partition_keys, count, relaxed=route.relaxed, window=self._config.prefix_window
        )
        run = _Run(batch, count, route.target, scheduler, budget, WriteResult())
        run.shards = [UNPACED] * count
        while scheduler.prefix < count and run.result.stop_reason is None:
            if not self._ready(run):
                break
            allowance = self._pacer.allowance(run.stream, run.shard_map)
            call = scheduler.take(
                batch.sizes,
                run.shards,
                allowance,
                MAX_RECORDS_PER_CALL,
                self._config.max_request_bytes,
            )
            if not call:
                self._wait_for_room(run)
                continue
            taken = allowance.taken() if allowance is not None else {}
            if run.shard_map is not None:
                self._pacer.took(run.stream, run.shard_map, taken)
            self._send(run, call, taken)
            scheduler.advance()
            if run.result.stop_reason is None and scheduler.prefix < count:
                self._pause(run)
        result = run.result
        result.prefix = scheduler.prefix
        result.state = scheduler.state
        return result

    # ------------------------------------------------------------------ before a call

    def _ready(self, run: _Run) -> bool:
        """Time for the guard, the shard map and a whole call; the guard agrees."""
        put = call_seconds("kinesis")
        reads = self._guard.read_seconds()
        prepare = reads + self._target.refresh_seconds(after=reads)
        if not run.budget.allows(prepare + put):
            return self._stop(run, "time")
        refusal = self._guard.refusal(lambda seconds: run.budget.allows(seconds + put))
        if refusal == OUT_OF_TIME:
            return self._stop(run, "time")
        if refusal is not None:
            return self._stop(run, "direction", refusal)
        if run.map_wanted and run.budget.allows(2 * put):  # ListShards, then the call
            self._map_shards(run)  # (without time for it, this call goes unpaced)
        if not run.budget.allows(self._target.refresh_seconds() + put):
            return self._stop(run, "time")
        return True

    def _map_shards(self, run: _Run) -> None:
        run.map_wanted = False
        try:
            kinesis = self._target.kinesis()
        except (ClientError, BotoCoreError):
            return  # unpaced this time; the call itself will meet the same problem
        run.shard_map = self._pacer.shard_map(run.stream, kinesis)
        if run.shard_map is None:
            run.shards = [UNPACED] * run.count
            return
        run.shards = run.shard_map.shards_of(run.batch.partition_keys[: run.count])
        for position, aimed in run.batch.aimed_hash_keys.items():
            if position < run.count:
                run.shards[position] = run.shard_map.shard_of_hash(aimed)

    def _wait_for_room(self, run: _Run) -> None:
        """Nothing could be taken: the oldest eligible record's shard is full for now."""
        oldest = run.scheduler.oldest_eligible()
        if oldest is None or run.shard_map is None or run.shards[oldest] == UNPACED:
            self._stop(run, "internal", "no record could be scheduled")
            return
        shard, size = run.shards[oldest], run.batch.sizes[oldest]
        wait = max(
            PAUSE_FLOOR_SECONDS,
            self._pacer.seconds_until_room(run.stream, run.shard_map, shard, size),
        )
        if not run.budget.allows(wait + call_seconds("kinesis")):
            self._stop(run, "time")
            return
        run.result.pacing_waits += 1
        self._clock.sleep(wait)

    def _pause(self, run: _Run) -> None:
        wait = self.backoff.draw()
        if wait <= 0.0:
            return
        if not run.budget.allows(wait + call_seconds("kinesis")):
            self._stop(run, "time")
            return
        self._clock.sleep(wait)

    def _stop(self, run: _Run, reason: str, detail: str | None = None) -> bool:
        run.result.stop_reason, run.result.stop_detail = reason, detail
        return False

    # ------------------------------------------------------------------ the call

    def _send(self, run: _Run, call: list[int], taken: dict[int, list]) -> None:
        entries = run.batch.entries
        try:
            response = self._target.kinesis().put_records(
                StreamName=run.stream, Records=[entries[index] for index in call]
            )
        except (ClientError, BotoCoreError) as exc:
            self._charge(run, taken, self._clock.monotonic())
            self._call_failed(run, call, exc)
            return
        answered = self._clock.monotonic()  # before reading the answer: its CPU is not latency
        run.result.calls += 1
        run.credential_failures = 0
        outcomes = response.get("Records") if isinstance(response, dict) else None
        if not isinstance(outcomes, list) or len(outcomes) != len(call):
            # An answer that cannot be read: the entries may or may not be in the target.
            self._charge(run, taken, answered)
            self._log.warning("put_records_answer_unreadable", entries=len(call))
            self._again(run, call, unknown=True)
            self.backoff.after_call_failure()
            return
        accept = self._accept_relaxed if run.scheduler.relaxed else self._accept_strict
        written = accept(run, call, outcomes)
        if self._book(run, call, outcomes, written):
            self._charge(run, taken, answered, call, outcomes)  # resharded: where they went
        else:
            self._charge(run, taken, answered)

    def _charge(
        self,
        run: _Run,
        taken: dict[int, list],
        answered: float,
        call: list[int] | None = None,
        outcomes: list[dict] | None = None,
    ) -> None:
        """Charge the call, at the moment it was answered, to the shards its entries went to:
        as taken (the map's prediction, also for a call that failed: its entries may have
        arrived), or, when an answer showed a resharding, the shard the answer names for each
        entry."""
        shard_map = run.shard_map
        if shard_map is None:
            return
        ids = shard_map.ids
        if call is None or outcomes is None:
            used = {ids[shard]: used for shard, used in taken.items()}
            self._pacer.charge(run.stream, used, answered)
            return
        shards, sizes = run.shards, run.batch.sizes
        per_shard: dict[str, list[int]] = {}
        for index, outcome in zip(call, outcomes, strict=True):
            named = outcome.get("ShardId") or (ids[shards[index]] if shards[index] >= 0 else None)
            if named is not None:
                charged = per_shard.setdefault(named, [0, 0])
                charged[0] += 1
                charged[1] += sizes[index]
        self._pacer.charge(run.stream, per_shard, answered)

    def _again(self, run: _Run, call: list[int], *, unknown: bool) -> None:
        again = run.scheduler.again
        for index in call:
            again(index)
        run.result.retried_entries += len(call)
        if unknown:
            run.result.unknown_outcome_entries += len(call)

    def _call_failed(self, run: _Run, call: list[int], exc: Exception) -> None:
        """The whole call failed: every entry goes back; throttling and errors back off."""
        result = run.result
        code = error_code(exc)
        if isinstance(exc, ClientError) and code in CREDENTIAL_ERROR_CODES:
            self._target.invalidate(code)
            result.credential_refreshes += 1
            self._again(run, call, unknown=False)
            run.credential_failures += 1
            if run.credential_failures > 1:  # fresh credentials rejected too: back off
                self.backoff.after_call_failure()
            return
        if not retryable_call_error(exc):
            for index in call:
                run.scheduler.again(index)
            self._log.error("put_records_failed", error=code, stream=run.stream, entries=len(call))
            self._stop(run, "write_error", code)
            return
        self._again(run, call, unknown=outcome_unknown(exc))
        if code in THROTTLE_ERROR_CODES:
            result.throttles += 1
        self.backoff.after_call_failure()
        self._log.warning("put_records_retry", error=code, entries=len(call))

    # ------------------------------------------------------------------ the answer

    def _book(self, run: _Run, call: list[int], outcomes: list[dict], written: list[int]) -> bool:
        """Count the copies an answer proves (positions ``written`` of the call); True when one
        landed in a shard the map did not predict: the stream was resharded, and the map is
        read again before the next call."""
        result, sizes, arrivals = run.result, run.batch.sizes, run.batch.arrivals
        indices = [call[position] for position in written]
        if not indices:
            return False
        result.copies += len(indices)
        result.copied_bytes += sum([sizes[index] for index in indices])
        newest = max([arrivals[index] for index in indices])
        if result.newest_arrival is None or newest > result.newest_arrival:
            result.newest_arrival = newest
        shard_map = run.shard_map
        if shard_map is None or run.map_wanted:
            return False
        ids, shards = shard_map.ids, run.shards
        for position, index in zip(written, indices, strict=True):
            shard = shards[index]
            if shard != UNPACED and outcomes[position].get("ShardId") != ids[shard]:
                self._pacer.invalidate(run.stream)
                run.map_wanted = True
                self._log.info("target_shards_changed", stream=run.stream)
                return True
        return False

    def _failed_entry(self, run: _Run, code: str) -> bool:
        """Classify one failed entry; True when it can never succeed in this invocation."""
        if code in THROTTLE_ERROR_CODES:
            run.result.throttles += 1
        return code in PERMANENT_ENTRY_ERROR_CODES

    def _accept_strict(self, run: _Run, call: list[int], outcomes: list[dict]) -> list[int]:
        """Positions of the call's successful entries; each releases its key's next record."""
        scheduler = run.scheduler
        written = [
            position for position, outcome in enumerate(outcomes) if not outcome.get("ErrorCode")
        ]
        failed, permanent = len(call) - len(written), None
        if failed:
            for position, outcome in enumerate(outcomes):
                code = outcome.get("ErrorCode")
                if code:
                    scheduler.again(call[position])
                    if self._failed_entry(run, code):
                        permanent = code
        scheduler.done([call[position] for position in written])
        self._settle(run, len(call), failed, permanent)
        return written

    def _accept_relaxed(self, run: _Run, call: list[int], outcomes: list[dict]) -> list[int]:
        """Positions of the call's successful entries. A key's entries after a failed (or
        out-of-order stored) entry of that key go again, in order, so that the key's last
        copies end in source order."""
        scheduler, keys = run.scheduler, run.batch.partition_keys
        again = scheduler.again
        failed, resent, permanent = 0, 0, None
        repairing: set[str] = set()
        last_sequence: dict[str, tuple[int, str]] = {}
        written: list[int] = []
        final: list[int] = []  # the records whose copy is their last
        for position, (index, outcome) in enumerate(zip(call, outcomes, strict=True)):
            key = keys[index]
            code = outcome.get("ErrorCode")
            if code:
                failed += 1
                again(index)
                repairing.add(key)
                if self._failed_entry(run, code):
                    permanent = code
                continue
            written.append(position)
            sequence = str(outcome.get("SequenceNumber") or "")
            stored = (len(sequence), sequence)
            previous = last_sequence.get(key)
            if key in repairing or (previous is not None and stored < previous):
                resent += 1  # written ahead of an earlier record's last copy: an inversion
                again(index)
                repairing.add(key)
                continue
            last_sequence[key] = stored
            final.append(index)
        scheduler.done(final)
        run.result.inversions += resent
        run.result.retried_entries += resent
        self._settle(run, len(call), failed, permanent)
        return written

    def _settle(self, run: _Run, sent: int, failed: int, permanent: str | None) -> None:
        run.result.retried_entries += failed
        self.backoff.after_entries(sent, failed)
        if permanent is not None:
            self._log.error("put_records_entry_failed", error=permanent, stream=run.stream)
            self._stop(run, "write_error", permanent)
