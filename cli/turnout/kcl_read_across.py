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

from turnout.aws.kcl_leases import leases_of_stream, read_leases
from turnout.aws.kinesis import is_open, list_shards
from turnout.commands import command_failure, run_command
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
        failure = command_failure(entry["consumer"], outcome, timeout_seconds)
        if failure:
            failures.append(failure)
    return {
        "action": action,
        "dry_run": context.dry_run,
        "instances": results,
        "failures": failures,
    }


def instance_lease_states(context: Any) -> dict:
    """Each instance's lease table against the open shards of the new streams it reads:
    `wrong` names the instances whose table is missing, holds no lease of a shard, or holds
    one still at its initial position LATEST or AT_TIMESTAMP."""
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
            leases = read_leases(dynamodb, table)
        except dynamodb.exceptions.ResourceNotFoundException:
            wrong.append(f"{label}: its lease table {table} does not exist (not started)")
            continue
        held, skipping, missing = 0, [], []
        for logical in consumer.streams:
            physical = new.stream(logical)
            by_shard = leases_of_stream(leases, physical, len(consumer.streams) == 1)
            held += len(by_shard)
            skipping += [
                lease for lease in by_shard.values() if lease.get("checkpoint") in SKIPPING_STARTS
            ]
            missing += [
                f"{logical}/{shard['ShardId']}"
                for shard in list_shards(kinesis, physical)
                if is_open(shard) and shard["ShardId"] not in by_shard
            ]
        found.append({"consumer": label, "lease_table": table, "leases": held})
        if skipping:
            keys = sorted(str(lease["leaseKey"]) for lease in skipping)
            wrong.append(
                f"{label}: the leases {', '.join(keys)} start at {skipping[0]['checkpoint']}, "
                "which skips the records written to the new streams before the instance "
                f"started; start it at {INITIAL_POSITION} (TURNOUT_READ_ACROSS_INITIAL_POSITION)"
            )
        if missing:
            wrong.append(f"{label}: no lease in {table} for {', '.join(missing)}")
    return {"instances": found, "wrong": wrong}


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
