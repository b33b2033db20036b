"""The emulator's schedule runs and alarm evaluation, as pure functions (the emulator test is
tests/integration/test_fidelity_schedules_alarms.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from turnout.sandbox.emulator.scheduled_work import decide, latest_run


def schedule(expression: str, start=None, end=None, created=1000.0, timezone="UTC"):
    return SimpleNamespace(
        schedule_expression=expression,
        schedule_expression_timezone=timezone,
        start_date=start,
        end_date=end,
        creation_date=created,
    )


def test_a_rate_schedule_is_due_from_its_start_every_rate():
    every_minute = schedule("rate(1 minute)", start=10_000.0)
    assert latest_run(every_minute, 9_999.0) is None
    assert latest_run(every_minute, 10_000.0) == (10_000.0, 0)
    assert latest_run(every_minute, 10_179.0) == (10_120.0, 2)


def test_a_schedule_without_a_start_runs_from_its_creation_and_stops_at_its_end():
    hourly = schedule("rate(2 hours)", created=0.0, end=5 * 3600.0)
    assert latest_run(hourly, 3 * 3600.0) == (7200.0, 1)
    assert latest_run(hourly, 100 * 3600.0) == (4 * 3600.0, 2)


def test_an_at_schedule_runs_once_at_its_utc_moment_and_cron_or_other_zones_not_at_all():
    once = schedule("at(1970-01-01T01:00:00)")
    assert latest_run(once, 3599.0) is None
    assert latest_run(once, 9999.0) == (3600.0, 0)
    assert latest_run(schedule("at(1970-01-01T01:00:00)", timezone="Europe/Paris"), 9e9) is None
    assert latest_run(schedule("cron(0 * * * ? *)"), 9e9) is None


def test_iso_start_dates_are_read_as_utc():
    assert latest_run(schedule("rate(5 minutes)", start="1970-01-01T00:10:00"), 600.0) == (
        600.0,
        0,
    )


@pytest.mark.parametrize(
    ("values", "to_alarm", "missing", "state"),
    [
        ([80.0], 1, "notBreaching", "ALARM"),
        ([10.0], 1, "notBreaching", "OK"),
        ([None], 1, "notBreaching", "OK"),
        ([None], 1, "breaching", "ALARM"),
        ([None], 1, "missing", "INSUFFICIENT_DATA"),
        ([None], 1, "ignore", None),
        ([80.0, 10.0, 90.0], 2, "missing", "ALARM"),  # 2 of 3
        ([80.0, 10.0, None], 2, "missing", "OK"),
        ([80.0, 10.0, None], 2, "breaching", "ALARM"),
    ],
)
def test_an_alarm_is_in_alarm_when_m_of_its_n_periods_breach(values, to_alarm, missing, state):
    assert decide(values, 50.0, "GreaterThanOrEqualToThreshold", to_alarm, missing) == state


def test_an_alarm_with_an_unknown_comparison_keeps_its_state():
    assert decide([80.0], 50.0, "LessThanLowerOrGreaterThanUpperThreshold", 1, "missing") is None
