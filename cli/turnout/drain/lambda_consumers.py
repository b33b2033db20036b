"""The drain predicates of Lambda consumers: marker records they acknowledge
(`drain_evidence: markers`) and CloudWatch metrics (`drain_evidence: metrics`, the default).
The rules: docs/drain.md."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.cloudwatch import metric_data, metric_stat
from turnout.aws.errors import error_code
from turnout.aws.kinesis import describe_stream_arn, is_open, open_descendants
from turnout.aws.mappings import mappings_reading
from turnout.drain.base import ConsumerVerdict, DrainPredicate, ShardVerdict, Verdict, register
from turnout.drain.scope import DrainScope, per_shard, stream_shards
from turnout.spec.names import MARKER_KEY_PREFIX, names

# --------------------------------------------------------------------------- Lambda: markers


@register("lambda", "markers")
class LambdaMarkers(DrainPredicate):
    """Marker records the consumer acknowledges in the markers table of its environment.

    One marker per open shard of each consumer stream, put with ExplicitHashKey = the shard's
    StartingHashKey so it lands in that shard. A consumer that reached the marker has processed
    every record before it in that shard (Lambda delivers a shard in order). A closed shard cannot
    take a marker: it counts as drained when the markers in its open descendants are acknowledged,
    because Lambda finishes a parent shard before it starts its children.
    Marker puts and acknowledgement reads run per shard on the scope's thread pool.
    """

    def __init__(self, consumer: Any, scope: DrainScope, **settings: Any) -> None:
        super().__init__(consumer, scope, **settings)
        self.markers: dict[tuple[str, str], dict] = {}  # (logical, shard id) -> marker
        self.acknowledged: dict[str, dict] = {}  # marker id -> ack item
        self.table = names(scope.spec, scope.environment).markers_table

    def prepare(self) -> dict:
        return {"markers_table": self.table, "markers": self._ensure_markers()}

    def _ensure_markers(self, shards_by_stream: dict[str, list[dict]] | None = None) -> list[dict]:
        """Put a marker into every open shard that has none yet (new children included)."""
        shards_by_stream = shards_by_stream or stream_shards(self.scope, self.consumer.streams)
        wanted = [
            (logical, shard)
            for logical, shards in shards_by_stream.items()
            for shard in shards
            if is_open(shard) and (logical, shard["ShardId"]) not in self.markers
        ]
        return per_shard(
            self.scope, wanted, lambda pair: self._put_marker(*pair), "putting markers"
        )

    def _put_marker(self, logical: str, shard: dict) -> dict:
        marker = {
            "id": uuid.uuid4().hex,
            "migration": self.scope.spec.migration,
            "environment": self.scope.environment,
            "stream": logical,
            "shard": shard["ShardId"],
            "consumer": self.consumer.function_name,
        }
        if self.scope.dry_run:
            return {**marker, "id": None, "dry_run": True}
        response = self.scope.client("kinesis").put_record(
            StreamName=self.scope.physical(logical),
            Data=json.dumps({"turnout_marker": marker}, sort_keys=True).encode(),
            PartitionKey=f"{MARKER_KEY_PREFIX}{marker['id']}",
            ExplicitHashKey=shard["HashKeyRange"]["StartingHashKey"],
        )
        marker["sequence_number"] = response["SequenceNumber"]
        marker["landed_in"] = response["ShardId"]
        marker["put_at"] = self.scope.clock()
        self.markers[(logical, shard["ShardId"])] = marker
        return marker

    def _acknowledgement(self, marker: dict) -> dict | None:
        if marker["id"] in self.acknowledged:
            return self.acknowledged[marker["id"]]
        item = (
            self.scope.client("dynamodb")
            .get_item(
                TableName=self.table, Key={"marker_id": {"S": marker["id"]}}, ConsistentRead=True
            )
            .get("Item")
        )
        if item is None:
            return None
        ack = {key: next(iter(value.values())) for key, value in item.items()}
        if ack.get("consumer") != self.consumer.function_name:
            return {**ack, "wrong_consumer": True}
        self.acknowledged[marker["id"]] = ack
        return ack

    def _mappings_disabled(self, logical: str) -> bool:
        arn = describe_stream_arn(self.scope.client("kinesis"), self.scope.physical(logical))
        mappings = mappings_reading(self.scope.client("lambda"), self.consumer.function_name, [arn])
        return all(mapping["State"] == "Disabled" for mapping in mappings)

    def check(self) -> ConsumerVerdict:
        if self.scope.dry_run:
            return self._verdict([], note="dry run: no marker was put, so there is no evidence")
        try:
            shards_by_stream = stream_shards(self.scope, self.consumer.streams)
            self._ensure_markers(shards_by_stream)
            disabled = {logical: self._mappings_disabled(logical) for logical in shards_by_stream}
            work = [
                (logical, shard, shards)
                for logical, shards in shards_by_stream.items()
                for shard in shards
            ]
            verdicts = per_shard(
                self.scope,
                work,
                lambda entry: self._shard_verdict(*entry, disabled[entry[0]]),
                f"{self.consumer_name} markers",
            )
            return self._verdict(verdicts)
        except ClientError as problem:
            if error_code(problem) == "ResourceNotFoundException":
                hint = (
                    f" (is the markers table {self.table} deployed in {self.scope.environment}?)"
                    if problem.operation_name == "GetItem"
                    else ""
                )
                message = problem.response["Error"].get("Message", "")
                return self._verdict([], note=f"{problem.operation_name}: {message}{hint}")
            raise

    def _shard_verdict(
        self, logical: str, shard: dict, shards: list[dict], disabled: bool
    ) -> ShardVerdict:
        shard_id = shard["ShardId"]
        if is_open(shard):
            watched, how = [shard], "marker"
        else:
            watched, how = open_descendants(shards, shard_id), "children's markers"
            if not watched:
                return ShardVerdict(
                    logical,
                    shard_id,
                    Verdict.UNKNOWN,
                    "closed shard without an open descendant to hold a marker",
                )
        missing, wrong = [], []
        for child in watched:
            marker = self.markers.get((logical, child["ShardId"]))
            ack = self._acknowledgement(marker) if marker else None
            if ack is None or ack.get("wrong_consumer"):
                missing.append(child["ShardId"])
            if ack and ack.get("wrong_consumer"):
                wrong.append(ack.get("consumer"))
        detail: dict[str, Any] = {
            "markers": {
                child["ShardId"]: self.markers.get((logical, child["ShardId"]), {}).get("id")
                for child in watched
            }
        }
        if not missing:
            return ShardVerdict(logical, shard_id, Verdict.DRAINED, f"{how} acknowledged", detail)
        detail["unacknowledged"] = missing
        if wrong:
            detail["acknowledged_by_other_consumer"] = wrong
        if disabled:
            return ShardVerdict(
                logical,
                shard_id,
                Verdict.UNKNOWN,
                f"{how} not acknowledged and the function's mapping is Disabled (or absent): "
                "a paused consumer cannot drain",
                detail,
            )
        return ShardVerdict(
            logical, shard_id, Verdict.NOT_DRAINED, f"{how} not acknowledged yet", detail
        )


# --------------------------------------------------------------------------- Lambda: metrics


@register("lambda", "metrics")
class LambdaMetrics(DrainPredicate):
    """CloudWatch evidence: AWS/Kinesis IncomingRecords per stream (Sum), AWS/Lambda IteratorAge
    (Maximum), Invocations and Errors (Sum) of the function (dimension FunctionName).

    Drained only when IncomingRecords is 0 in each of the last `quiet_periods` complete periods
    of every stream AND the function's newest IteratorAge datapoint since the last period with
    incoming records is at or below `max_iterator_age_ms` AND the newest period with invocations
    had no error (a failed batch is retried or discarded, never drained). A missing datapoint is
    unknown, never drained. The evidence is per stream (metrics have no shard dimension here):
    shard "*".
    """

    def _settings(self) -> tuple[int, int, int, float]:
        period = int(self.settings.get("period_seconds", 60))
        quiet = int(self.settings.get("quiet_periods", 5))
        lookback = max(int(self.settings.get("lookback_periods", 60)), quiet + 1)
        max_age = float(self.settings.get("max_iterator_age_ms", 5000))
        return period, quiet, lookback, max_age

    def _series(self, period: int, start_ts: int, end_ts: int) -> dict[str, dict[float, float]]:
        """Query id -> {period start (epoch seconds): value}: age, inv, err, in<stream index>."""
        function = {"FunctionName": self.consumer.function_name}
        queries = [
            metric_stat("age", "AWS/Lambda", "IteratorAge", function, "Maximum", period),
            metric_stat("inv", "AWS/Lambda", "Invocations", function, "Sum", period),
            metric_stat("err", "AWS/Lambda", "Errors", function, "Sum", period),
        ]
        for index, logical in enumerate(self.consumer.streams):
            stream = {"StreamName": self.scope.physical(logical)}
            queries.append(
                metric_stat(f"in{index}", "AWS/Kinesis", "IncomingRecords", stream, "Sum", period)
            )
        start, end = (datetime.fromtimestamp(stamp, UTC) for stamp in (start_ts, end_ts))
        points = metric_data(self.scope.client("cloudwatch"), queries, start, end)
        return {
            query_id: {moment.timestamp(): value for moment, value in values.items()}
            for query_id, values in points.items()
        }

    def check(self) -> ConsumerVerdict:
        period, quiet, lookback, max_age = self._settings()
        # Periods on the clock CloudWatch stamps datapoints with (the sandbox's when accelerated);
        # the current period is incomplete.
        end_ts = (int(self.scope.service_clock()) // period) * period
        series = self._series(period, end_ts - lookback * period, end_ts)
        quiet_periods = [end_ts - k * period for k in range(quiet, 0, -1)]
        incoming_all: dict[float, float] = {}
        streams = {}
        for index, logical in enumerate(self.consumer.streams):
            points = series[f"in{index}"]
            for stamp, value in points.items():
                incoming_all[stamp] = incoming_all.get(stamp, 0.0) + value
            streams[logical] = _stream_quiet(points, quiet_periods, period)
        busy_stamps = [stamp for stamp, value in incoming_all.items() if value > 0]
        last_incoming = max(busy_stamps) if busy_stamps else None
        function_verdict, function_detail = _function_settled(series, last_incoming, max_age)
        shards = []
        for logical in self.consumer.streams:
            verdict, reason, detail = streams[logical]
            if verdict is Verdict.DRAINED:
                verdict = function_verdict[0]
                reason = f"no incoming records for {quiet} periods; {function_verdict[1]}"
            shards.append(
                ShardVerdict(logical, "*", verdict, reason, {**detail, **function_detail})
            )
        return self._verdict(shards)


def _stream_quiet(
    points: dict[float, float], quiet_periods: list[float], period: int
) -> tuple[Verdict, str, dict]:
    """Did a stream receive nothing in each of the quiet periods? Missing data is unknown."""
    quiet = len(quiet_periods)
    missing = [stamp for stamp in quiet_periods if stamp not in points]
    busy = {stamp: points[stamp] for stamp in quiet_periods if points.get(stamp, 0) > 0}
    detail = {
        "quiet_periods": quiet,
        "period_seconds": period,
        "incoming_records": {_iso(stamp): value for stamp, value in sorted(points.items())},
    }
    if busy:
        return (
            Verdict.NOT_DRAINED,
            f"IncomingRecords > 0 in {len(busy)} of the last {quiet} periods",
            detail,
        )
    if missing:
        return (
            Verdict.UNKNOWN,
            f"no IncomingRecords datapoint for {len(missing)} of the last {quiet} periods "
            "(missing datapoints are never read as zero)",
            detail,
        )
    return Verdict.DRAINED, "", detail


def _function_settled(
    series: dict[str, dict[float, float]], last_incoming: float | None, max_age: float
) -> tuple[tuple[Verdict, str], dict]:
    """Has the function caught up since the last incoming record, without errors?"""

    def since(values: dict[float, float]) -> dict[float, float]:
        return {
            stamp: value
            for stamp, value in values.items()
            if last_incoming is None or stamp >= last_incoming
        }

    ages = since(series["age"])
    invocations = since(series["inv"])
    invoked = [stamp for stamp, value in invocations.items() if value > 0]
    newest_invoked = max(invoked) if invoked else None
    errors_then = series["err"].get(newest_invoked, 0.0) if newest_invoked else 0.0
    detail = {
        "last_incoming_period": _iso(last_incoming) if last_incoming is not None else None,
        "iterator_age_ms": {_iso(stamp): value for stamp, value in sorted(ages.items())},
        "invocations_since": sum(invocations.values()),
        "errors_in_last_invoked_period": errors_then,
        "max_iterator_age_ms": max_age,
    }
    if not ages:
        return (
            Verdict.UNKNOWN,
            "no IteratorAge datapoint for the function after the last incoming record "
            "(not invoked since: paused, failing, or metrics not published)",
        ), detail
    newest = ages[max(ages)]
    if errors_then > 0:
        return (
            Verdict.NOT_DRAINED,
            f"{errors_then:.0f} invocation error(s) in the newest period with "
            f"invocations ({_iso(newest_invoked or 0)}): the batch is retried or discarded",
        ), detail
    if newest <= max_age:
        return (Verdict.DRAINED, f"IteratorAge settled at {newest:.0f} ms"), detail
    return (
        Verdict.NOT_DRAINED,
        f"IteratorAge {newest:.0f} ms > {max_age:.0f} ms at {_iso(max(ages))}",
    ), detail


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
