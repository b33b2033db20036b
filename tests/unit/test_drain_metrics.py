"""The CloudWatch metric predicate of Lambda consumers on a fake CloudWatch: a missing datapoint
is unknown, never drained; incoming records, a high IteratorAge or a failing last invocation are
not drained; a quiet stream and a settled IteratorAge are drained."""

from __future__ import annotations

from fakes_drain import PHYSICAL, STREAM, FakeClock, FakeCloudWatch, make_spec

from turnout.drain.base import predicate_for
from turnout.drain.lambda_consumers import LambdaMetrics
from turnout.drain.scope import DrainScope
from turnout.drain.verdicts import Verdict

PERIOD = 60
QUIET = 3
CONSUMER = {"kind": "lambda", "function_name": "fn", "streams": [STREAM]}


class MetricsWorld:
    def __init__(self, machine_clock_behind: float = 0.0) -> None:
        """`machine_clock_behind`: how far this machine's clock (waits) is behind the services'
        clock, the one CloudWatch stamps datapoints with (an accelerated sandbox's)."""
        self.clock = FakeClock(start=1_700_000_000.0 // PERIOD * PERIOD + 30)
        self.cloudwatch = FakeCloudWatch()
        spec = make_spec([CONSUMER])
        scope = DrainScope(
            spec=spec,
            environment="old",
            client={"cloudwatch": self.cloudwatch}.__getitem__,
            reader=None,  # type: ignore[arg-type]  # metrics read no shard
            clock=lambda: self.clock.time() - machine_clock_behind,
            service_clock=self.clock.time,
        )
        self.predicate = predicate_for(
            spec.consumers.old[0],
            scope,
            period_seconds=PERIOD,
            quiet_periods=QUIET,
            max_iterator_age_ms=1000,
        )
        assert isinstance(self.predicate, LambdaMetrics)

    def at(self, periods_ago: int) -> float:
        """A moment inside the complete period `periods_ago` periods before the current one."""
        return (self.clock.time() // PERIOD - periods_ago) * PERIOD + 5

    def incoming(self, counts: dict[int, float]) -> None:
        for periods_ago, value in counts.items():
            self.cloudwatch.put(
                "AWS/Kinesis", "IncomingRecords", PHYSICAL, self.at(periods_ago), value
            )

    def invoked(self, periods_ago: int, age_ms: float, errors: int = 0) -> None:
        stamp = self.at(periods_ago)
        self.cloudwatch.put("AWS/Lambda", "Invocations", "fn", stamp, 1)
        self.cloudwatch.put("AWS/Lambda", "Errors", "fn", stamp, errors)
        self.cloudwatch.put("AWS/Lambda", "IteratorAge", "fn", stamp, age_ms)

    def check(self):
        verdict = self.predicate.check()
        (shard,) = verdict.shards
        return shard


def test_no_datapoint_at_all_is_unknown():
    assert MetricsWorld().check().verdict is Verdict.UNKNOWN


def test_one_missing_incoming_records_datapoint_is_unknown_not_drained():
    world = MetricsWorld()
    world.incoming({5: 10, 3: 0, 1: 0})  # period 2 has no datapoint
    world.invoked(4, age_ms=10)
    shard = world.check()
    assert shard.verdict is Verdict.UNKNOWN
    assert "no IncomingRecords datapoint for 1 of the last 3 periods" in shard.reason


def test_quiet_stream_but_no_iterator_age_since_the_last_records_is_unknown():
    world = MetricsWorld()
    world.incoming({4: 10, 3: 0, 2: 0, 1: 0})
    world.invoked(6, age_ms=10)  # before the last incoming records: proves nothing about them
    shard = world.check()
    assert shard.verdict is Verdict.UNKNOWN
    assert "no IteratorAge datapoint" in shard.reason


def test_one_incoming_record_in_the_quiet_window_is_not_drained():
    world = MetricsWorld()
    world.incoming({3: 0, 2: 1, 1: 0})
    world.invoked(2, age_ms=10)
    shard = world.check()
    assert shard.verdict is Verdict.NOT_DRAINED
    assert "IncomingRecords > 0 in 1 of the last 3 periods" in shard.reason


def test_iterator_age_not_settled_is_not_drained():
    world = MetricsWorld()
    world.incoming({4: 10, 3: 0, 2: 0, 1: 0})
    world.invoked(4, age_ms=5000)
    shard = world.check()
    assert shard.verdict is Verdict.NOT_DRAINED
    assert "IteratorAge 5000 ms > 1000 ms" in shard.reason


def test_errors_in_the_last_invoked_period_are_not_drained():
    world = MetricsWorld()
    world.incoming({4: 10, 3: 0, 2: 0, 1: 0})
    world.invoked(3, age_ms=10, errors=1)
    shard = world.check()
    assert shard.verdict is Verdict.NOT_DRAINED
    assert "invocation error" in shard.reason


def test_quiet_stream_and_settled_iterator_age_are_drained():
    world = MetricsWorld()
    world.incoming({4: 10, 3: 0, 2: 0, 1: 0})
    world.invoked(4, age_ms=5000)
    world.invoked(3, age_ms=200)
    shard = world.check()
    assert shard.verdict is Verdict.DRAINED, shard.reason
    assert shard.detail["invocations_since"] == 2


def test_periods_are_read_on_the_services_clock_when_this_machines_clock_differs():
    """A rehearsal on an accelerated sandbox clock: the services' clock is hours ahead of this
    machine's. The quiet periods are the services' last ones, where the datapoints are."""
    world = MetricsWorld(machine_clock_behind=10 * 3600)
    world.incoming({4: 10, 3: 0, 2: 0, 1: 0})
    world.invoked(3, age_ms=200)
    shard = world.check()
    assert shard.verdict is Verdict.DRAINED, shard.reason


def test_datapoints_of_the_current_incomplete_period_are_not_used():
    world = MetricsWorld()
    world.incoming({4: 10, 3: 0, 2: 0, 1: 0, 0: 0})
    world.invoked(0, age_ms=10)  # the current period: incomplete, not read
    assert world.check().verdict is Verdict.UNKNOWN
