"""The health gate's wait on a fake clock: healthy for the wanted time in a row passes; a check
that never turns healthy ends at the timeout with progress shown; a relapse restarts the count."""

from __future__ import annotations

from turnout.apis.health import Patience, observe, wait_until_healthy_for


class FakeRoute53:
    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.calls = 0

    def get_health_check_status(self, HealthCheckId: str) -> dict:
        status = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        return {"HealthCheckObservations": [{"StatusReport": {"Status": status}}]}


class FakeContext:
    def __init__(self) -> None:
        self.now = 0.0
        self.messages: list[str] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def progress(self, message: str) -> None:
        self.messages.append(message)

    def remaining(self) -> float | None:
        return None


OK = "Success: HTTP Status Code 200, OK"
DOWN = "Failure: HTTP Status Code 503, Service Unavailable"


def test_healthy_for_the_wanted_time_in_a_row_passes():
    context = FakeContext()
    route53 = FakeRoute53([DOWN, OK, OK, OK, OK, OK])
    seen = wait_until_healthy_for(
        context, lambda: observe(route53, "hc-1"), "health check hc-1", Patience(30, 300, 10)
    )
    assert seen["healthy"] and seen["healthy_for_seconds"] >= 30
    assert context.now == 40.0, "one unhealthy poll, then healthy from 10 s to 40 s"


def test_a_check_that_never_turns_healthy_ends_at_the_timeout_with_progress():
    context = FakeContext()
    seen = wait_until_healthy_for(
        context, lambda: observe(FakeRoute53([DOWN]), "hc-1"), "hc-1", Patience(0, 60, 10)
    )
    assert not seen["healthy"] and seen["waited_seconds"] == 60
    assert seen["last"].startswith("0 of 1 checkers report it healthy (last: Failure")
    assert len(context.messages) == 6 and "unhealthy" in context.messages[0]
    assert "s of 60 s" in context.messages[-1]


def test_a_relapse_restarts_the_healthy_count():
    context = FakeContext()
    route53 = FakeRoute53([OK, OK, DOWN, OK, OK, OK, OK])
    seen = wait_until_healthy_for(
        context, lambda: observe(route53, "hc-1"), "health check hc-1", Patience(20, 600, 10)
    )
    assert seen["healthy"] and context.now == 50.0


def test_healthy_means_more_than_18_percent_of_checkers():
    route53 = FakeRoute53([OK])
    route53.get_health_check_status = lambda HealthCheckId: {
        "HealthCheckObservations": [{"StatusReport": {"Status": s}} for s in [OK] + [DOWN] * 5]
    }
    assert not observe(route53, "hc").healthy, "1 of 6 is under 18%"
    route53.get_health_check_status = lambda HealthCheckId: {
        "HealthCheckObservations": [{"StatusReport": {"Status": s}} for s in [OK] + [DOWN] * 4]
    }
    assert observe(route53, "hc").healthy, "1 of 5 is 20%"
