"""The report's retention-clock section from a journal as the engine writes it: every stream's
`retention-clock` finding of each passed gate, a refusal by that check, in time order; other
checks and gates without it make no row; a migration whose gates never measured it has no
section."""

from __future__ import annotations

from test_report_timeline import T0, Journal

from turnout.preflight.result import Check, Finding, Verdict
from turnout.report.html import render_html
from turnout.report.model import CutoverReport
from turnout.report.retention import retention_rows

CLICKS = "clicks: its oldest record (shardId-000000000000) is 5.0 h old of 24.0 h retention"
ORDERS = "orders: its oldest record (shardId-000000000000) is 23.0 h old of 24.0 h retention"


def gate_passed(journal: Journal, transition: str, *findings: Finding) -> None:
    checks = [
        Check.of("retention-clock", "new", list(findings), passed="every record in retention"),
        Check.of("replicator-retries", "spec", [Finding(Verdict.PASS, "unbounded")], "ok"),
    ]
    outcome = {"checks": [check.to_dict() for check in checks], "accepted": []}
    journal.add("gate", "passed", transition=transition, step="preflight-checks", outcome=outcome)


def migration() -> Journal:
    journal = Journal()
    journal.add("gate", "passed", transition="baseline->switched", outcome={"checks": []})
    gate_passed(
        journal,
        "switched->mirrored",
        Finding(Verdict.PASS, f"{CLICKS}, 19.0 h left before it is trimmed"),
        Finding(Verdict.WARN, f"{ORDERS}: 1.0 h left before Kinesis trims it", "enable them"),
    )
    journal.add(
        "gate",
        "refused",
        transition="mirrored->new-live",
        error="refused before mirrored->new-live by the preflight: retention-clock failed: ...",
    )
    journal.add("gate", "refused", transition="mirrored->new-live", error="starting-positions")
    return journal


def test_each_streams_retention_finding_of_each_gate_and_a_refusal_are_rows_in_time_order():
    journal = migration()
    rows = retention_rows(journal, T0, journal.now)
    assert [(row.transition, row.verdict) for row in rows] == [
        ("switched->mirrored", "pass"),
        ("switched->mirrored", "warn"),
        ("mirrored->new-live", "refused"),
    ]
    assert rows[1].fact == f"{ORDERS}: 1.0 h left before Kinesis trims it"
    assert "retention-clock failed" in rows[2].fact


def test_the_html_report_and_its_summary_show_the_clock_only_when_a_gate_measured_it():
    journal = migration()
    report = CutoverReport("m", T0, journal.now, journal.now, 60)
    assert "Retention clock" not in render_html(report)
    assert report.summary()["retention"] == []
    report.retention = retention_rows(journal, T0, journal.now)
    html = render_html(report)
    assert html.count('<tr class="retention-row"') == 3
    assert 'data-verdict="warn"' in html and "1.0 h left before Kinesis trims it" in html
    assert [row["verdict"] for row in report.summary()["retention"]] == ["pass", "warn", "refused"]
