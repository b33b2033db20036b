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

from datetime import UTC, datetime
from typing import Any

from turnout.preflight.live import ConsumerMappings, mapping_place, unjudged
from turnout.preflight.registry import PreflightContext, register
from turnout.preflight.result import Check, Finding, Verdict

NAME = "starting-positions"
STARTING_POSITIONS_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html"
SAFE = ("TRIM_HORIZON", "AT_TIMESTAMP")
# AT_TIMESTAMP: "the time from which to start reading"; Kinesis returns the records that arrived
# at or after it (GetShardIterator, AT_TIMESTAMP).
AT_TIMESTAMP_DOC = (
    "https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetShardIterator.html"
)
RESTART = (
    "recreate the mapping, disabled, with StartingPosition TRIM_HORIZON (or AT_TIMESTAMP no "
    "later than the switch): while the new consumers are paused the stream still holds what "
    "was written since the switch"
)


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
        return _at_timestamp(context, where, mapping.get("StartingPositionTimestamp"))
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


def _at_timestamp(context: PreflightContext, where: str, raw: Any) -> Finding:
    """AT_TIMESTAMP reads from the first record that arrived at or after the timestamp, so the
    mapping must start no later than the first record written to the new stream after the
    switch: no later than the moment the switch started."""
    stamp = _epoch(raw)
    if stamp is None:
        return Finding(
            Verdict.UNKNOWN,
            f"{where} starts AT_TIMESTAMP but its StartingPositionTimestamp ({raw!r}) is not a "
            "time: where it starts cannot be compared with the switch",
            RESTART,
        )
    starts = f"{where} starts AT_TIMESTAMP {_shown(stamp)}"
    now = context.clock()
    if context.switched is not True and stamp > now:
        state = "has not started" if context.switched is False else "is not known here"
        return Finding(
            Verdict.FAIL,
            f"{starts}, later than now ({_shown(now)}): the switch {state}, and every record "
            f"written to the new stream from the switch until that time would never be "
            f"processed ({AT_TIMESTAMP_DOC})",
            RESTART,
        )
    if context.switched is None:
        return Finding(
            Verdict.PASS,
            f"{starts}, before now (the cutover's gate compares it with the switch time; "
            "`turnout preflight` does not read the migration state)",
        )
    if context.switched is False:
        return Finding(Verdict.PASS, f"{starts}, before the switch, which has not started")
    if context.switched_at is None:
        return Finding(
            Verdict.UNKNOWN,
            f"{starts}, and the journal holds no start of baseline->switched to compare it with",
            RESTART,
        )
    switch = _shown(context.switched_at)
    if stamp > context.switched_at:
        return Finding(
            Verdict.FAIL,
            f"{starts}, later than the switch, which started at {switch}: the records written to "
            f"the new stream from {switch} to {_shown(stamp)} are never processed "
            f"({AT_TIMESTAMP_DOC})",
            RESTART,
        )
    return Finding(Verdict.PASS, f"{starts}, no later than the switch ({switch})")


def _epoch(raw: Any) -> float | None:
    """boto3 gives the timestamp as a datetime; a number is Unix seconds."""
    if isinstance(raw, datetime):
        return raw.timestamp()
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    return None


def _shown(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


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
