"""`retention-window`: the planned window (switch -> commit) plus a margin fits every stream's
retention during the cutover: its own, or `cutover.raise_retention_hours` when the spec raises it.

From the switch until the new consumers are enabled at new-live (and, after a rollback, until
the old consumers process what was replicated back), records wait in the streams. Kinesis keeps
a record for the stream's retention period only, 24 hours unless raised, at most 8,760
(https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html); a consumer
enabled after that starts after the trimmed records and never sees them. Raising retention
costs extra per shard-hour beyond 24 hours (https://aws.amazon.com/kinesis/data-streams/pricing/):
the row states that cost when the spec raises it.
"""

from __future__ import annotations

from turnout.preflight.registry import PreflightContext, register
from turnout.preflight.result import Check, Finding, Verdict
from turnout.spec.model import MigrationSpec

NAME = "retention-window"
RETENTION_DOC = "https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html"
PRICING_PAGE = "https://aws.amazon.com/kinesis/data-streams/pricing/"
# Retention up to 24 h is included; 24 h to 7 days is "extended", beyond 7 days "long-term"
# retention, each billed on its own (PRICING_PAGE).
INCLUDED_HOURS = 24
EXTENDED_HOURS = 168


@register(NAME)
def retention_window(context: PreflightContext) -> Check:
    """The planned window plus its margin is shorter than every stream's retention."""
    spec = context.spec
    window = spec.cutover.planned_window_hours
    margin = spec.cutover.retention_margin_hours
    shortest = min(spec.retention_during_cutover(stream) for stream in spec.streams)
    if window is None:
        return Check.of(
            NAME,
            "spec",
            [
                Finding(
                    Verdict.WARN,
                    "no planned window declared: nothing compares the time from the switch to "
                    f"the commit with the streams' retention (the shortest is {shortest} h"
                    f"{_raised_by(spec)})",
                    "declare cutover.planned_window_hours (and cutover.retention_margin_hours, "
                    f"default 6) so that window + margin stays within {shortest} h",
                ),
                *_cost(spec, window),
            ],
            passed="",
        )
    needed = window + margin
    findings = [_stream(spec, stream, window, margin, needed) for stream in spec.streams]
    return Check.of(
        NAME,
        "spec",
        [*findings, *_cost(spec, window)],
        passed=f"planned window {window} h + margin {margin} h = {needed} h is within every "
        f"stream's retention (the shortest is {shortest} h{_raised_by(spec)})",
    )


def _raised_by(spec: MigrationSpec) -> str:
    raised = spec.cutover.raise_retention_hours
    return "" if raised is None else f", raised by cutover.raise_retention_hours = {raised}"


def _stream(spec: MigrationSpec, stream, window: int, margin: int, needed: int) -> Finding:
    kept = spec.retention_during_cutover(stream)
    if needed <= kept:
        return Finding(Verdict.PASS, "")
    raised = spec.cutover.raise_retention_hours
    held = (
        f"keeps records {kept} h during the cutover (cutover.raise_retention_hours)"
        if raised is not None
        else f"keeps records {kept} h"
    )
    return Finding(
        Verdict.FAIL,
        f"stream {stream.name} {held}, less than the planned window {window} h + margin "
        f"{margin} h = {needed} h: records written at the switch would be trimmed before the "
        f"consumers that must read them are enabled ({RETENTION_DOC})",
        f"set cutover.raise_retention_hours to at least {needed} (both environments' streams "
        "keep it from the switch until the commit, then return to their retention_hours; "
        f"extended retention is billed per shard-hour, {PRICING_PAGE}), raise "
        f"streams[{stream.name}].retention_hours for good, or plan a shorter window",
    )


def _cost(spec: MigrationSpec, window: int | None) -> list[Finding]:
    """What raising retention adds to the bill: a fact on a passing row (never a verdict)."""
    raised = spec.cutover.raise_retention_hours
    if raised is None or raised <= INCLUDED_HOURS:
        return []
    newly = [stream for stream in spec.streams if stream.retention_hours <= INCLUDED_HOURS]
    if not newly:
        return [Finding(Verdict.PASS, _already_extended(spec, raised))]
    provisioned = [s for s in newly if s.capacity.mode == "provisioned"]
    shards = 2 * sum(stream.capacity.shards for stream in provisioned)
    during = (
        f"; over the planned window of {window} h that is {shards * window:,} shard-hours"
        if window is not None
        else ""
    )
    on_demand = [s.name for s in newly if s.capacity.mode != "provisioned"]
    text = (
        f"cost: cutover.raise_retention_hours = {raised} h bills extended retention (beyond "
        f"{INCLUDED_HOURS} h) per shard-hour from the switch until the commit: "
        f"{shards} shards ({', '.join(s.name for s in provisioned) or 'no provisioned stream'}, "
        f"both environments) x the hours raised{during}, at the region's price on {PRICING_PAGE}"
    )
    if on_demand:
        text += f"; on-demand stream(s) {', '.join(on_demand)}: billed for it too, per that page"
    if raised > EXTENDED_HOURS:
        text += (
            f"; beyond {EXTENDED_HOURS} h (7 days) the records kept are billed as long-term "
            "retention too"
        )
    return [Finding(Verdict.PASS, text)]


def _already_extended(spec: MigrationSpec, raised: int) -> str:
    text = (
        f"cost: every stream already keeps more than {INCLUDED_HOURS} h (extended retention "
        f"is billed already); raising to {raised} h adds no extended-retention shard-hours"
    )
    if raised > EXTENDED_HOURS:
        text += (
            f", but records kept beyond {EXTENDED_HOURS} h (7 days) are billed as long-term "
            f"retention ({PRICING_PAGE})"
        )
    return text
