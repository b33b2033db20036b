"""The report's read-across section from a journal as the engine writes it: each mapping of each
`read-across-enabled` / `read-across-disabled` check, per consumer and new stream, in time
order; a failed check and other steps make no row; copy mode (no such check) has no section."""

from __future__ import annotations

from datetime import timedelta

from test_report_timeline import T0, Journal

from turnout.report.html import render_html
from turnout.report.model import CutoverReport
from turnout.report.read_across import read_across_rows

PAIRS = (
    "lambda:legacy-clicks-processor on new clicks",
    "lambda:legacy-audit-archiver on new audit",
)


def checked(journal: Journal, transition: str, state: str, action: str = "completed") -> None:
    step = f"read-across-{state.lower()}"
    journal.add("step", "started", transition=transition, step=step, step_kind="check")
    mappings = [
        {"consumer": pair, "uuid": f"u-{i}", "state": state} for i, pair in enumerate(PAIRS)
    ]
    outcome = {"wanted": state, "mappings": mappings, "wrong": []}
    journal.add("step", action, transition=transition, step=step, outcome=outcome)


def committed() -> Journal:
    journal = Journal()
    checked(journal, "switched->mirrored", "Enabled")
    journal.add("step", "completed", transition="mirrored->new-live", step="new-live-vars")
    checked(journal, "new-live->committed", "Disabled", action="failed")
    checked(journal, "new-live->committed", "Disabled")
    return journal


def test_each_mapping_of_each_read_across_check_is_a_row_in_time_order():
    journal = committed()
    rows = read_across_rows(journal, T0, journal.now)
    assert [(row.transition, row.mapping, row.state) for row in rows] == [
        ("switched->mirrored", PAIRS[0], "Enabled"),
        ("switched->mirrored", PAIRS[1], "Enabled"),
        ("new-live->committed", PAIRS[0], "Disabled"),
        ("new-live->committed", PAIRS[1], "Disabled"),
    ]
    later = read_across_rows(journal, journal.now - timedelta(seconds=1), journal.now)
    assert {row.state for row in later} == {"Disabled"}


def test_the_html_report_and_its_summary_show_the_read_across_mappings_only_in_that_mode():
    journal = committed()
    report = CutoverReport("m", T0, journal.now, journal.now, 60)
    assert "Read-across" not in render_html(report)
    assert report.summary()["read_across"] == []
    report.read_across = read_across_rows(journal, T0, journal.now)
    html = render_html(report)
    assert html.count('<tr class="read-across-row">') == 4
    assert "lambda:legacy-audit-archiver on new audit" in html
    summary = report.summary()["read_across"]
    assert (summary[0]["state"], summary[-1]["state"]) == ("Enabled", "Disabled")
