"""`consumer-retries`: the consumers' own mappings that can discard records.

A Lambda consumer whose mapping has finite MaximumRetryAttempts or MaximumRecordAgeInSeconds
drops a failing batch after them, sending only its metadata to its on-failure destination
(https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html; both default
to -1, infinite: https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html).
Its drain evidence then sees the shard processed although records were discarded. Warned, not
failed: the consumer's owner may accept it. The drain and verify verdicts read an SQS
destination and fail on what it received during the migration (`turnout.drain.discarded`); an
SNS or S3 destination cannot be counted there and leaves the consumer unknown; without a
destination the discards leave no trace at all.

The emulator (moto) leaves MaximumRetryAttempts and MaximumRecordAgeInSeconds out (None) when
they were not given; AWS returns -1. Both are read as -1.
"""

from __future__ import annotations

from turnout.preflight.live import ConsumerMappings, mapping_place, unjudged
from turnout.preflight.registry import PreflightContext, register
from turnout.preflight.result import Check, Finding, Verdict

NAME = "consumer-retries"
ON_FAILURE_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html"


@register(NAME, live_only=True)
def consumer_retries(context: PreflightContext) -> Check:
    """The consumers' mappings retry until records expire and send nothing to a failure queue."""
    findings: list[Finding] = []
    for environment in context.environments:
        for consumer in context.consumer_mappings(environment):
            findings += _consumer(context, consumer)
    return Check.of(
        NAME,
        "+".join(context.environments),
        findings,
        passed="no Lambda consumer's mapping discards records (retries and record age -1, "
        "no on-failure destination)",
    )


def _consumer(context: PreflightContext, consumer: ConsumerMappings) -> list[Finding]:
    unseen = unjudged(
        consumer, "its retries cannot be read", "create its mappings before the migration starts"
    )
    if unseen is not None:
        return unseen
    return [f for mapping in consumer.mappings for f in _mapping(context, consumer, mapping)]


def _mapping(context: PreflightContext, consumer: ConsumerMappings, mapping: dict) -> list:
    where = mapping_place(context.spec, consumer, mapping)
    attempts = _unbounded(mapping.get("MaximumRetryAttempts"))
    age = _unbounded(mapping.get("MaximumRecordAgeInSeconds"))
    destination = ((mapping.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
        "Destination"
    )
    findings = []
    limits = [
        text
        for text in (
            f"MaximumRetryAttempts {attempts}" if attempts != -1 else "",
            f"MaximumRecordAgeInSeconds {age}" if age != -1 else "",
        )
        if text
    ]
    if limits:
        findings.append(
            Finding(
                Verdict.WARN,
                f"{where} has {' and '.join(limits)}: after them Lambda discards a failing "
                f"batch and the drain check sees the shard as processed ({ON_FAILURE_DOC})",
                "set MaximumRetryAttempts and MaximumRecordAgeInSeconds to -1 on the "
                "consumers' mappings, or accept and watch the discards",
            )
        )
    if destination:
        findings.append(
            Finding(
                Verdict.WARN,
                f"{where} sends discarded batches to {destination}; the drain and verify checks "
                "fail on what an SQS destination receives during the migration, and cannot "
                "count an SNS or S3 one (unknown, never drained)",
                f"keep {destination} an SQS queue nothing else consumes during the migration; "
                "every message names a shard and sequence range to re-drive while in retention",
            )
        )
    return findings or [Finding(Verdict.PASS, "")]


def _unbounded(value) -> int:
    return -1 if value is None else int(value)
