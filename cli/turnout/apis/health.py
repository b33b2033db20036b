"""The new endpoint's Route 53 health check: healthy now, and healthy for long enough.

Route 53 considers an endpoint healthy when more than 18% of its health checkers report it
healthy (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html);
GetHealthCheckStatus returns each checker's last observation
(https://docs.aws.amazon.com/Route53/latest/APIReference/API_GetHealthCheckStatus.html).
"""

from __future__ import annotations

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


def wait_until_healthy_for(context: Any, route53: Any, check_id: str, patience: Patience) -> dict:
    """Observe until the check has been healthy for `healthy_seconds` (0: healthy once).
    Returns the last observation and how long it was healthy; `healthy_for` below the wanted
    time means the wait ran out."""
    start = context.clock()
    limit = patience.timeout_seconds
    if context.remaining() is not None:
        limit = min(limit, max(0.0, context.remaining() - patience.poll_seconds))
    healthy_since: float | None = None
    observations = 0
    while True:
        seen = observe(route53, check_id)
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
            f"health check {check_id}: {'healthy' if seen.healthy else 'unhealthy'} "
            f"({seen.text()}), healthy for {healthy_for:.0f} s of {patience.healthy_seconds:.0f} "
            f"s wanted, {waited:.0f} s of {limit:.0f} s"
        )
        context.sleep(min(patience.poll_seconds, max(0.1, limit - waited)))
