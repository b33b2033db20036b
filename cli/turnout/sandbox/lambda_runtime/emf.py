"""CloudWatch embedded metric format (EMF): function log lines become metrics, as in AWS.

On AWS, what a Lambda function prints goes to its log group, and CloudWatch Logs extracts the
metrics of every log event that is an EMF document
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
The local runtime writes each function's output to ``<state>/function-logs/<account>-<region>-
<function>.log``; :class:`EmfLogMetrics` follows those files and puts the metrics of every EMF
line into the emulator's CloudWatch, in the function's account and region, with the document's
timestamp. Like CloudWatch Logs it checks the document against the specification and extracts
nothing from one that breaks it (AWS counts those in ``AWS/Logs`` ``EMFValidationErrors``; here
they are counted in ``rejected`` and logged).

Off the hot path, like metrics.py: a thread reads the files every ``interval`` seconds; the read
positions are kept in ``<state>/emf-positions.json`` and move only after PutMetricData
succeeded, so a restarted runtime neither loses nor repeats a line (a line whose put failed is
tried again at the next pass).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .log import log_event
from .periodic import PeriodicFlusher

MAX_METRICS_PER_DIRECTIVE = 100
MAX_DIMENSIONS_PER_SET = 30
MAX_VALUES_PER_METRIC = 100
MAX_DATA_PER_CALL = 1000  # PutMetricData accepts up to 1,000 metrics per call
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_MetricDatum.html
_SIZES = ("Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes")
_BITS = ("Bits", "Kilobits", "Megabits", "Gigabits", "Terabits")
UNITS = frozenset(
    {"Seconds", "Microseconds", "Milliseconds", "Percent", "Count", "Count/Second", "None"}
    | set(_SIZES)
    | set(_BITS)
    | {f"{unit}/Second" for unit in (*_SIZES, *_BITS)}
)
# The local runtime's function log files (functions.py): <12-digit account>-<region>-<name>.log
LOG_FILE = re.compile(r"^(\d{12})-([a-z]{2}(?:-gov)?-[a-z]+-\d+)-(.+)\.log$")


class InvalidEmf(ValueError):
    """A log event that announces EMF (``_aws``) but breaks the specification."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _values(root: dict[str, Any], name: str) -> list[float]:
    value = root.get(name)
    if _number(value):
        return [float(value)]
    listed = isinstance(value, list) and 0 < len(value) <= MAX_VALUES_PER_METRIC
    if listed and all(_number(item) for item in value):
        return [float(item) for item in value]
    raise InvalidEmf(f"metric {name!r} has no numeric value (or 1-100 numeric values)")


def _dimension_sets(root: dict[str, Any], directive: dict[str, Any]) -> list[list[dict]]:
    sets = directive.get("Dimensions")
    if not isinstance(sets, list):
        raise InvalidEmf("Dimensions is not an array of dimension sets")
    result = []
    for names in sets:
        if not isinstance(names, list) or len(names) > MAX_DIMENSIONS_PER_SET:
            raise InvalidEmf("a dimension set is not an array of at most 30 names")
        dimensions = []
        for name in names:
            value = root.get(name) if isinstance(name, str) else None
            if not isinstance(value, str) or not 1 <= len(value) <= 1024:
                raise InvalidEmf(f"dimension {name!r} has no string value at the root")
            dimensions.append({"Name": name, "Value": value})
        result.append(dimensions)
    return result or [[]]


def _directive_data(root: dict[str, Any], directive: Any, stamp: datetime) -> list[dict]:
    if not isinstance(directive, dict):
        raise InvalidEmf("a CloudWatchMetrics member is not an object")
    namespace = directive.get("Namespace")
    if not isinstance(namespace, str) or not 1 <= len(namespace) <= 255:
        raise InvalidEmf("Namespace is not a string of 1-255 characters")
    metrics = directive.get("Metrics")
    if not isinstance(metrics, list) or len(metrics) > MAX_METRICS_PER_DIRECTIVE:
        raise InvalidEmf("Metrics is not an array of at most 100 metric definitions")
    dimension_sets = _dimension_sets(root, directive)
    data = []
    for definition in metrics:
        name = definition.get("Name") if isinstance(definition, dict) else None
        if not isinstance(name, str) or not name:
            raise InvalidEmf("a metric definition has no Name")
        unit = definition.get("Unit", "None")
        if unit not in UNITS:
            raise InvalidEmf(f"metric {name!r} has an unknown Unit {unit!r}")
        resolution = definition.get("StorageResolution", 60)
        if resolution not in (1, 60):
            raise InvalidEmf(f"metric {name!r} has a StorageResolution other than 1 or 60")
        values = _values(root, name)
        for dimensions in dimension_sets:
            datum = {
                "MetricName": name,
                "Dimensions": dimensions,
                "Timestamp": stamp,
                "Unit": unit,
                "StorageResolution": resolution,
            }
            datum.update({"Value": values[0]} if len(values) == 1 else {"Values": values})
            data.append({"Namespace": namespace, **datum})
    return data


