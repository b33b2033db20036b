"""Metrics as one CloudWatch embedded metric format (EMF) line per invocation, no API call.

On Lambda, the function's stdout goes to its log group, and CloudWatch Logs turns a line that
is an EMF document into metrics
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
the same namespace, names, dimensions and units the replicator used to put with PutMetricData,
so dashboards, alarms and the report read them unchanged. The local sandbox's Lambda runtime
does the same with the function's log (turnout.sandbox.lambda_runtime.emf).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

# (name, unit) in the order they appear; ReplicationLagMs only when something was written.
METRICS = (
    ("ReplicatedRecords", "Count"),
    ("ReplicatedBytes", "Bytes"),
    ("RetriedEntries", "Count"),
    ("Throttles", "Count"),
    ("DuplicatesResent", "Count"),
    ("Inversions", "Count"),
    ("UnknownOutcomeEntries", "Count"),
)
LAG_METRIC = ("ReplicationLagMs", "Milliseconds")
# The lag is stored at high resolution (kept per second for 3 hours, then per minute): the
# cutover report draws it at 10 s while the migration is recent. The counts stay per minute.
HIGH_RESOLUTION = frozenset({LAG_METRIC[0]})


def emf_line(
    *,
    namespace: str,
    direction: str,
    stream: str,
    counts: Mapping[str, float],
    lag_ms: float | None,
    timestamp_ms: int,
    context: Mapping[str, object] | None = None,
) -> str:
    """One EMF document (a JSON object on one line) with dimensions Direction and Stream."""
    metrics = [*METRICS, LAG_METRIC] if lag_ms is not None else list(METRICS)
    document: dict[str, object] = {
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [["Direction", "Stream"]],
                    "Metrics": [_definition(name, unit) for name, unit in metrics],
                }
            ],
        },
        "Direction": direction,
        "Stream": stream,
    }
    for name, _unit in METRICS:
        document[name] = counts[name]
    if lag_ms is not None:
        document[LAG_METRIC[0]] = round(lag_ms, 3)
    document["message"] = "metrics"
    document.update(context or {})
    return json.dumps(document, separators=(",", ":"))


def _definition(name: str, unit: str) -> dict[str, object]:
    if name in HIGH_RESOLUTION:
        return {"Name": name, "Unit": unit, "StorageResolution": 1}
    return {"Name": name, "Unit": unit}
