"""The replicator of a direction is enabled and caught up.

Enabled: every mapping of the replicator is Enabled and both active-direction parameters name
the direction (the two keys of its loop guard). Caught up: for every source shard with records,
the ledger's `last_sequence_number` is the shard's last record, or the ledger's
`last_arrival_time` is within `max_lag_seconds` of the newest record's arrival. Waits until both
hold (reporting the lag per stream) or fails after `timeout_seconds`.
"""

from __future__ import annotations

from typing import Literal

from botocore.exceptions import ClientError
from pydantic import Field

from turnout.aws.errors import error_code
from turnout.aws.mappings import function_mappings
from turnout.drain.ledger import replication_lag
from turnout.drain.scope import bounded_timeout, scope_from_context
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed
from turnout.spec.names import direction_parameter, names
from turnout.spec.phases import ENVIRONMENTS


class VerifyReplicationFlowing(Hook):
    name = "verify_replication_flowing"

    class Args(HookArgs):
        direction: Literal["old_to_new", "new_to_old"]
        max_lag_seconds: float = Field(gt=0)
        timeout_seconds: float = Field(gt=0)
        poll_seconds: float = Field(default=5.0, gt=0)
        reads_per_second: float = Field(default=2.0, gt=0, le=5)

    def _enabled(self, context: HookContext, source: str) -> tuple[list[str], dict]:
        function = names(context.spec, source).replicator
        mappings = function_mappings(context.client(source, "lambda"), function)
        problems = [
            f"{function} mapping {mapping['UUID']} is {mapping['State']}"
            for mapping in mappings
            if mapping["State"] != "Enabled"
        ]
        if not mappings:
            problems.append(f"{function} has no event source mapping in {source}")
        parameter = direction_parameter(context.spec)
        values = {}
        for environment in ENVIRONMENTS:
            try:
                values[environment] = context.client(environment, "ssm").get_parameter(
                    Name=parameter
                )["Parameter"]["Value"]
            except ClientError as problem:
                if error_code(problem) != "ParameterNotFound":
                    raise
                values[environment] = None
            if values[environment] != self.args.direction:
                problems.append(
                    f"{parameter} in {environment} is {values[environment]!r}, not "
                    f"'{self.args.direction}'"
                )
        return problems, {
            "function": function,
            "mappings": {mapping["UUID"]: mapping["State"] for mapping in mappings},
            "parameters": values,
        }

    def run(self, context: HookContext) -> dict:
        source = self.args.direction.split("_to_")[0]
        scope = scope_from_context(context, source, reads_per_second=self.args.reads_per_second)
        timeout = bounded_timeout(context, self.args.timeout_seconds)
        started = context.clock()
        while True:
            problems, replicator = self._enabled(context, source)
            lag = replication_lag(scope, self.args.max_lag_seconds) if not problems else None
            elapsed = context.clock() - started
            data = {
                "direction": self.args.direction,
                "max_lag_seconds": self.args.max_lag_seconds,
                "replicator": replicator,
                "lag": lag,
                "elapsed_seconds": round(elapsed, 1),
            }
            if not problems and lag["caught_up"]:
                return data
            if lag is not None:
                problems = [
                    f"{logical}/{row['shard']}: {row['reason']}"
                    for logical, stream in lag["streams"].items()
                    for row in stream["shards"]
                    if not row["ok"]
                ]
            if elapsed >= timeout:
                error = HookFailed(
                    f"replication {self.args.direction} is not flowing within "
                    f"{self.args.max_lag_seconds:g} s of lag after {elapsed:.0f} s: "
                    + "; ".join(problems[:12])
                    + (f"; and {len(problems) - 12} more" if len(problems) > 12 else "")
                    + "."
                )
                error.data = data  # type: ignore[attr-defined]
                raise error
            lags = (
                ", ".join(
                    f"{logical} {stream['lag_seconds']:.1f} s"
                    for logical, stream in lag["streams"].items()
                )
                if lag
                else "replicator not enabled"
            )
            context.progress(
                f"waiting for replication {self.args.direction} to catch up: {lags}, "
                f"{elapsed:.0f} s of {timeout:.0f} s"
            )
            context.sleep(min(self.args.poll_seconds, max(0.0, timeout - elapsed)))
