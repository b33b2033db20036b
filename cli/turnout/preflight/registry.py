"""The named preflight checks and what each one reads.

A check is a function of a `PreflightContext` returning one `Check` row, registered with
`@register(name)`. It always runs (`turnout validate` too) and reads the spec, and also the
environments named by `--env` when it has something to read there (`context.environments`).
`@register(name, live_only=True)`: it has nothing to say without an environment, and runs only
when some are named. A later check is one more module with one `@register` line and
one import in `turnout/preflight/__init__.py`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from turnout.preflight.key_sample import StreamSample, sample_streams
from turnout.preflight.live import ConsumerMappings, read_consumer_mappings
from turnout.preflight.result import Check


@dataclass
class PreflightContext:
    """The spec, the environments to read (none: spec only) and access to them; when the engine
    runs the checks, the migration's live phase and when its switch started."""

    spec: Any
    environments: tuple[str, ...] = ()
    aws: Any = None
    mappings_read: dict[str, list[ConsumerMappings]] = field(default_factory=dict)
    samples_read: dict[tuple[str, float], list[StreamSample]] = field(default_factory=dict)
    # None: the migration state was not read (`turnout preflight`); the gate gives the live phase.
    phase: str | None = None
    # When baseline->switched first started (epoch seconds), None before the switch or unknown.
    switched_at: float | None = None
    # Now on the services' clock (AwsAccess.clock): what arrivals, starting timestamps and the
    # journal's switch time are compared with.
    clock: Callable[[], float] = time.time

    @property
    def switched(self) -> bool | None:
        """Whether the producers may have been switched (None: the state was not read)."""
        return None if self.phase is None else self.phase != "baseline"

    def consumer_mappings(self, environment: str) -> list[ConsumerMappings]:
        """The Lambda consumers' mappings of `environment`, read once per run."""
        if environment not in self.mappings_read:
            self.mappings_read[environment] = read_consumer_mappings(
                self.spec, self.aws, environment
            )
        return self.mappings_read[environment]

    def stream_samples(self, environment: str, window_seconds: float) -> list[StreamSample]:
        """The spec streams of `environment` sampled over the last `window_seconds`, read once
        per run (`hot-keys` and `aggregated-records` look at the same records)."""
        key = (environment, window_seconds)
        if key not in self.samples_read:
            self.samples_read[key] = sample_streams(
                self.spec, self.aws, environment, window_seconds, self.clock
            )
        return self.samples_read[key]


@dataclass(frozen=True)
class CheckDefinition:
    name: str
    live_only: bool
    run: Callable[[PreflightContext], Check]


CHECKS: dict[str, CheckDefinition] = {}


def register(name: str, *, live_only: bool = False) -> Callable[[Callable], Callable]:
    def decorate(run: Callable[[PreflightContext], Check]) -> Callable[[PreflightContext], Check]:
        CHECKS[name] = CheckDefinition(name, live_only, run)
        return run

    return decorate
