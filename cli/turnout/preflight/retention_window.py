"""`retention-window`: the planned window (switch -> commit) plus a margin fits every stream's
retention.

From the switch until the new consumers are enabled at new-live (and, after a rollback, until
the old consumers process what was replicated back), records wait in the streams. Kinesis keeps
a record for the stream's retention period only, 24 hours unless raised, at most 8,760
(https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html); a consumer
enabled after that starts after the trimmed records and never sees them. Raising retention
costs extra per shard-hour beyond 24 hours (https://aws.amazon.com/kinesis/data-streams/pricing/).
"""

from __future__ import annotations

from turnout.preflight.registry import PreflightContext, register
from turnout.preflight.result import Check, Finding, Verdict

NAME = "retention-window"
RETENTION_DOC = "https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html"


@register(NAME)
def retention_window(context: PreflightContext) -> Check:
    """The planned window plus its margin is shorter than every stream's retention."""
    spec = context.spec
    window = spec.cutover.planned_window_hours
    margin = spec.cutover.retention_margin_hours
    if window is None:
        shortest = min(stream.retention_hours for stream in spec.streams)
        return Check.of(
            NAME,
            "spec",
            [
                Finding(
                    Verdict.WARN,
                    "no planned window declared: nothing compares the time from the switch to "
                    f"the commit with the streams' retention (the shortest is {shortest} h)",
                    "declare cutover.planned_window_hours (and cutover.retention_margin_hours, "
                    f"default 6) so that window + margin stays within {shortest} h",
                )
            ],
            passed="",
        )
    needed = window + margin
    findings = [_stream(stream, window, margin, needed) for stream in spec.streams]
    shortest = min(stream.retention_hours for stream in spec.streams)
    return Check.of(
        NAME,
        "spec",
        findings,
        passed=f"planned window {window} h + margin {margin} h = {needed} h is within every "
        f"stream's retention (the shortest is {shortest} h)",
    )


def _stream(stream, window: int, margin: int, needed: int) -> Finding:
    if needed <= stream.retention_hours:
        return Finding(Verdict.PASS, "")
    return Finding(
        Verdict.FAIL,
        f"stream {stream.name} keeps records {stream.retention_hours} h, less than the planned "
        f"window {window} h + margin {margin} h = {needed} h: records written at the switch "
        f"would be trimmed before the consumers that must read them are enabled ({RETENTION_DOC})",
        f"raise streams[{stream.name}].retention_hours to at least {needed} (extended retention "
        "is billed per shard-hour), or plan a shorter window",
    )
