"""The alarm gate of an API step: only OK is healthy; a missing alarm is one paragraph naming
the spec field, read before anything changes (fakes stand in for CloudWatch)."""

from __future__ import annotations

import pytest

from turnout.apis.health import observe_alarm
from turnout.apis.preflight import ApiUnready, alarm_gate
from turnout.spec.apis import Api


class FakeCloudWatch:
    def __init__(self, alarms: dict[str, str]) -> None:
        self.alarms = alarms

    def describe_alarms(self, AlarmNames: list[str], AlarmTypes: list[str]) -> dict:
        found = [n for n in AlarmNames if n in self.alarms]
        return {
            "MetricAlarms": [
                {"AlarmName": n, "StateValue": self.alarms[n], "StateReason": "r"} for n in found
            ]
        }


class FakeContext:
    def __init__(self, cloudwatch: FakeCloudWatch) -> None:
        self.cloudwatch = cloudwatch
        self.asked: list[tuple[str, str]] = []

    def client(self, environment: str, service: str):
        self.asked.append((environment, service))
        return self.cloudwatch


def api(alarm: dict | None) -> Api:
    return Api.model_validate(
        {
            "name": "orders",
            "zone": "example.com",
            "record": "orders.example.com",
            "endpoints": {"old": "orders-old.example.com", "new": "orders-new.example.com"},
            "health_check": {"alarm": alarm} if alarm else {},
        }
    )


@pytest.mark.parametrize(
    ("state", "healthy"), [("OK", True), ("ALARM", False), ("INSUFFICIENT_DATA", False)]
)
def test_only_an_ok_alarm_counts_as_healthy(state, healthy):
    seen = observe_alarm(FakeCloudWatch({"orders-5xx": state}), "orders-5xx")
    assert seen.healthy is healthy and seen.text() == f"alarm state {state} (r)"


def test_a_missing_alarm_is_refused_naming_the_field_and_the_environment():
    context = FakeContext(FakeCloudWatch({}))
    with pytest.raises(ApiUnready) as refused:
        alarm_gate(context, api({"name": "orders-5xx"}), 0)
    message = str(refused.value)
    assert "apis[0].health_check.alarm.name" in message and "'orders-5xx'" in message
    assert "new environment's account" in message and "Nothing was changed" in message
    assert context.asked == [("new", "cloudwatch")]


def test_an_existing_alarm_is_reported_with_its_state_and_none_is_not_read():
    context = FakeContext(FakeCloudWatch({"orders-5xx": "OK"}))
    gate = alarm_gate(context, api({"name": "orders-5xx", "environment": "old"}), 0)
    assert gate == {"alarm": "orders-5xx", "alarm_state": "OK"}
    assert context.asked == [("old", "cloudwatch")]
    assert alarm_gate(FakeContext(FakeCloudWatch({})), api(None), 0) == {}


def test_an_alarm_name_with_a_control_character_is_refused_by_the_spec():
    with pytest.raises(ValueError, match="alarm"):
        api({"name": "bad\nname"})
