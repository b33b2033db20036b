"""The `aws` profile runs EventBridge Scheduler schedules and evaluates CloudWatch alarms on the
sandbox clock, as AWS does and moto does not (turnout.sandbox.emulator.scheduled_work).

AWS: a rate schedule runs its target from its start date on, every rate
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html); the universal
target `aws-sdk:cloudwatch:putMetricData` calls PutMetricData with the schedule's input
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-universal.html); an
alarm goes to ALARM when its statistic breaches the threshold for DatapointsToAlarm of its
EvaluationPeriods and back to OK when it does not, missing data counting as TreatMissingData says
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html).
The schedule and alarm are the shapes modules/monitoring's buffered-retention reminder creates.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from clock_kit import fast_clock_emulator

from turnout.sandbox.emulator.launcher import Emulator
from turnout.sandbox.emulator.profile import FAST

pytestmark = pytest.mark.integration

CLOCK_RATE = 600.0  # an hour every 6 real seconds
NAMESPACE = "Turnout/Test"
METRIC = "BufferedRetentionPercent"
DIMENSIONS = [{"Name": "Buffer", "Value": "scheduled-work"}]


def reminder_at(emulator, start: float, percent: float) -> tuple[str, str]:
    """A rate(1 minute) schedule from `start` (sandbox clock) putting `percent`, and an alarm on
    it (Maximum >= percent over 60 s, missing data not breaching), as modules/monitoring does."""
    name = f"reminder-{int(percent)}"
    emulator.client("scheduler", "old").create_schedule(
        Name=name,
        ScheduleExpression="rate(1 minute)",
        StartDate=datetime.fromtimestamp(start, UTC),
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": "arn:aws:scheduler:::aws-sdk:cloudwatch:putMetricData",
            "RoleArn": "arn:aws:iam::111111111111:role/reminders",
            "Input": json.dumps(
                {
                    "Namespace": NAMESPACE,
                    "MetricData": [
                        {
                            "MetricName": METRIC,
                            "Dimensions": DIMENSIONS,
                            "Value": percent,
                            "Unit": "Percent",
                        }
                    ],
                }
            ),
        },
    )
    alarm = f"buffered-{int(percent)}"
    emulator.client("cloudwatch", "old").put_metric_alarm(
        AlarmName=alarm,
        Namespace=NAMESPACE,
        MetricName=METRIC,
        Dimensions=DIMENSIONS,
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=percent,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    return name, alarm


def alarm_state(emulator: Emulator, alarm: str) -> str:
    found = emulator.client("cloudwatch", "old").describe_alarms(AlarmNames=[alarm])
    return found["MetricAlarms"][0]["StateValue"]


def wait_for_state(emulator: Emulator, alarm: str, state: str, timeout: float = 30) -> float:
    """The sandbox time at which `alarm` was seen in `state`."""
    deadline = time.monotonic() + timeout
    while (seen := alarm_state(emulator, alarm)) != state:
        assert time.monotonic() < deadline, f"{alarm} stayed {seen}, never {state}"
        time.sleep(0.5)
    return emulator.profile.now()


def test_a_reminder_schedule_runs_from_its_start_and_its_alarm_fires_then_clears(tmp_path):
    with fast_clock_emulator(tmp_path, CLOCK_RATE) as emulator:
        start = emulator.profile.now() + 3 * 3600  # 18 real seconds from now
        schedule, alarm = reminder_at(emulator, start, 50)
        time.sleep(4)  # two ticks before the start: nothing ran, nothing changed
        assert emulator.profile.now() < start
        assert alarm_state(emulator, alarm) == "OK"
        assert emulator.fidelity()["counts"]["schedule_runs"] == 0

        fired = wait_for_state(emulator, alarm, "ALARM")
        assert fired >= start, "the alarm fired before the schedule's start"
        counts = emulator.fidelity()["counts"]
        assert counts["schedule_runs"] >= 1 and counts["alarm_state_changes"] == 1, counts
        history = emulator.client("cloudwatch", "old").describe_alarms(AlarmNames=[alarm])
        assert (
            "Threshold GreaterThanOrEqualToThreshold 50"
            in (history["MetricAlarms"][0]["StateReason"])
        )

        emulator.client("scheduler", "old").delete_schedule(Name=schedule)
        cleared = wait_for_state(emulator, alarm, "OK")  # no data: not breaching
        assert cleared > fired


def test_the_fast_profile_runs_no_schedule(tmp_path):
    """moto as it is: the schedule is stored, never run; the alarm keeps its state."""
    emulator = Emulator(tmp_path, region="eu-west-1", profile=FAST).start()
    try:
        _, alarm = reminder_at(emulator, time.time() - 30, 50)
        time.sleep(5)
        assert alarm_state(emulator, alarm) == "OK"
        assert "schedule_runs" not in emulator.fidelity()["counts"]
    finally:
        emulator.stop()
