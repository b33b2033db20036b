"""Injectable infrastructure: the clock, the boto3 client factory and the JSON-lines logger."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config as BotoConfig


class SystemClock:
    """Wall time for timestamps, monotonic time for budgets, real sleeps."""

    @staticmethod
    def time() -> float:
        return time.time()

    @staticmethod
    def monotonic() -> float:
        return time.monotonic()

    @staticmethod
    def sleep(seconds: float) -> None:
        time.sleep(seconds)


# (connect timeout, read timeout) in seconds per service, one attempt each: botocore never retries
# behind the replicator's back, so the longest any call can take is connect + read, and the time
# budget (budget.py) can promise that no call outlives the invocation. The replicator retries
# itself where it knows the time left: PutRecords entries and calls, the ledger update.
CLIENT_TIMEOUTS: Mapping[str, tuple[float, float]] = {
    "kinesis": (2.0, 5.0),
    "ssm": (1.0, 2.0),
    "sts": (2.0, 3.0),
    "dynamodb": (1.0, 1.0),
}

# botocore's client-side parameter validation walks every entry of every PutRecords call (a
# fifth of the handler's CPU per record). Each entry is built from a record Kinesis already
# accepted and sizes are checked here, so the Kinesis client skips it; a malformed request would
# still be refused by Kinesis with ValidationException, a non-retryable error that stops the
# batch visibly.
_BOTO_CONFIGS = {
    service: BotoConfig(
        connect_timeout=connect,
        read_timeout=read,
        retries={"total_max_attempts": 1, "mode": "standard"},
        parameter_validation=service != "kinesis",
    )
    for service, (connect, read) in CLIENT_TIMEOUTS.items()
}


def call_seconds(service: str) -> float:
    """The longest one call to ``service`` can take: its connect plus read timeout."""
    connect, read = CLIENT_TIMEOUTS[service]
    return connect + read


# A client factory is called as factory(service, region_name=None, credentials=None) where
# credentials is an STS ``Credentials`` mapping (or None: the function's role).
ClientFactory = Callable[..., Any]


def boto3_client_factory(
    service: str,
    region_name: str | None = None,
    credentials: Mapping[str, Any] | None = None,
) -> Any:
    kwargs: dict[str, Any] = {"config": _BOTO_CONFIGS.get(service)}
    if region_name:
        kwargs["region_name"] = region_name
    if credentials is not None:
        kwargs["aws_access_key_id"] = credentials["AccessKeyId"]
        kwargs["aws_secret_access_key"] = credentials["SecretAccessKey"]
        kwargs["aws_session_token"] = credentials["SessionToken"]
    return boto3.client(service, **kwargs)


class JsonLogger:
    """One JSON object per line. Callers pass facts, never payloads or secrets."""

    def __init__(self, sink: Callable[[str], Any] | None = None, clock: Any = None) -> None:
        self._sink = sink
        self._clock = clock or SystemClock()
        self.context: dict[str, Any] = {}

    def line(self, text: str) -> None:
        """Write one finished line (the EMF metrics line) to the same place as the logs."""
        if self._sink is None:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        else:
            self._sink(text)

    def log(self, level: str, message: str, **fields: Any) -> None:
        record = {
            "time": datetime.fromtimestamp(self._clock.time(), UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": level,
            "message": message,
            **self.context,
            **fields,
        }
        self.line(json.dumps(record, default=str, separators=(",", ":")))

    def info(self, message: str, **fields: Any) -> None:
        self.log("INFO", message, **fields)

    def warning(self, message: str, **fields: Any) -> None:
        self.log("WARNING", message, **fields)

    def error(self, message: str, **fields: Any) -> None:
        self.log("ERROR", message, **fields)
