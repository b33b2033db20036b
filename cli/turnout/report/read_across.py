"""Replication mode read-across as the journal tells it: the old consumers' mappings on the new
streams, per consumer and stream, each time the cutover checked them.

The checks `read-across-enabled` and `read-across-disabled` (hook `verify_read_across`) complete
with every mapping they read (`outcome.mappings`: the consumer and stream, its state); a row is
one mapping in one such check. Copy mode runs neither check: no rows.
"""

from __future__ import annotations

from datetime import datetime

from turnout.report.model import ReadAcrossRow
from turnout.report.timeline import entry_time

CHECKS = ("read-across-enabled", "read-across-disabled")


def read_across_rows(entries: list[dict], start: datetime, end: datetime) -> list[ReadAcrossRow]:
    rows: list[ReadAcrossRow] = []
    for entry in sorted(entries, key=entry_time):
        details = entry.get("details", {})
        outcome = details.get("outcome")
        if (
            entry.get("kind") != "step"
            or entry.get("action") != "completed"
            or details.get("step") not in CHECKS
            or not isinstance(outcome, dict)
        ):
            continue
        for mapping in outcome.get("mappings", []):
            rows.append(
                ReadAcrossRow(
                    entry_time(entry),
                    str(details.get("transition", "")),
                    str(details.get("step")),
                    str(mapping.get("consumer", "")),
                    str(mapping.get("state", "")),
                )
            )
    return [row for row in rows if start <= row.at <= end]
