"""`turnout verify` in replication mode read-across (docs/read-across.md, "Verify"): have the old
Lambda consumers processed every record of the new streams up to the cut?

No copy exists to compare, and a Lambda mapping reports no position per shard (the Lambda API
returns a mapping's state and last result, never its checkpoint). The proof is therefore the
read-across drain's evidence, taken while the producers keep writing:

- the cut: one marker record put into every open shard of each new stream an old consumer reads;
  the old consumer acknowledges it (old environment's markers table) once it has processed every
  record before it in that shard (Lambda delivers a shard in order, and a closed parent before
  its children);
- the read-across mappings retry a failing batch until its records expire and have no
  on-failure destination, so the only way a record before the marker can have been passed over
  is expiry. Hence the retention guard: when less time than the new stream's retention period has
  passed since the switch, no record written since the switch has expired, and an acknowledged
  marker covers every one of them. Otherwise the stream's proof is refused (not passed);
- the old consumers' own on-failure destinations, as `turnout verify` reads them in copy mode:
  a discarded record was never processed.

Side effect: the markers (as `turnout drain-check` puts them). Nothing else is written.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from turnout.drain.base import wait_until_drained, watch_discards
from turnout.drain.check import CheckContext
from turnout.drain.read_across import read_across_predicates, read_across_scope

SECONDS_PER_HOUR = 3600


def retention_guard(spec: Any, kinesis: Any, switched_at: float, now: float) -> dict[str, dict]:
    """Per logical stream: has any record written to the new stream since the switch possibly
    expired (then a marker proves nothing about it)?"""
    guard = {}
    for stream in spec.streams:
        physical = stream.name_in("new")
        summary = kinesis.describe_stream_summary(StreamName=physical)["StreamDescriptionSummary"]
        hours = int(summary["RetentionPeriodHours"])
        elapsed = now - switched_at
        guard[stream.name] = {
            "stream": physical,
            "retention_hours": hours,
            "hours_since_switch": round(elapsed / SECONDS_PER_HOUR, 3),
            "covered": elapsed < hours * SECONDS_PER_HOUR,
        }
    return guard


def prove_read_across(
    spec: Any,
    aws: Any,
    switched_at: float,
    *,
    timeout_seconds: float,
    poll_seconds: float = 5.0,
    workers: int = 8,
    discards: str = "count",
    progress: Callable[[str], None] = lambda message: None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Put the markers (the cut), wait up to `timeout_seconds` for every old consumer to
    acknowledge its own, and return the verdict document (`passed`)."""
    context = CheckContext(spec=spec, aws=aws, clock=clock, sleep=sleep)
    scope = read_across_scope(context, workers=workers, progress=progress)
    guard = retention_guard(spec, scope.client("kinesis"), switched_at, clock())
    predicates = read_across_predicates(scope)
    watch_discards(predicates, discards)
    progress("verify: putting a marker into every open shard of the new streams (the cut)")
    cut = clock()
    for predicate in predicates:
        predicate.start()
    outcome = wait_until_drained(
        predicates,
        what="the old consumers to read the new streams up to the cut",
        timeout_seconds=timeout_seconds,
        poll_seconds=poll_seconds,
        clock=clock,
        sleep=sleep,
        progress=progress,
    )
    covered = all(entry["covered"] for entry in guard.values())
    return {
        "mode": "read-across",
        "switched_at": _iso(switched_at),
        "cut": _iso(cut),
        "timeout_seconds": timeout_seconds,
        "retention": guard,
        "consumers": [verdict.to_dict() for verdict in outcome.verdicts],
        "drained": outcome.drained,
        "seconds": round(outcome.elapsed, 1),
        "passed": outcome.drained and covered,
    }


def proof_text(document: dict) -> str:
    lines = [
        f"verify {'PASSED' if document['passed'] else 'FAILED'} (replication mode read-across): "
        f"the old consumers' read-across mappings "
        + ("processed" if document["drained"] else "did NOT prove they processed")
        + f" every record of the new streams from the switch ({document['switched_at']}) up to "
        f"the cut ({document['cut']}); {document['seconds']} s of at most "
        f"{document['timeout_seconds']:g} s"
    ]
    for name, entry in document["retention"].items():
        state = (
            "no record since the switch can have expired"
            if entry["covered"]
            else "records since the switch may have EXPIRED unread: not provable, see the drain "
            "verdicts of the rollback or the cutover report"
        )
        lines.append(
            f"  {name} ({entry['stream']}): retention {entry['retention_hours']} h, "
            f"{entry['hours_since_switch']:g} h since the switch: {state}"
        )
    for consumer in document["consumers"]:
        lines.append(
            f"  {consumer['consumer']}: {consumer['verdict']}, {consumer['drained_shards']}/"
            f"{len(consumer['shards'])} shards past the cut"
            + (f" - {consumer['note']}" if consumer.get("note") else "")
        )
        for shard in consumer["shards"]:
            lines.append(
                f"    {shard['stream']}/{shard['shard']}: {shard['verdict']} ({shard['reason']})"
            )
        for discard in consumer.get("discards", []):
            lines.append(f"    on-failure {discard['verdict']}: {discard['reason']}")
    return "\n".join(lines)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


__all__ = ["proof_text", "prove_read_across", "retention_guard"]
