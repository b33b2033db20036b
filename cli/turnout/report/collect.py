"""Read one migration's journal and metrics into a `CutoverReport` (reads only, changes nothing).

Where each series lives:
- replication lag, replicated records, and the duplicates and inversions the replicator counted:
  its own metrics (namespace `Turnout/Replication`, dimensions `Direction` and `Stream` = the
  source stream's name), from the embedded-metric-format line the replicator of direction
  `<env>_to_<peer>` logs in `<env>`'s account once per invocation. The lag is read at a
  sub-minute period while CloudWatch holds one (turnout.report.window): that gives sub-minute
  detail when the lag is stored at high resolution (StorageResolution 1 in the EMF line); at
  standard resolution CloudWatch holds it per minute only, and the report says so;
- incoming records per stream: AWS's basic stream metric `AWS/Kinesis IncomingRecords`
  (dimension `StreamName`), 60 s resolution, in each environment's account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from turnout.aws.cloudwatch import metric_data, metric_stat
from turnout.engine.state import StateStore
from turnout.errors import TurnoutError
from turnout.report.apis import api_switch_rows
from turnout.report.model import CutoverReport, Series
from turnout.report.read_across import read_across_rows
from turnout.report.retention import retention_rows
from turnout.report.timeline import build_timeline, entry_time
from turnout.report.window import align, choose_lag_period, choose_period, report_window
from turnout.spec.model import MigrationSpec
from turnout.spec.names import REPLICATION_METRIC_NAMESPACE, control_plane
from turnout.spec.phases import DIRECTIONS, ENVIRONMENTS

MINUTE = 60

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
    lag_period: int | None = None,
) -> list[Series]:
    """Every query's datapoints (one account), the lag at `lag_period` (default: `period`);
    periods without a datapoint are left out (a gap), never filled with zero."""
    by_id = {f"q{index}": query for index, query in enumerate(queries)}
    periods = {
        query_id: (lag_period or period) if query.kind == "lag" else period
        for query_id, query in by_id.items()
    }
    requests = [
        metric_stat(
            query_id,
            query.namespace,
            query.metric,
            dict(query.dimensions),
            query.stat,
            periods[query_id],
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
            periods[query_id],
            tuple(
                sorted(
                    (moment, query.scale(value, periods[query_id]))
                    for moment, value in points[query_id].items()
                )
            ),
        )
        for query_id, query in by_id.items()
    ]


def read_account(
    cloudwatch: Any,
    queries: list[MetricQuery],
    start: datetime,
    end: datetime,
    period: int,
    lag_period: int,
) -> list[Series]:
    """One account's series. CloudWatch documents sub-minute periods for high-resolution
    metrics only: when the lag comes back empty at a sub-minute `lag_period`, it is read again
    per minute, so a replicator publishing at standard resolution is still drawn."""
    series = read_series(cloudwatch, queries, start, end, period, lag_period)
    lag_queries = [query for query in queries if query.kind == "lag"]
    if lag_period >= MINUTE or not lag_queries:
        return series
    if any(item.points for item in series if item.kind == "lag"):
        return series
    again = {item.id: item for item in read_series(cloudwatch, lag_queries, start, end, MINUTE)}
    return [again.get(item.id, item) for item in series]


def settle_lag_resolution(series: list[Series], asked: int) -> tuple[list[Series], int]:
    """The lag's resolution as CloudWatch answered: when every lag datapoint sits on a minute
    (standard-resolution data, or the re-read above), the lag series are per minute."""
    lag_points = [moment for item in series if item.kind == "lag" for moment, _ in item.points]
    if asked >= MINUTE or not lag_points:
        return series, asked
    if any(moment.timestamp() % MINUTE for moment in lag_points):
        return series, asked
    settled = [
        replace(item, period_seconds=max(item.period_seconds, MINUTE))
        if item.kind == "lag"
        else item
        for item in series
    ]
    return settled, MINUTE


def read_journal(
    spec: MigrationSpec, aws: Any, since: datetime | None, progress: Progress
) -> tuple[list[dict], str]:
    """The migration's journal entries, oldest first, and its current phase; a journal with
    nothing in the window is one clear error."""
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
    return entries, current_phase


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
    entries, current_phase = read_journal(spec, aws, since, progress)
    start, end = report_window(entries, since, now)
    period = choose_period(start, end, now)
    start, end = align(start, period), align(end, period, up=True)
    lag_period = min(choose_lag_period(start, end, now), period)
    report = CutoverReport(
        migration=spec.migration,
        orderings={stream.name: stream.ordering for stream in spec.streams},
        window_start=start,
        window_end=end,
        generated_at=now,
        period_seconds=period,
    )
    timeline = build_timeline(entries, start, end, current_phase)
    report.phases, report.transitions = timeline.phases, timeline.transitions
    report.steps, report.journal = timeline.steps, timeline.journal
    report.api_switch = api_switch_rows(entries, start, end)
    report.read_across = read_across_rows(entries, start, end)
    report.retention = retention_rows(entries, start, end)
    queries = metric_queries(spec)
    for environment in ENVIRONMENTS:
        mine = [query for query in queries if query.environment == environment]
        progress(f"reading {len(mine)} metric series of the {environment} environment")
        try:
            cloudwatch = aws.client(environment, "cloudwatch")
            report.series += read_account(cloudwatch, mine, start, end, period, lag_period)
        except (ClientError, BotoCoreError) as problem:
            report.notes.append(
                f"metrics of the {environment} environment could not be read ({_reason(problem)}); "
                f"its series are shown as no data."
            )
            report.series += [Series(q.series_id, q.kind, q.label, q.unit, period) for q in mine]
    report.series, report.lag_period_seconds = settle_lag_resolution(report.series, lag_period)
    if report.lag_period_seconds > lag_period:
        report.notes.append(LAG_PER_MINUTE)
    report.series.sort(key=lambda series: series.id)
    return report


LAG_PER_MINUTE = (
    "The replicator's lag came back once per minute: CloudWatch holds it at standard resolution. "
    "For sub-minute lag the replicator must publish ReplicationLagMs at high resolution "
    "(StorageResolution 1), kept for 3 hours."
)


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
    if text[-1:] in units and text[:-1].isascii() and text[:-1].isdigit():
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
