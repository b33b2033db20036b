"""Drain predicates: has a consumer processed everything in its streams, shard by shard?

A predicate answers for one consumer, at one moment, with a verdict per shard:

- `drained`: evidence proves that every record of the shard was processed;
- `not_drained`: evidence shows records the consumer has not processed (yet);
- `unknown`: the evidence that would decide is missing (no metrics, no lease table, a paused
  consumer that cannot acknowledge a marker). An unknown is never treated as drained.

A consumer is drained only when every shard of every stream it reads, open and closed-in-
retention alike, is drained. One class per kind of evidence (`LambdaMarkers`,
`LambdaMetrics`, `KclLeases`, `ReplicatorLedger`), registered in `PREDICATES` when the `turnout.drain`
package is imported; a later kind is one more subclass of `DrainPredicate`, one `@register(...)`
line, and one import in `turnout/drain/__init__.py`.

`wait_until_drained` polls predicates until all are drained or a bounded time ran out, reporting
progress ("waiting for X: 3/8 shards drained, 41 s of 600 s").

Predicates that read shards do it shard by shard on a bounded thread pool (`DrainScope.workers`,
32 by default; the read limits are per shard, so shards can be read side by side). A shard whose
read fails is `unknown`, never drained. See docs/drain.md for the rules of each predicate.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from turnout.drain.discarded import DiscardWatch
from turnout.drain.scope import DrainScope
from turnout.drain.verdicts import ConsumerVerdict, ShardVerdict, Verdict

# --------------------------------------------------------------------------- the interface


class DrainPredicate(ABC):
    """One consumer's drain evidence. `prepare()` once (side effects, idempotent), then `check()`
    as often as needed; each check is a fresh point-in-time verdict. `start()` and `verdict()`
    add what the consumer's on-failure destinations received (`discards`, when watched)."""

    kind: ClassVar[str] = ""
    evidence: ClassVar[str] = ""

    def __init__(self, consumer: Any, scope: DrainScope, **settings: Any) -> None:
        self.consumer = consumer
        self.scope = scope
        self.settings = settings
        self.discards: DiscardWatch | None = None

    def start(self) -> dict:
        prepared = self.prepare()
        if self.discards is not None:
            baselines = self.discards.prepare()
            if baselines:
                prepared = {**prepared, "discard_baselines": baselines}
        return prepared

    def verdict(self) -> ConsumerVerdict:
        verdict = self.check()
        if self.discards is not None:
            verdict.discards = self.discards.check()
        return verdict

    @property
    def consumer_name(self) -> str:
        return consumer_label(self.consumer)

    def prepare(self) -> dict:
        return {}

    @abstractmethod
    def check(self) -> ConsumerVerdict: ...

    def _verdict(self, shards: list[ShardVerdict], note: str = "") -> ConsumerVerdict:
        return ConsumerVerdict(self.consumer_name, self.kind, self.evidence, shards, note)


PREDICATES: dict[tuple[str, str], type[DrainPredicate]] = {}


def register(kind: str, evidence: str) -> Callable[[type[DrainPredicate]], type[DrainPredicate]]:
    def decorate(cls: type[DrainPredicate]) -> type[DrainPredicate]:
        cls.kind, cls.evidence = kind, evidence
        PREDICATES[(kind, evidence)] = cls
        return cls

    return decorate


def consumer_label(consumer: Any) -> str:
    kind = getattr(consumer, "kind", "")
    if kind == "lambda":
        return f"lambda:{consumer.function_name}"
    if kind == "kcl":
        return f"kcl:{consumer.application}"
    if kind == "custom":
        return f"custom:{consumer.name}"
    return str(getattr(consumer, "name", consumer))


def evidence_of(consumer: Any) -> str:
    if consumer.kind == "lambda":
        return consumer.drain_evidence
    if consumer.kind == "kcl":
        return "leases"
    return "none"


def predicate_for(consumer: Any, scope: DrainScope, **settings: Any) -> DrainPredicate:
    cls = PREDICATES.get((consumer.kind, evidence_of(consumer)), NoEvidence)
    return cls(consumer, scope, **settings)


def watch_discards(predicates: list[DrainPredicate], mode: str = "count") -> None:
    """Make every Lambda consumer's verdict read its on-failure destinations
    (`turnout.drain.discarded`; `mode` count or peek)."""
    for predicate in predicates:
        if getattr(predicate.consumer, "kind", "") == "lambda":
            scope = predicate.scope
            predicate.discards = DiscardWatch(
                predicate.consumer,
                scope.spec,
                scope.environment,
                scope.client,
                scope.clock,
                mode,
                scope.dry_run,
            )


class NoEvidence(DrainPredicate):
    """Consumers without a drain predicate (custom consumers, for now): always unknown."""

    kind = "custom"
    evidence = "none"

    def check(self) -> ConsumerVerdict:
        return self._verdict(
            [],
            note="no drain evidence for this kind of consumer: turnout cannot prove it drained "
            "(check it with a user hook and declare it in the spec's hooks)",
        )


# --------------------------------------------------------------------------- waiting


@dataclass
class WaitOutcome:
    verdicts: list[ConsumerVerdict]
    drained: bool
    elapsed: float
    rounds: int

    @property
    def discarded(self) -> bool:
        return any(verdict.final for verdict in self.verdicts)

    def to_dict(self) -> dict:
        return {
            "drained": self.drained,
            "records_discarded": self.discarded,
            "elapsed_seconds": round(self.elapsed, 1),
            "rounds": self.rounds,
            "consumers": [verdict.to_dict() for verdict in self.verdicts],
        }

    def problems(self, limit: int = 12) -> str:
        lines = [line for verdict in self.verdicts for line in verdict.problems()]
        more = f"; and {len(lines) - limit} more" if len(lines) > limit else ""
        return "; ".join(lines[:limit]) + more


def wait_until_drained(
    predicates: list[DrainPredicate],
    *,
    what: str,
    timeout_seconds: float,
    poll_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    progress: Callable[[str], None],
) -> WaitOutcome:
    """Check every predicate until all say drained, or `timeout_seconds` passed, or a consumer
    discarded records (then the last verdicts are returned with drained=False: a discard is
    final, waiting cannot undo it). At least one round always runs.

    The pause between rounds starts at 1 s and doubles up to `poll_seconds`: a drain that takes
    a few seconds (consumers finishing their last batch) is seen when it happens, not a whole
    poll later, and a long one is polled at the usual rate."""
    started = clock()
    rounds = 0
    while True:
        rounds += 1
        verdicts = [predicate.verdict() for predicate in predicates]
        elapsed = clock() - started
        if all(verdict.verdict is Verdict.DRAINED for verdict in verdicts):
            return WaitOutcome(verdicts, True, elapsed, rounds)
        if elapsed >= timeout_seconds or any(verdict.final for verdict in verdicts):
            return WaitOutcome(verdicts, False, elapsed, rounds)
        total = sum(len(verdict.shards) for verdict in verdicts)
        done = sum(verdict.drained_count for verdict in verdicts)
        progress(
            f"waiting for {what}: {done}/{total} shards drained, "
            f"{elapsed:.0f} s of {timeout_seconds:.0f} s"
        )
        pause = min(poll_seconds, float(2 ** min(rounds - 1, 10)))
        sleep(min(pause, max(0.0, timeout_seconds - elapsed)))
