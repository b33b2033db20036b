"""`starting-positions`: every mapping that must read records already in a stream starts at
TRIM_HORIZON or AT_TIMESTAMP, never LATEST.

AWS: a mapping polls only some time after it is created, updated or enabled, and LATEST is the
stream's tip at that moment, so records written before it are never delivered
(https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html, "Polling and stream starting
positions"). The replicator's mappings are created disabled and enabled at `mirrored`; the new
environment's consumers are paused until `new-live`: at LATEST both would start after the
records the producers wrote to the new streams since the switch.
"""

from __future__ import annotations

from turnout.preflight.live import ConsumerMappings, mapping_place, unjudged
from turnout.preflight.registry import PreflightContext, register
from turnout.preflight.result import Check, Finding, Verdict

NAME = "starting-positions"
STARTING_POSITIONS_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html"
SAFE = ("TRIM_HORIZON", "AT_TIMESTAMP")


@register(NAME)
def starting_positions(context: PreflightContext) -> Check:
    """The replicator's and the new consumers' mappings start before the records they must read."""
    findings = [_replicator(context.spec)]
    if "new" in context.environments:
        for consumer in context.consumer_mappings("new"):
            findings += _consumer(context, consumer)
        findings += _not_readable_kinds(context.spec)
    return Check.of(
        NAME,
        "spec+new" if "new" in context.environments else "spec",
        findings,
        passed="every mapping checked starts at TRIM_HORIZON or AT_TIMESTAMP",
    )


def _replicator(spec) -> Finding:
    position = spec.replication.starting_position
    if position in SAFE:
        return Finding(Verdict.PASS, f"replication.starting_position is {position}")
    return Finding(
        Verdict.FAIL,
        "replication.starting_position is LATEST: the replicator's mappings are enabled at "
        "mirrored, and a mapping created, updated or enabled at LATEST starts at the stream's "
        "tip once it polls, so the records written to the new streams from the switch until "
        f"then never reach the old streams ({STARTING_POSITIONS_DOC})",
        "set replication.starting_position to TRIM_HORIZON (changing it replaces the "
        "replicator's mappings: only while replication is off and drained)",
    )


def _consumer(context: PreflightContext, consumer: ConsumerMappings) -> list[Finding]:
    unseen = unjudged(
        consumer,
        "nothing shows where it will start",
        "create its mappings (disabled, at TRIM_HORIZON) before the migration starts",
    )
    if unseen is not None:
        return unseen
    return [_mapping(context, consumer, mapping) for mapping in consumer.mappings]


def _mapping(context: PreflightContext, consumer: ConsumerMappings, mapping: dict) -> Finding:
    position = mapping.get("StartingPosition") or "TRIM_HORIZON"
    where = mapping_place(context.spec, consumer, mapping)
    if position == "AT_TIMESTAMP":
        stamp = mapping.get("StartingPositionTimestamp")
        return Finding(
            Verdict.PASS,
            f"{where} starts AT_TIMESTAMP {stamp} (it must be no later than the switch; "
            "comparing it with the switch time is not done yet)",
        )
    if position in SAFE:
        return Finding(Verdict.PASS, "")
    return Finding(
        Verdict.FAIL,
        f"{where} starts at {position}: the consumer stays paused until new-live, and a mapping "
        f"enabled at LATEST starts at the stream's tip, so every record written to the new "
        f"stream since the switch is never processed ({STARTING_POSITIONS_DOC})",
        "recreate the new consumers' mappings with StartingPosition TRIM_HORIZON (or "
        "AT_TIMESTAMP no later than the switch), disabled, before the switch",
    )


def _not_readable_kinds(spec) -> list[Finding]:
    """KCL and custom consumers keep their start position in their own configuration."""
    others = [consumer for consumer in spec.consumers.new if consumer.kind != "lambda"]
    return [
        Finding(
            Verdict.WARN,
            f"{consumer.kind}:{getattr(consumer, 'application', None) or consumer.name} (new) "
            "keeps its start position in its own configuration, which turnout cannot read",
            "make sure the new KCL and custom consumers start at TRIM_HORIZON "
            "(KCL: InitialPositionInStream.TRIM_HORIZON)",
        )
        for consumer in others
    ]
