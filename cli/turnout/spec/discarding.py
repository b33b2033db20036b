"""Replicator settings that would let its event source mappings discard records.

The spec refuses them when it is loaded (`MigrationSpec`), and the preflight's
`replicator-retries` row reports them for a spec built without that validation; both read this
one list, so the refusal and the row say the same thing.
"""

from __future__ import annotations

from typing import Any

# After the retries or the record age, Lambda sends the batch's metadata (not its records) to
# the on-failure destination and moves on:
# https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html
ON_FAILURE_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html"
# Parallelization factor: several batches of one shard at once, in order per partition key only:
# https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html#kinesis-polling-and-batching
PARALLELIZATION_DOC = (
    "https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html#kinesis-polling-and-batching"
)

_DISCARDS = (
    "Lambda discards the batch (only its metadata reaches the on-failure queue) and moves "
    "on, and the replicator's ledger advances past records that were never copied, so a drain "
    "check would call the gap replicated"
)


def discarding_settings(replication: Any) -> list[tuple[tuple, str]]:
    """(field location, why it loses records and what to set) for each replicator setting that
    lets its mappings drop records; [] when the replicator never discards."""
    problems: list[tuple[tuple, str]] = []
    attempts = replication.retry.maximum_attempts
    if attempts != -1:
        problems.append(
            (
                ("replication", "retry", "maximum_attempts"),
                f"is {attempts}: after {attempts} retries of a failing batch, {_DISCARDS}; use -1 "
                f"(retry until the record expires: the shard waits, visibly, and nothing is "
                f"skipped) ({ON_FAILURE_DOC})",
            )
        )
    age = replication.retry.maximum_record_age_seconds
    if age != -1:
        problems.append(
            (
                ("replication", "retry", "maximum_record_age_seconds"),
                f"is {age}: once a failing batch's records are {age} s old, {_DISCARDS}; use -1 "
                f"(no age limit below the stream's retention) ({ON_FAILURE_DOC})",
            )
        )
    factor = replication.parallelization_factor
    if factor > 1:
        problems.append(
            (
                ("replication", "parallelization_factor"),
                f"is {factor}: Lambda then runs {factor} batches of one shard at once and they "
                "finish out of order, so the ledger's watermark is no longer a contiguous prefix "
                "of the shard and a drain check can call a shard replicated while a lower batch "
                f"still fails; use 1 ({PARALLELIZATION_DOC})",
            )
        )
    return problems
