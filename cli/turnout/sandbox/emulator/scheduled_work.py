"""EventBridge Scheduler schedules that run, and CloudWatch metric alarms that follow their
metric, on the sandbox clock (the ``aws`` profile's ``scheduled_work``).

moto stores schedules and alarms and runs neither: a schedule never calls its target, and an
alarm keeps the state it was created with (or the one SetAlarmState gave it) whatever its metric
does. turnout's monitoring module relies on both while the streams buffer for paused consumers:
two schedules put ``BufferedRetentionPercent`` from 50 % and 80 % of the retention on, and two
alarms fire on it (modules/monitoring, "Reminders"). :class:`ScheduledWork` runs on a daemon
thread of the emulator server, every ``interval`` real seconds:

- **Schedules.** An ENABLED schedule with a ``rate(N minute[s]|hour[s]|day[s])`` or a UTC
  ``at(...)`` expression runs at its start date (its creation when it has none) and every N units
  after, until its end date, on the sandbox clock. Runs due between two ticks are coalesced into
  one, stamped with the latest due time (an accelerated clock passes many minutes per tick), and
  counted. Only the universal target ``arn:aws:scheduler:::aws-sdk:cloudwatch:putMetricData`` is
  run: its Input's metric data go into CloudWatch of the schedule's account and region, stamped
  with the run's time. Other targets and ``cron()`` expressions are counted as not run; the
  target's role is not assumed (the emulator evaluates no IAM).
- **Alarms.** A metric alarm on one metric with a ``Statistic`` is evaluated as CloudWatch
  evaluates "M out of N": the statistic over each of the last ``EvaluationPeriods`` periods
  (sliding back from now); ``DatapointsToAlarm`` (default: all N) breaching → ALARM; missing
  periods count as ``TreatMissingData`` says (``breaching``, ``notBreaching``; ``ignore`` keeps
  the state; ``missing``: INSUFFICIENT_DATA when every period is missing); otherwise OK. An alarm
  whose metric never had a datum is left as it is, and metric-math alarms are not evaluated.
  https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
  ("Evaluating an alarm", "Configuring how CloudWatch alarms treat missing data").
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from .profile import naive_utc

log = logging.getLogger(__name__)

PUT_METRIC_DATA_TARGET = "arn:aws:scheduler:::aws-sdk:cloudwatch:putMetricData"
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}


def epoch(value: Any) -> float | None:
    """A date as moto keeps it (epoch number, ISO text or datetime; naive means UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    try:
        return float(value)
    except (TypeError, ValueError):
        return epoch(datetime.fromisoformat(str(value).replace("Z", "+00:00")))


def latest_run(schedule: Any, now: float) -> tuple[float, int] | None:
    """(the latest due run's time, its index since the start) of ``schedule`` at ``now``; None
    when no run is due or the expression is not one this module runs."""
    expression = schedule.schedule_expression or ""
    at = _AT.match(expression)
    if at:
        if (schedule.schedule_expression_timezone or "UTC") != "UTC":
            return None
        moment = epoch(at.group(1) + "+00:00")
        return (moment, 0) if moment is not None and moment <= now else None
    rate = _RATE.match(expression)
    if rate is None:
        return None
    every = int(rate.group(1)) * _UNIT_SECONDS[rate.group(2).rstrip("s")]
    start = epoch(schedule.start_date) or epoch(schedule.creation_date)
    end = epoch(schedule.end_date)
    latest = min(now, end) if end is not None else now
    if start is None or every <= 0 or latest < start:
        return None
    index = int((latest - start) // every)
    return start + index * every, index


class ScheduledWork:
    """Runs due schedules and evaluates alarms of every account and region, on ``clock``."""

    def __init__(self, clock: Callable[[], float] = time.time, interval: float = 2.0) -> None:
        self.clock = clock
        self.interval = interval
        self._runs: dict[str, int] = {}  # schedule ARN + expression + start -> last run's index
        self._lock = threading.Lock()
        self._counts = {
            "schedule_runs": 0,
            "schedule_runs_coalesced": 0,
            "schedule_targets_not_run": 0,
            "alarm_state_changes": 0,
        }

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def _count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counts[name] += amount

    def start(self) -> None:
        def run() -> None:
            while True:
                time.sleep(self.interval)
                try:
                    self.tick()
                except Exception:  # a bad schedule or alarm must not stop the others' ticks
                    log.exception("scheduled work failed; trying again next tick")

        threading.Thread(target=run, name="scheduled-work", daemon=True).start()

    def tick(self) -> None:
        now = self.clock()
        self.run_due_schedules(now)
        self.evaluate_alarms(now)

    # ------------------------------------------------------------------ schedules
    def run_due_schedules(self, now: float) -> None:
        from moto.scheduler.models import scheduler_backends

        for account, region, backend in _backends(scheduler_backends):
            for schedule in _schedules(backend):
                if schedule.state != "ENABLED":
                    continue
                due = latest_run(schedule, now)
                if due is None:
                    continue
                moment, index = due
                key = f"{schedule.arn}|{schedule.schedule_expression}|{schedule.start_date}"
                last = self._runs.get(key)
                if last is not None and index <= last:
                    continue
                self._runs[key] = index
                self._count(
                    "schedule_runs_coalesced", index - (last + 1 if last is not None else 0)
                )
                self._run_target(account, region, schedule, moment)

    def _run_target(self, account: str, region: str, schedule: Any, moment: float) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        target = schedule.target or {}
        if target.get("Arn") != PUT_METRIC_DATA_TARGET:
            self._count("schedule_targets_not_run")
            return
        request = json.loads(target.get("Input") or "{}")
        data = [{**datum, "Timestamp": naive_utc(moment)} for datum in request["MetricData"]]
        cloudwatch_backends[account][region].put_metric_data(request["Namespace"], data)
        self._count("schedule_runs")

    # ------------------------------------------------------------------ alarms
    def evaluate_alarms(self, now: float) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        for _, _, backend in _backends(cloudwatch_backends):
            alarms = [
                alarm
                for alarm in list(backend.alarms.values())
                if alarm.metric_name and not alarm.metric_data_queries and alarm.statistic
            ]
            if not alarms:
                continue
            by_metric = _data_by_metric(backend, {(a.namespace, a.metric_name) for a in alarms})
            for alarm in alarms:
                data = by_metric.get((alarm.namespace, alarm.metric_name))
                if data:
                    self._evaluate(alarm, data, now)

    def _evaluate(self, alarm: Any, data: list[tuple[float, Any]], now: float) -> None:
        wanted = {(d.name, d.value) for d in alarm.dimensions}
        mine = [(at, datum) for at, datum in data if _dimensions(datum) == wanted]
        if not mine:
            return
        values = [
            _statistic(alarm.statistic, mine, now - (i + 1) * alarm.period, now - i * alarm.period)
            for i in range(int(alarm.evaluation_periods))
        ]
        state = decide(
            values,
            alarm.threshold,
            alarm.comparison_operator,
            int(alarm.datapoints_to_alarm or alarm.evaluation_periods),
            alarm.treat_missing_data or "missing",
        )
        if state is None or state == alarm.state_value:
            return
        shown = ", ".join("missing" if v is None else f"{v:g}" for v in values)
        alarm.update_state(
            f"Threshold {alarm.comparison_operator} {alarm.threshold:g}: [{shown}] "
            f"(evaluated by the turnout emulator on the sandbox clock)",
            json.dumps({"recentDatapoints": [v for v in values if v is not None]}),
            state,
        )
        self._count("alarm_state_changes")


def decide(
    values: list[float | None], threshold: float, operator: str, to_alarm: int, missing: str
) -> str | None:
    """The alarm's state from its periods' values (newest first); None: keep the state."""
    compare = _COMPARE.get(operator)
    if compare is None:
        return None
    present = [v for v in values if v is not None]
    if not present:
        return {
            "breaching": "ALARM",
            "notBreaching": "OK",
            "missing": "INSUFFICIENT_DATA",
        }.get(missing)
    breaching = sum(1 for v in present if compare(v, threshold))
    if missing == "breaching":
        breaching += len(values) - len(present)
    return "ALARM" if breaching >= to_alarm else "OK"


def _backends(backend_dict: Any) -> Iterator[tuple[str, str, Any]]:
    for account in list(backend_dict.keys()):
        for region, backend in list(backend_dict[account].items()):
            yield account, region, backend


def _schedules(backend: Any) -> list[Any]:
    """Every schedule of a moto scheduler backend (kept per schedule group)."""
    return [
        schedule
        for group in list(backend.schedule_groups.values())
        for schedule in list(group.schedules.values())
    ]


def _data_by_metric(backend: Any, metrics: set[tuple[str, str]]) -> dict[tuple, list]:
    found: dict[tuple, list] = defaultdict(list)
    for datum in list(backend.get_all_metrics()):
        key = (datum.namespace, datum.name)
        if key in metrics:
            found[key].append((epoch(datum.timestamp), datum))
    return found


def _dimensions(datum: Any) -> set[tuple[str, str]]:
    return {(d.name, d.value) for d in datum.dimensions}


def _statistic(name: str, data: list[tuple[float, Any]], start: float, end: float) -> float | None:
    from moto.cloudwatch.models import Statistics

    inside = [datum for at, datum in data if start <= at < end]
    if not inside:
        return None
    statistics = Statistics([name], naive_utc(start))
    statistics.metric_data = inside
    value = statistics.get_statistics_for_type(name)
    return None if value is None else float(value)
