"""`replicator-retries`: the replicator's mappings never discard a batch and keep one batch per
shard in flight.

The spec refuses other values when it is loaded (`turnout.spec.discarding`), so a loaded spec
always passes; the row is there for the table, and for a spec built in code without
validation (`model_copy`), which it fails with the same reasons.
"""

from __future__ import annotations

from turnout.preflight.registry import PreflightContext, register
from turnout.preflight.result import Check, Finding, Verdict
from turnout.spec.discarding import discarding_settings

NAME = "replicator-retries"


@register(NAME)
def replicator_retries(context: PreflightContext) -> Check:
    """The replicator retries until a record expires and runs one batch per shard at a time."""
    replication = context.spec.replication
    findings = [
        Finding(
            Verdict.FAIL,
            f"{'.'.join(location)} {reason}",
            f"set {'.'.join(location)} to {1 if location[-1] == 'parallelization_factor' else -1}",
        )
        for location, reason in discarding_settings(replication)
    ]
    return Check.of(
        NAME,
        "spec",
        findings,
        passed=(
            f"maximum_attempts {replication.retry.maximum_attempts}, "
            f"maximum_record_age_seconds {replication.retry.maximum_record_age_seconds} "
            f"(-1: never discards), parallelization_factor {replication.parallelization_factor}"
        ),
    )
