"""The report's API switch from a journal as the engine writes it: each apply that changed an
API's weight, and each check of what Route 53 answered, in time order; applies that only carry
the weight along are left out; a rollback's return to the old endpoint is shown."""

from __future__ import annotations

from datetime import timedelta

from test_report_timeline import T0, Journal

from turnout.report.apis import api_switch_rows
from turnout.report.html import render_html
from turnout.report.model import CutoverReport


def applied(journal: Journal, transition: str, step: str, weight: int) -> None:
    inputs = {
        "route_target": "new",
        "active_direction": "new_to_old",
        "api_weights": {"orders": weight},
    }
    journal.add(
        "step", "started", transition=transition, step=step, step_kind="apply", inputs=inputs
    )
    journal.add("step", "completed", transition=transition, step=step, step_kind="apply", after=20)


def answered(journal: Journal, transition: str, weight: int) -> None:
    step = f"api-orders-{weight}-answered"
    journal.add("step", "started", transition=transition, step=step, step_kind="check")
    records = {"old": {"weight": 100 - weight}, "new": {"weight": weight}}
    outcome = {
        "api": "orders",
        "record": "orders.example.com",
        "records": records,
        "new_share": weight,
    }
    journal.add("step", "completed", transition=transition, step=step, outcome=outcome)


def switched_then_rolled_back() -> Journal:
    journal = Journal()
    applied(journal, "mirrored->new-live", "new-live-vars", 0)
    for weight in (50, 100):
        applied(journal, "mirrored->new-live", f"api-orders-{weight}", weight)
        answered(journal, "mirrored->new-live", weight)
    applied(journal, "rollback", "replicate-new-to-old", 100)
    applied(journal, "rollback", "route-back-to-old", 0)
    return journal


def test_each_weight_change_and_each_answer_is_a_row_and_carried_weights_are_not():
    journal = switched_then_rolled_back()
    rows = api_switch_rows(journal, T0, journal.now)
    assert [(row.step, row.new_percent, row.what) for row in rows] == [
        ("new-live-vars", 0, "applied"),
        ("api-orders-50", 50, "applied"),
        ("api-orders-50-answered", 50, "Route 53 answers old 50 / new 50"),
        ("api-orders-100", 100, "applied"),
        ("api-orders-100-answered", 100, "Route 53 answers old 0 / new 100"),
        ("route-back-to-old", 0, "applied"),
    ]
    assert [row.at for row in rows] == sorted(row.at for row in rows)
    assert {row.api for row in rows} == {"orders"}


def test_rows_before_the_window_count_for_what_changed_but_are_not_shown():
    journal = switched_then_rolled_back()
    rows = api_switch_rows(journal, journal.now - timedelta(seconds=30), journal.now)
    assert [(row.step, row.new_percent) for row in rows] == [("route-back-to-old", 0)]


def test_the_html_report_has_the_api_switch_table_only_when_an_api_moved():
    journal = switched_then_rolled_back()
    report = CutoverReport("m", T0, journal.now, journal.now, 60)
    assert "API switch" not in render_html(report)
    report.api_switch = api_switch_rows(journal, T0, journal.now)
    html = render_html(report)
    assert html.count('<tr class="api-row">') == 6
    assert "Route 53 answers old 0 / new 100" in html
    assert report.summary()["api_switch"][1]["new_percent"] == 50
