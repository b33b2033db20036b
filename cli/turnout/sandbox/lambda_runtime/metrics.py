"""The AWS/Lambda metrics the Lambda service publishes for stream event source mappings.

Per invocation AWS records, in namespace ``AWS/Lambda`` with dimension ``FunctionName``:
``Invocations`` (every invocation, retries included), ``Errors`` (invocations that ended in a
function error) and ``IteratorAge`` (milliseconds between the arrival of the *last* record of the
batch in the stream and the moment the mapping sent the batch; read as ``Maximum``). The local
runtime does the same, so that the metric drain predicate (`turnout.drain.LambdaMetrics`) works on
the emulator.

Off the hot path: pollers only add a sample to an in-memory aggregate; a flusher thread sends one
PutMetricData per function account/region every ``interval`` seconds. A failed PutMetricData is
logged and dropped; it never fails or delays an invocation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .log import log_event
from .periodic import PeriodicFlusher

NAMESPACE = "AWS/Lambda"
MAX_DATA_PER_CALL = 1000  # PutMetricData accepts up to 1,000 metrics per call


@dataclass
class _Aggregate:
    stamp: float  # the first sample's time: the datapoint's timestamp
    invocations: int = 0
    errors: int = 0
    max_iterator_age_ms: float | None = None


class LambdaMetricsPublisher(PeriodicFlusher):
    """Aggregates invocation samples per (account, region, function, period) and flushes them."""

    def __init__(
        self,
        client: Callable[[str, str], Any],
        *,
        interval: float = 5.0,
        period: int = 60,
    ) -> None:
        super().__init__()
        self._client = client  # (account, region) -> CloudWatch client
        self.interval = interval
        self.period = period
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, str, int], _Aggregate] = {}
        self.sent = 0
        self.failed = 0

    def record(
        self,
        function_arn: str,
        *,
        ok: bool,
        last_arrival: float | None,
        sent_at: float,
    ) -> None:
        """One invocation of ``function_arn`` sent at ``sent_at``: epoch seconds on the sandbox
        clock, the one record arrivals and the emulator's CloudWatch use (an accelerated
        rehearsal's metrics then fall in the periods its alarms and drain checks look at). The
        iterator age is measured from it too."""
        parts = function_arn.split(":")
        region, account, name = parts[3], parts[4], parts[6]
        bucket = int(sent_at // self.period)
        with self._lock:
            aggregate = self._pending.setdefault(
                (account, region, name, bucket), _Aggregate(stamp=sent_at)
            )
            aggregate.invocations += 1
            aggregate.errors += 0 if ok else 1
            if last_arrival is not None:
                age = max(0.0, (sent_at - last_arrival) * 1000.0)
                current = aggregate.max_iterator_age_ms
                aggregate.max_iterator_age_ms = age if current is None else max(current, age)

    def flush(self) -> int:
        """Send everything aggregated so far; returns the number of datapoints sent."""
        with self._lock:
            pending, self._pending = self._pending, {}
        by_target: dict[tuple[str, str], list[dict]] = {}
        for (account, region, name, _bucket), aggregate in pending.items():
            by_target.setdefault((account, region), []).extend(_datapoints(name, aggregate))
        sent = 0
        for (account, region), data in by_target.items():
            for start in range(0, len(data), MAX_DATA_PER_CALL):
                chunk = data[start : start + MAX_DATA_PER_CALL]
                try:
                    self._client(account, region).put_metric_data(
                        Namespace=NAMESPACE, MetricData=chunk
                    )
                except Exception as problem:  # never let metrics hurt the invocations
                    self.failed += len(chunk)
                    log_event(
                        "metrics_failed",
                        logging.WARNING,
                        account=account,
                        region=region,
                        datapoints=len(chunk),
                        error=repr(problem),
                    )
                    continue
                sent += len(chunk)
        self.sent += sent
        return sent

    thread_name = "lambda-runtime-metrics"

    def flush_once(self) -> None:
        self.flush()


def _datapoints(function_name: str, aggregate: _Aggregate) -> list[dict]:
    dimensions = [{"Name": "FunctionName", "Value": function_name}]
    stamp = datetime.fromtimestamp(aggregate.stamp, UTC)
    data = [
        {
            "MetricName": "Invocations",
            "Dimensions": dimensions,
            "Timestamp": stamp,
            "Value": float(aggregate.invocations),
            "Unit": "Count",
        },
        {
            "MetricName": "Errors",
            "Dimensions": dimensions,
            "Timestamp": stamp,
            "Value": float(aggregate.errors),
            "Unit": "Count",
        },
    ]
    if aggregate.max_iterator_age_ms is not None:
        data.append(
            {
                "MetricName": "IteratorAge",
                "Dimensions": dimensions,
                "Timestamp": stamp,
                "Value": round(aggregate.max_iterator_age_ms, 3),
                "Unit": "Milliseconds",
            }
        )
    return data
