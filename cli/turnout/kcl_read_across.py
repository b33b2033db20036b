"""The KCL applications' read-across instances (replication mode read-across,
docs/read-across.md): a second instance of each old KCL application reads the new streams from
mirrored until the commit or the end of a rollback. turnout cannot give a KCL application a
second stream, so it runs the spec's `read_across.start_command` / `stop_command` (idempotent,
bounded in time) with what the instance needs in its environment:

| variable | value |
|---|---|
| `TURNOUT_READ_ACROSS_APPLICATION` | the application's name |
| `TURNOUT_READ_ACROSS_STREAM_ARNS` | the new streams it reads, comma-separated ARNs |
| `TURNOUT_READ_ACROSS_REGION` | the new environment's region |
| `TURNOUT_READ_ACROSS_ROLE_ARN` | the role it reads with (the new streams' policy lets it) |
| `TURNOUT_READ_ACROSS_LEASE_TABLE` | its own lease table, in the old account |
| `TURNOUT_READ_ACROSS_INITIAL_POSITION` | `TRIM_HORIZON` (as the Lambda consumers' mappings) |

Its lease table is the evidence that it runs (a lease per open shard of the streams it reads)
and that it read the new streams' tail (`turnout.drain.read_across`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from turnout.commands import run_command
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed
from turnout.spec.names import names

INITIAL_POSITION = "TRIM_HORIZON"
# What KCL keeps as a lease's checkpoint until the first real one: the initial position.
SKIPPING_STARTS = ("LATEST", "AT_TIMESTAMP")


def read_across_instances(spec: Any) -> list[Any]:
    """The old KCL applications that declare a read-across instance."""
    return [c for c in spec.consumers.old if c.kind == "kcl" and c.read_across is not None]


def instance_environment(spec: Any, consumer: Any) -> dict[str, str]:
    new = names(spec, "new")
    return {
        "TURNOUT_READ_ACROSS_APPLICATION": consumer.application,
        "TURNOUT_READ_ACROSS_STREAM_ARNS": ",".join(
            new.stream_arn(logical) for logical in consumer.streams
        ),
        "TURNOUT_READ_ACROSS_REGION": spec.environments.new.region,
        "TURNOUT_READ_ACROSS_ROLE_ARN": consumer.read_across.role_arn,
        "TURNOUT_READ_ACROSS_LEASE_TABLE": consumer.read_across.lease_table,
        "TURNOUT_READ_ACROSS_INITIAL_POSITION": INITIAL_POSITION,
    }


def control_instances(context: Any, action: str, timeout_seconds: float) -> dict:
    """Run every instance's start (`action="start"`) or stop command; (data, failures)."""
    results, failures = [], []
    for consumer in read_across_instances(context.spec):
        command = getattr(consumer.read_across, f"{action}_command")
        entry: dict[str, Any] = {"consumer": f"kcl:{consumer.application}", "command": command}
        if context.dry_run:
            results.append({**entry, "would_run": True})
            continue
        outcome = run_command(
            command,
            context.project_root,
            timeout_seconds,
            instance_environment(context.spec, consumer),
        )
        entry.update(outcome)
        results.append(entry)
        if outcome.get("timed_out"):
            failures.append(
                f"{entry['consumer']}: `{command}` did not finish within {timeout_seconds:.0f} s"
            )
        elif outcome["exit_code"] != 0:
            stderr = outcome["stderr_tail"].strip().splitlines()
            failures.append(
                f"{entry['consumer']}: `{command}` exited with {outcome['exit_code']}"
                + (f" ({stderr[-1]})" if stderr else "")
            )
    return {
        "action": action,
        "dry_run": context.dry_run,
        "instances": results,
        "failures": failures,
    }


def instance_lease_states(context: Any) -> dict:
    """Each instance's lease table against the open shards of the new streams it reads:
    `wrong` names the instances whose table is missing or holds no lease of a shard."""
    instances = read_across_instances(context.spec)
    found: list[dict] = []
    wrong: list[str] = []
    if not instances:
        return {"instances": found, "wrong": wrong}
    dynamodb = context.client("old", "dynamodb")
    kinesis = context.client("new", "kinesis")
    new = names(context.spec, "new")
    for consumer in instances:
        label = f"kcl:{consumer.application} (read-across instance)"
        table = consumer.read_across.lease_table
        try:
            leases = _leases(dynamodb, table)
        except dynamodb.exceptions.ResourceNotFoundException:
            wrong.append(f"{label}: its lease table {table} does not exist (not started)")
            continue
        keys = set(leases)
        skipping = sorted(key for key, start in leases.items() if start in SKIPPING_STARTS)
        if skipping:
            wrong.append(
                f"{label}: the leases {', '.join(skipping)} start at "
                f"{leases[skipping[0]]}, which skips the records written to the new streams "
                f"before the instance started; start it at {INITIAL_POSITION} "
                "(TURNOUT_READ_ACROSS_INITIAL_POSITION)"
            )
        missing = [
            f"{logical}/{shard['ShardId']}"
            for logical in consumer.streams
            for shard in kinesis.list_shards(StreamName=new.stream(logical))["Shards"]
            if "EndingSequenceNumber" not in shard.get("SequenceNumberRange", {})
            and _lease_key(consumer, new.stream(logical), shard["ShardId"]) not in keys
        ]
        found.append({"consumer": label, "lease_table": table, "leases": len(keys)})
        if missing:
            wrong.append(f"{label}: no lease in {table} for {', '.join(missing)}")
    return {"instances": found, "wrong": wrong}


def _lease_key(consumer: Any, stream_name: str, shard_id: str) -> str:
    """KCL's lease key: the shard id, or `<account>:<stream>:<creation epoch>:<shard id>` for a
    multi-stream application (the account and epoch are matched loosely: any)."""
    return shard_id if len(consumer.streams) == 1 else f"{stream_name}:{shard_id}"


def _leases(dynamodb: Any, table: str) -> dict[str, str]:
    """Lease key (a multi-stream key as `<stream>:<shard id>`) -> its checkpoint."""
    leases: dict[str, str] = {}
    arguments: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = dynamodb.scan(**arguments)
        for item in page.get("Items", []):
            parts = item["leaseKey"]["S"].split(":")
            key = parts[0] if len(parts) < 4 else f"{parts[-3]}:{parts[-1]}"
            leases[key] = item.get("checkpoint", {}).get("S", "")
        if "LastEvaluatedKey" not in page:
            return leases
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class ReadAcrossInstancesArgs(HookArgs):
    command_timeout_seconds: float = Field(default=300, gt=0)


class ReadAcrossInstancesHook(Hook):
    """Base of start_read_across and stop_read_across: one `action` over every instance."""

    action: ClassVar[str] = ""
    Args = ReadAcrossInstancesArgs

    def run(self, context: HookContext) -> dict:
        data = control_instances(context, self.action, self.args.command_timeout_seconds)
        if data["failures"]:
            error = HookFailed(
                f"could not {self.action} every KCL read-across instance: "
                + "; ".join(data["failures"])
                + ". The others were handled (see the hook's data); the commands are idempotent, "
                "running the cutover again runs them again."
            )
            error.data = data  # type: ignore[attr-defined]
            raise error
        return data