def metric_data(line: str) -> list[dict]:
    """The metric data of one log line: [] for a line that is not EMF; InvalidEmf for a line
    that is but breaks the specification. Each item is a PutMetricData datum plus its
    ``Namespace``."""
    text = line.strip()
    if not text.startswith("{") or '"_aws"' not in text:
        return []
    try:
        root = json.loads(text)
    except ValueError:
        return []
    metadata = root.get("_aws") if isinstance(root, dict) else None
    if metadata is None:
        return []
    if not isinstance(metadata, dict):
        raise InvalidEmf("_aws is not an object")
    timestamp, directives = metadata.get("Timestamp"), metadata.get("CloudWatchMetrics")
    if not _number(timestamp):
        raise InvalidEmf("_aws.Timestamp is not a number of milliseconds since the epoch")
    if not isinstance(directives, list):
        raise InvalidEmf("_aws.CloudWatchMetrics is not an array")
    stamp = datetime.fromtimestamp(timestamp / 1000.0, UTC)
    return [datum for item in directives for datum in _directive_data(root, item, stamp)]


def _complete_lines(path: Path, position: int) -> tuple[list[str], int]:
    """The whole lines of ``path`` after ``position``, and the position after the last one."""
    with open(path, "rb") as log:
        log.seek(position)
        chunk = log.read()
    end = chunk.rfind(b"\n")
    if end < 0:
        return [], position
    text = chunk[: end + 1].decode("utf-8", errors="replace")
    return text.splitlines(), position + end + 1


class EmfLogMetrics(PeriodicFlusher):
    """Follows the function log files and puts the metrics of their EMF lines."""

    def __init__(
        self,
        log_dir: Path,
        positions_file: Path,
        client: Callable[[str, str], Any],
        *,
        interval: float = 5.0,
    ) -> None:
        self.log_dir = log_dir
        self.positions_file = positions_file
        self._client = client  # (account, region) -> CloudWatch client
        super().__init__()
        self.interval = interval
        self._lock = threading.Lock()
        self._positions: dict[str, int] = self._load_positions()
        self.sent = 0
        self.rejected = 0
        self.failed = 0

    def _load_positions(self) -> dict[str, int]:
        try:
            loaded = json.loads(self.positions_file.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): int(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}

    def _save_positions(self) -> None:
        partial = self.positions_file.with_name(self.positions_file.name + ".partial")
        partial.write_text(json.dumps(self._positions, sort_keys=True))
        os.replace(partial, self.positions_file)

    def _log_files(self) -> Iterator[tuple[Path, str, str]]:
        if not self.log_dir.is_dir():
            return
        for path in sorted(self.log_dir.iterdir()):
            match = LOG_FILE.match(path.name)
            if match:
                yield path, match.group(1), match.group(2)

    def flush(self) -> int:
        """Put the metrics of every new whole EMF line; returns the data sent."""
        with self._lock:
            sent = sum(self._flush_file(*found) for found in self._log_files())
            self._save_positions()
        self.sent += sent
        return sent

    def _flush_file(self, path: Path, account: str, region: str) -> int:
        position = self._positions.get(path.name, 0)
        if path.stat().st_size < position:  # the file was replaced: start over
            position = 0
        lines, after = _complete_lines(path, position)
        data = []
        for line in lines:
            try:
                data.extend(metric_data(line))
            except InvalidEmf as problem:
                self.rejected += 1
                log_event("emf_rejected", logging.WARNING, file=path.name, problem=str(problem))
        if data and not self._put(account, region, data):
            return 0  # the position stays: the lines are read again next time
        self._positions[path.name] = after
        return len(data)

    def _put(self, account: str, region: str, data: list[dict]) -> bool:
        by_namespace: dict[str, list[dict]] = {}
        for datum in data:
            by_namespace.setdefault(datum.pop("Namespace"), []).append(datum)
        try:
            cloudwatch = self._client(account, region)
            for namespace, items in by_namespace.items():
                for start in range(0, len(items), MAX_DATA_PER_CALL):
                    cloudwatch.put_metric_data(
                        Namespace=namespace, MetricData=items[start : start + MAX_DATA_PER_CALL]
                    )
        except Exception as problem:  # never let metrics hurt the invocations
            self.failed += len(data)
            log_event("emf_put_failed", logging.WARNING, account=account, error=repr(problem))
            return False
        return True

    thread_name = "lambda-emf"

    def flush_once(self) -> None:
        try:
            self.flush()
        except OSError as problem:  # a log file vanished or the state directory is unwritable
            log_event("emf_read_failed", logging.WARNING, error=repr(problem))
