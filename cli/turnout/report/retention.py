"""The retention clock as the journal tells it: at each preflight gate that measured it, how old
the oldest record of each new stream was against the stream's retention, and the time left.

The gates before `switched->mirrored` and `mirrored->new-live` run `retention-clock` (while the
new consumers are paused, a new stream's oldest record is the oldest they have not processed);
a passed gate's entry holds every row it measured (`outcome.checks[].findings`), a refused one
only its error, which names the failing check. A row is one stream's finding at one gate, or one
refusal naming the check.
"""

from __future__ import annotations

from datetime import datetime

from turnout.report.model import RetentionRow
from turnout.report.timeline import entry_time

CHECK = "retention-clock"


def retention_rows(entries: list[dict], start: datetime, end: datetime) -> list[RetentionRow]:
    rows: list[RetentionRow] = []
    for entry in sorted(entries, key=entry_time):
        if entry.get("kind") != "gate":
            continue
        details = entry.get("details", {})
        transition = str(details.get("transition", ""))
        if entry.get("action") == "refused" and CHECK in str(details.get("error", "")):
            rows.append(RetentionRow(entry_time(entry), transition, "refused", details["error"]))
        elif entry.get("action") == "passed":
            for finding in _findings(details.get("outcome")):
                rows.append(
                    RetentionRow(
                        entry_time(entry),
                        transition,
                        str(finding.get("verdict", "")),
                        str(finding.get("fact", "")),
                    )
                )
    return [row for row in rows if start <= row.at <= end]


def _findings(outcome: object) -> list[dict]:
    if not isinstance(outcome, dict):
        return []
    for check in outcome.get("checks") or []:
        if isinstance(check, dict) and check.get("name") == CHECK:
            return list(check.get("findings") or []) or [check]
    return []
