"""`turnout drain-check`: every drain predicate of one environment, once or until drained.

The consumers come from the spec (`consumers.<env>`, each judged by its `drain_evidence`); the
environment's replicator is judged by its ledger when its function is deployed there. Exit codes:
0 every verdict drained, 1 something not drained, 3 something unknown (and nothing not drained).
Read-only, except the marker records put for consumers with `drain_evidence: markers` and the
baseline of each on-failure queue (markers table) when none was recorded yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code
from turnout.drain.base import (
    DrainPredicate,
    consumer_label,
    predicate_for,
    wait_until_drained,
    watch_discards,
)
from turnout.drain.ledger import ReplicatorConsumer, ReplicatorLedger
from turnout.drain.scope import DEFAULT_WORKERS, scope_from_context
from turnout.drain.verdicts import ConsumerVerdict, Verdict, combine
from turnout.errors import TurnoutError

EXIT_CODES = {Verdict.DRAINED: 0, Verdict.NOT_DRAINED: 1, Verdict.UNKNOWN: 3}


@dataclass
class CheckContext:
    """What `scope_from_context` needs, without a cutover run around it."""

    spec: Any
    aws: Any
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    dry_run: bool = False

    def client(self, environment: str, service: str) -> Any:
        return self.aws.client(environment, service)


@dataclass
class DrainReport:
    environment: str
    verdicts: list[ConsumerVerdict]
    skipped: list[str] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def verdict(self) -> Verdict:
        return combine([verdict.verdict for verdict in self.verdicts])

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict:
        return {
            "environment": self.environment,
            "verdict": self.verdict.value,
            "exit_code": self.exit_code,
            "elapsed_seconds": round(self.elapsed, 2),
            "consumers": [verdict.to_dict() for verdict in self.verdicts],
            "skipped": self.skipped,
        }

    def text(self) -> str:
        lines = []
        for verdict in self.verdicts:
            lines.append(
                f"{verdict.consumer} ({verdict.evidence}): {verdict.verdict.value}, "
                f"{verdict.drained_count}/{len(verdict.shards)} shards drained"
                + (f" - {verdict.note}" if verdict.note else "")
            )
            for shard in verdict.shards:
                lines.append(
                    f"  {shard.stream}/{shard.shard}: {shard.verdict.value} ({shard.reason})"
                )
            for discard in verdict.discards:
                lines.append(f"  on-failure {discard.verdict.value}: {discard.reason}")
        lines.extend(f"skipped: {reason}" for reason in self.skipped)
        lines.append(
            f"{self.environment} environment: {self.verdict.value} "
            f"(exit {self.exit_code}; {self.elapsed:.1f} s)"
        )
        return "\n".join(lines)


def consumer_names(consumer: Any) -> set[str]:
    """The names `--consumer` accepts for a consumer: its label and its bare name."""
    label = consumer_label(consumer)
    return {label, label.split(":", 1)[1]}


def select_predicates(
    spec: Any, environment: str, scope: Any, wanted: list[str], settings: dict
) -> tuple[list[DrainPredicate], list[str]]:
    """The predicates to run (spec order, then the replicator) and why anything was skipped.
    Raises TurnoutError naming --consumer when a wanted name matches nothing."""
    consumers = list(getattr(spec.consumers, environment))
    replicator = ReplicatorConsumer(spec, environment)
    replicator_names = {f"replicator:{replicator.function_name}", "replicator"}
    known = sorted(
        {name for consumer in consumers for name in consumer_names(consumer)} | replicator_names
    )
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise TurnoutError(
            f"--consumer {', '.join(unknown)}: no such consumer in the {environment} environment "
            f"of the spec; valid: {', '.join(known)}. Nothing was checked."
        )
    chosen = [
        consumer for consumer in consumers if not wanted or consumer_names(consumer) & set(wanted)
    ]
    predicates = [predicate_for(consumer, scope, **settings) for consumer in chosen]
    skipped = []
    if not wanted or replicator_names & set(wanted):
        if replicator_deployed(scope, replicator.function_name):
            predicates.append(ReplicatorLedger(replicator, scope))
        else:
            skipped.append(
                f"replicator {replicator.function_name} is not deployed in {environment}: "
                "no ledger to check"
            )
    return predicates, skipped


def replicator_deployed(scope: Any, function_name: str) -> bool:
    try:
        scope.client("lambda").get_function(FunctionName=function_name)
    except ClientError as problem:
        if error_code(problem) == "ResourceNotFoundException":
            return False
        raise
    return True


def drain_check(
    spec: Any,
    aws: Any,
    environment: str,
    *,
    consumers: list[str] | None = None,
    wait_seconds: float = 0.0,
    poll_seconds: float = 5.0,
    workers: int = DEFAULT_WORKERS,
    reads_per_second: float = 2.0,
    progress: Callable[[str], None] = lambda message: None,
    settings: dict | None = None,
    discards: str = "count",
) -> DrainReport:
    """One round of every predicate (`wait_seconds` 0), or rounds until all are drained or
    `wait_seconds` passed. Every Lambda consumer's on-failure destinations are read too
    (`discards`: count or peek, `turnout.drain.discarded`)."""
    context = CheckContext(spec=spec, aws=aws)
    scope = scope_from_context(
        context,
        environment,
        reads_per_second=reads_per_second,
        workers=workers,
        progress=progress,
    )
    predicates, skipped = select_predicates(
        spec, environment, scope, list(consumers or []), settings or {}
    )
    watch_discards(predicates, discards)
    started = time.monotonic()
    for predicate in predicates:
        predicate.start()
    if wait_seconds <= 0:
        verdicts = [predicate.verdict() for predicate in predicates]
    else:
        verdicts = wait_until_drained(
            predicates,
            what=f"the {environment} environment's consumers to drain",
            timeout_seconds=wait_seconds,
            poll_seconds=poll_seconds,
            clock=time.time,
            sleep=time.sleep,
            progress=progress,
        ).verdicts
    return DrainReport(environment, verdicts, skipped, time.monotonic() - started)
