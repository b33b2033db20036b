"""The new endpoint's gate: healthy now, and healthy for long enough, by its Route 53 health
check or by a CloudWatch alarm (e.g. on the new endpoint's 5xx) that must stay OK.

Route 53 considers an endpoint healthy when more than 18% of its health checkers report it
healthy (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html);
GetHealthCheckStatus returns each checker's last observation
(https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetHealthCheckStatus.html).
An alarm is OK, ALARM or INSUFFICIENT_DATA; only OK counts as healthy: no data means nothing shows
the endpoint works (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html,
"Alarm states"; an alarm on 5xx that should read "no requests" as healthy says so with
TreatMissingData notBreaching).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HEALTHY_SHARE = 0.18


@dataclass(frozen=True)
class Observation:
    healthy: bool
    checkers: int
    reporting_healthy: int
    last_status: str

    def text(self) -> str:
        return (
            f"{self.reporting_healthy} of {self.checkers} checkers report it healthy "
            f"(last: {self.last_status or 'no observation'})"
        )


@dataclass(frozen=True)
class AlarmObservation:
    healthy: bool
    state: str
    reason: str

    def text(self) -> str:
        return f"alarm state {self.state}" + (f" ({self.reason})" if self.reason else "")


def observe_alarm(cloudwatch: Any, alarm_name: str) -> AlarmObservation:
    """The alarm's state now; a missing alarm raises LookupError (the preflight names it)."""
    alarms = cloudwatch.describe_alarms(AlarmNames=[alarm_name], AlarmTypes=["MetricAlarm"])
    found = alarms.get("MetricAlarms") or []
    if not found:
        raise LookupError(alarm_name)
    state = found[0].get("StateValue", "")
    return AlarmObservation(state == "OK", state, found[0].get("StateReason", ""))


def observe(route53: Any, health_check_id: str) -> Observation:
    reports = route53.get_health_check_status(HealthCheckId=health_check_id)[
        "HealthCheckObservations"
    ]
    statuses = [report.get("StatusReport", {}).get("Status", "") for report in reports]
    good = sum(1 for status in statuses if status.startswith("Success"))
    healthy = bool(statuses) and good / len(statuses) > HEALTHY_SHARE
    return Observation(healthy, len(statuses), good, statuses[-1] if statuses else "")


@dataclass(frozen=True)
class Patience:
    """How long the gate waits: stay healthy `healthy_seconds` in a row, within
    `timeout_seconds` (and the step's deadline), observing every `poll_seconds`."""

    healthy_seconds: float
    timeout_seconds: float
    poll_seconds: float


def wait_until_healthy_for(
    context: Any,
    look: Callable[[], Observation | AlarmObservation],
    gate: str,
    patience: Patience,
) -> dict:
    """Observe (`look`) until the gate (named `gate` in progress lines, e.g. "health check
    abc") has been healthy for `healthy_seconds` (0: healthy once).
    Returns the last observation and how long it was healthy; `healthy_for` below the wanted
    time means the wait ran out."""
    start = context.clock()
    limit = patience.timeout_seconds
    if context.remaining() is not None:
        limit = min(limit, max(0.0, context.remaining() - patience.poll_seconds))
    healthy_since: float | None = None
    observations = 0
    while True:
        seen = look()
        observations += 1
        now = context.clock()
        healthy_since = (healthy_since or now) if seen.healthy else None
        healthy_for = 0.0 if healthy_since is None else now - healthy_since
        done = seen.healthy and healthy_for >= patience.healthy_seconds
        waited = now - start
        if done or waited >= limit:
            return {
                "healthy": done,
                "healthy_for_seconds": round(healthy_for, 1),
                "waited_seconds": round(waited, 1),
                "observations": observations,
                "last": seen.text(),
            }
        context.progress(
            f"{gate}: {'healthy' if seen.healthy else 'unhealthy'} "
            f"({seen.text()}), healthy for {healthy_for:.0f} s of {patience.healthy_seconds:.0f} "
            f"s wanted, {waited:.0f} s of {limit:.0f} s"
        )
        context.sleep(min(patience.poll_seconds, max(0.1, limit - waited)))
