"""Read one migration's journal and metrics into a `CutoverReport` (reads only, changes nothing).

Where each series lives:
- replication lag, replicated records, and the duplicates and inversions the replicator counted:
  its own metrics (namespace `Turnout/Replication`, dimensions `Direction` and `Stream` = the
  source stream's name), from the embedded-metric-format line the replicator of direction
  `<env>_to_<peer>` logs in `<env>`'s account once per invocation, standard resolution (60 s);
- incoming records per stream: AWS's basic stream metric `AWS/Kinesis IncomingRecords`
  (dimension `StreamName`), 60 s resolution, in each environment's account.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from turnout.aws.cloudwatch import metric_data, metric_stat
from turnout.engine.state import StateStore
from turnout.errors import TurnoutError
from turnout.report.model import CutoverReport, Series
from turnout.report.timeline import build_timeline, entry_time
from turnout.spec.model import MigrationSpec
from turnout.spec.names import REPLICATION_METRIC_NAMESPACE, control_plane
from turnout.spec.phases import DIRECTIONS, ENVIRONMENTS

# CloudWatch keeps 60 s datapoints for 15 days, 300 s for 63 days, 3600 s for 455 days; a
# query for older data must ask for at least that period.
RETENTION_PERIODS = ((timedelta(days=15), 60), (timedelta(days=63), 300), (None, 3600))
NICE_PERIODS = (60, 120, 300, 600, 900, 1800, 3600, 10800, 21600, 43200, 86400)
MAX_POINTS_PER_SERIES = 360

Progress = Callable[[str], None]


@dataclass(frozen=True)
class MetricQuery:
    series_id: str
    kind: str
    label: str
    environment: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    unit: str
    scale: Callable[[float, int], float]  # (value, period) -> the drawn value


def choose_period(start: datetime, end: datetime, now: datetime) -> int:
    """The smallest CloudWatch period that keeps a series under MAX_POINTS_PER_SERIES and that
    CloudWatch still holds for data as old as `start`."""
    wanted = math.ceil((end - start).total_seconds() / MAX_POINTS_PER_SERIES)
    age = now - start
    floor = next(period for limit, period in RETENTION_PERIODS if limit is None or age <= limit)
    return next(
        (period for period in NICE_PERIODS if period >= max(wanted, floor)), NICE_PERIODS[-1]
    )


def report_window(
    entries: list[dict], since: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """From a little before the first journal entry (or `since`) to a little after the last one
    (at most now): the traffic before and after the cutover is part of the picture."""
    times = sorted(entry_time(entry) for entry in entries)
    in_window = [moment for moment in times if since is None or moment >= since]
    first, last = in_window[0], in_window[-1]
    margin = max(timedelta(minutes=2), (last - first) / 10)
    start = since if since is not None else first - margin
    return start, min(now, last + margin)


# The copies the replicator counted (docs/replicator.md, "Duplicates and inversions"): summed
# per period, shown as totals over the window.
COUNTED = (("duplicates", "DuplicatesResent"), ("inversions", "Inversions"))


def metric_queries(spec: MigrationSpec) -> list[MetricQuery]:
    queries: list[MetricQuery] = []
    for stream in spec.streams:
        for direction in DIRECTIONS:
            source = direction.split("_to_")[0]
            dimensions = (("Direction", direction), ("Stream", stream.name_in(source)))
            arrow = direction.replace("_", "-")
            for kind, metric in COUNTED:
                queries.append(
                    MetricQuery(
                        f"{kind}:{stream.name}:{arrow}",
                        kind,
                        f"{stream.name} {arrow.replace('-to-', ' → ')} {kind}",
                        source,
                        REPLICATION_METRIC_NAMESPACE,
                        metric,
                        dimensions,
                        "Sum",
                        "records",
                        lambda value, period: value,
                    )
                )
            queries.append(
                MetricQuery(
                    f"lag:{stream.name}:{arrow}",
                    "lag",
                    f"{stream.name} {arrow.replace('-to-', ' → ')} lag",
                    source,
                    REPLICATION_METRIC_NAMESPACE,
                    "ReplicationLagMs",
                    dimensions,
                    "Maximum",
                    "s",
                    lambda value, period: value / 1000.0,
                )
            )
            queries.append(
                MetricQuery(
                    f"replicated:{stream.name}:{arrow}",
                    "replicated",
                    f"{stream.name} {arrow.replace('-to-', ' → ')} replicated",
                    source,
                    REPLICATION_METRIC_NAMESPACE,
                    "ReplicatedRecords",
                    dimensions,
                    "Sum",
                    "records/s",
                    lambda value, period: value / period,
                )
            )
        for environment in ENVIRONMENTS:
            queries.append(
                MetricQuery(
                    f"rate:{environment}:{stream.name}",
                    "rate",
                    f"{environment}/{stream.name_in(environment)} incoming",
                    environment,
                    "AWS/Kinesis",
                    "IncomingRecords",
                    (("StreamName", stream.name_in(environment)),),
                    "Sum",
                    "records/s",
                    lambda value, period: value / period,
                )
            )
    return queries


def read_series(
    cloudwatch: Any,
    queries: list[MetricQuery],
    start: datetime,
    end: datetime,
    period: int,
) -> list[Series]:
    """Every query's datapoints (one account); periods without a datapoint are left out (a
    gap), never filled with zero."""
    by_id = {f"q{index}": query for index, query in enumerate(queries)}
    requests = [
        metric_stat(
            query_id,
            query.namespace,
            query.metric,
            dict(query.dimensions),
            query.stat,
            period,
            label=query.series_id,
        )
        for query_id, query in by_id.items()
    ]
    points = metric_data(cloudwatch, requests, start, end)
    return [
        Series(
            query.series_id,
            query.kind,
            query.label,
            query.unit,
            period,
            tuple(
                sorted(
                    (moment, query.scale(value, period))
                    for moment, value in points[query_id].items()
                )
            ),
        )
        for query_id, query in by_id.items()
    ]


def align(moment: datetime, period: int, up: bool = False) -> datetime:
    """Period boundaries since the epoch, as CloudWatch stamps its datapoints."""
    seconds = moment.timestamp()
    aligned = (math.ceil if up else math.floor)(seconds / period) * period
    return datetime.fromtimestamp(aligned, UTC)


def collect_report(
    spec: MigrationSpec,
    aws: Any,
    since: datetime | None = None,
    now: datetime | None = None,
    progress: Progress = lambda message: None,
) -> CutoverReport:
    """The journal of `spec`'s migration from the control plane's state table, and the metrics
    of both environments over the migration's window."""
    now = now or datetime.now(UTC)
    control = control_plane(spec)
    environment = control.environment
    state_table = control.state_table
    store = StateStore(aws.client(environment, "dynamodb"), state_table, spec.migration)
    progress(f"reading the journal of migration {spec.migration} from {state_table}")
    try:
        entries = store.read_journal(newest_first=False)
        current_phase = store.load().phase
    except (ClientError, BotoCoreError) as problem:
        raise TurnoutError(
            f"cannot read the journal from the state table {state_table} in the {environment} "
            f"environment: {_reason(problem)}. Is the control plane applied, and are "
            f"--sandbox/--endpoint-url right?"
        ) from None
    if not [entry for entry in entries if since is None or entry_time(entry) >= since]:
        when = f" since {since.isoformat()}" if since else ""
        raise TurnoutError(
            f"the journal of migration {spec.migration} in {state_table} has no entries{when}: "
            f"there is no cutover to report. Run `turnout cutover` first"
            + (", or pass an earlier --since." if since else ".")
        )
    start, end = report_window(entries, since, now)
    period = choose_period(start, end, now)
    start, end = align(start, period), align(end, period, up=True)
    timeline = build_timeline(entries, start, end, current_phase)
    report = CutoverReport(
        migration=spec.migration,
        orderings={stream.name: stream.ordering for stream in spec.streams},
        window_start=start,
        window_end=end,
        generated_at=now,
        period_seconds=period,
        phases=timeline.phases,
        transitions=timeline.transitions,
        steps=timeline.steps,
        journal=timeline.journal,
    )
    queries = metric_queries(spec)
    for environment in ENVIRONMENTS:
        mine = [query for query in queries if query.environment == environment]
        progress(f"reading {len(mine)} metric series of the {environment} environment")
        try:
            report.series += read_series(
                aws.client(environment, "cloudwatch"), mine, start, end, period
            )
        except (ClientError, BotoCoreError) as problem:
            report.notes.append(
                f"metrics of the {environment} environment could not be read ({_reason(problem)}); "
                f"its series are shown as no data."
            )
            report.series += [Series(q.series_id, q.kind, q.label, q.unit, period) for q in mine]
    report.series.sort(key=lambda series: series.id)
    return report


def _reason(problem: Exception) -> str:
    if isinstance(problem, ClientError):
        return str(problem.response.get("Error", {}).get("Code", "error"))
    return str(problem) or type(problem).__name__


def parse_since(value: str | None, now: datetime) -> datetime | None:
    """`--since`: an ISO 8601 time (UTC if it names no zone) or a duration ago: 90m, 6h, 2d."""
    if value is None:
        return None
    text = value.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].isdigit():
        return now - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TurnoutError(
            f"--since {value!r} is neither an ISO 8601 time (2026-11-26T10:00:00Z) nor a "
            f"duration ago (90m, 6h, 2d)."
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment > now:
        raise TurnoutError(f"--since {value!r} is in the future; give a past time or a duration.")
    return moment
