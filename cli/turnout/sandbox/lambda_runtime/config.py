"""A Kinesis event source mapping as the local Lambda runtime sees it, with AWS's defaults."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MappingConfig:
    """A Kinesis event source mapping as listed by the emulator, with AWS's defaults
    (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-parameters.html)."""

    uuid: str
    account_id: str
    region: str
    function_arn: str
    event_source_arn: str
    enabled: bool
    batch_size: int
    batching_window: float
    starting_position: str
    starting_timestamp: float | None
    bisect: bool
    max_retry_attempts: int
    max_record_age: int
    on_failure: str | None
    report_item_failures: bool
    state: str = "Enabled"
    last_modified: float | None = None
    parallelization_factor: int = 1

    @classmethod
    def from_api(
        cls,
        esm: dict[str, Any],
        account_id: str,
        region: str,
        polling_states: tuple[str, ...] = ("Enabled", "Enabling", "Updating"),
    ) -> MappingConfig:
        """``polling_states``: the states in which the mapping reads its stream (AWS: Enabled
        and Updating; Creating/Enabling have not started, Disabling has stopped)."""
        ts = esm.get("StartingPositionTimestamp")
        modified = esm.get("LastModified")
        if isinstance(modified, dt.datetime):
            modified = modified.timestamp()
        if isinstance(ts, dt.datetime):
            ts = ts.timestamp()
        destination = ((esm.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )

        def _int(name: str, default: int) -> int:
            value = esm.get(name)
            return default if value is None else int(value)

        return cls(
            uuid=esm["UUID"],
            account_id=account_id,
            region=region,
            function_arn=esm["FunctionArn"],
            event_source_arn=esm["EventSourceArn"],
            enabled=esm.get("State", "Enabled") in polling_states,
            batch_size=max(1, _int("BatchSize", 100)),
            batching_window=float(esm.get("MaximumBatchingWindowInSeconds") or 0),
            starting_position=esm.get("StartingPosition") or "TRIM_HORIZON",
            starting_timestamp=float(ts) if ts is not None else None,
            bisect=bool(esm.get("BisectBatchOnFunctionError")),
            max_retry_attempts=_int("MaximumRetryAttempts", -1),
            max_record_age=_int("MaximumRecordAgeInSeconds", -1),
            on_failure=destination or None,
            report_item_failures="ReportBatchItemFailures"
            in (esm.get("FunctionResponseTypes") or []),
            state=esm.get("State", "Enabled"),
            last_modified=float(modified) if modified is not None else None,
            # AWS: 1 to 10 concurrent batches per shard.
            parallelization_factor=min(10, max(1, _int("ParallelizationFactor", 1))),
        )

    @property
    def stream_region(self) -> str:
        return self.event_source_arn.split(":")[3]

    @property
    def stream_account(self) -> str:
        return self.event_source_arn.split(":")[4]
