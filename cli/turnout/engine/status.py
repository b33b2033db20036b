"""`turnout status`: where the migration stands, read live (nothing cached, nothing changed)."""

from __future__ import annotations

import json
import time
from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.access import service_clock
from turnout.aws.mappings import mappings_reading
from turnout.preflight.retention_clock import readers
from turnout.preflight.stream_age import hours, measure_streams
from turnout.spec.names import direction_parameter, names
from turnout.spec.phases import ENVIRONMENTS, direction_of_replicator_in, peer_of


def gather_status(engine: Any, journal_entries: int = 10) -> dict:
    spec = engine.spec
    aws = engine.aws
    state = engine.store.load()
    holder = engine.lock.holder()
    now = time.time()
    arrivals_now = service_clock(aws)()  # the ledger's arrival times are Kinesis's
    document: dict[str, Any] = {
        "migration": spec.migration,
        "live_phase": state.phase,
        "desired_phase": spec.phase,
        "in_progress": None,
        "lock": None if holder is None else {**vars(holder), "expired": holder.expires_at < now},
        "route": _route(spec, aws),
        "replication": {},
        "consumers": {},
        "retention": retention_status(spec, aws, state.phase),
        "read_across": read_across_status(spec, aws),
        "journal": [],
    }
    if state.transition:
        document["in_progress"] = {
            "from": state.transition.from_phase,
            "to": state.transition.to_phase,
            "run_id": state.transition.run_id,
            "completed_steps": state.transition.completed_steps,
        }
    for environment in ENVIRONMENTS:
        document["replication"][direction_of_replicator_in(environment)] = _replication(
            spec, aws, environment, arrivals_now
        )
        document["consumers"][environment] = _consumers(spec, aws, environment)
    document["journal"] = [
        {
            "at": entry["at"],
            "kind": entry["kind"],
            "action": entry["action"],
            "who": entry["who"],
            **{
                key: entry["details"][key]
                for key in ("step", "transition", "error", "reason", "check", "verdict")
                if key in entry["details"]
            },
        }
        for entry in engine.store.read_journal(limit=journal_entries)
    ]
    return document


# From the switch until new-live the new consumers are paused and the new streams buffer what
# the producers write (at switched, replication new -> old is off too).
BUFFERING = ("switched", "mirrored")


def retention_status(spec: Any, aws: Any, phase: str) -> list[dict]:
    """Per new stream while its consumers are paused: the oldest record not yet processed
    against the stream's retention (docs/preflight.md, `retention-clock`)."""
    if phase not in BUFFERING:
        return []
    waiting = (
        "its paused consumers and the replicator" if phase == "switched" else "its paused consumers"
    )
    return [
        {**age.to_dict(), "paused": readers(spec, age.stream), "unprocessed_by": waiting}
        for age in measure_streams(spec, aws, "new")
    ]


def read_across_status(spec: Any, aws: Any) -> list[dict]:
    """Replication mode read-across: the state of each old Lambda consumer's mapping on each
    new stream it reads (`absent` before mirrored; docs/read-across.md); [] in copy mode."""
    if spec.replication.mode != "read-across":
        return []
    new = names(spec, "new")
    lambda_client = aws.client("old", "lambda")
    found = []
    for consumer in spec.consumers.old:
        if consumer.kind != "lambda":
            continue
        for stream in consumer.streams:
            try:
                mappings = mappings_reading(
                    lambda_client, consumer.function_name, [new.stream_arn(stream)]
                )
                state = "/".join(sorted({m["State"] for m in mappings})) or "absent"
            except ClientError as problem:
                state = f"unknown ({problem.response['Error']['Code']})"
            found.append({"consumer": consumer.function_name, "stream": stream, "state": state})
    return found


def _read_across_line(entries: list[dict]) -> str:
    pairs = ", ".join(f"{e['consumer']} on new/{e['stream']} {e['state']}" for e in entries)
    return f"  read-across (the old consumers' mappings on the new streams): {pairs}"


def _retention_line(entry: dict) -> str:
    where = f"  retention new/{entry['stream']}"
    if entry["problem"]:
        return f"{where}: unknown, {entry['problem']}"
    if entry["oldest_age_seconds"] is None:
        return f"{where}: no record waiting (retention {entry['retention_hours']} h)"
    return (
        f"{where}: oldest record not processed by {entry['unprocessed_by']} is "
        f"{hours(entry['oldest_age_seconds'])} old of {entry['retention_hours']} h retention "
        f"({entry['share']:.0%} used), {hours(entry['left_seconds'])} left; paused: "
        f"{entry['paused']}"
    )


def _route(spec: Any, aws: Any) -> dict:
    ssm = aws.client(spec.route.environment, "ssm")
    routes = {}
    for name in spec.route.parameters:
        try:
            value = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
            routes[name] = value.get("environment")
        except (ClientError, ValueError):
            routes[name] = None
    return routes


def _replication(spec: Any, aws: Any, environment: str, now: float) -> dict:
    """`now` on the services' clock: the ledger's arrival times are Kinesis's."""
    direction = direction_of_replicator_in(environment)
    parameters = {}
    for side in (environment, peer_of(environment)):
        try:
            parameters[side] = aws.client(side, "ssm").get_parameter(
                Name=direction_parameter(spec)
            )["Parameter"]["Value"]
        except ClientError:
            parameters[side] = None
    function = names(spec, environment).replicator
    lambda_client = aws.client(environment, "lambda")
    try:
        mappings = lambda_client.list_event_source_mappings(FunctionName=function)[
            "EventSourceMappings"
        ]
        states = sorted({mapping["State"] for mapping in mappings})
        ledger_table = lambda_client.get_function_configuration(FunctionName=function)[
            "Environment"
        ]["Variables"]["TURNOUT_LEDGER_TABLE"]
    except (ClientError, KeyError):
        return {"parameters": parameters, "mappings": "unknown", "streams": {}}
    streams: dict[str, dict] = {}
    try:
        items = aws.client(environment, "dynamodb").scan(TableName=ledger_table).get("Items", [])
    except ClientError:
        items = []
    for item in items:
        stream = item.get("source_stream", {}).get("S") or item["shard_key"]["S"].split("/")[0]
        arrival = float(item.get("last_arrival_time", {}).get("N", "0") or 0)
        entry = streams.setdefault(stream, {"records": 0, "shards": 0, "lag_seconds": None})
        entry["records"] += int(item.get("record_count", {}).get("N", "0"))
        entry["shards"] += 1
        if arrival:
            lag = round(now - arrival, 1)
            entry["lag_seconds"] = (
                lag if entry["lag_seconds"] is None else max(entry["lag_seconds"], lag)
            )
    active = all(value == direction for value in parameters.values())
    return {"parameters": parameters, "active": active, "mappings": states, "streams": streams}


def _consumers(spec: Any, aws: Any, environment: str) -> list[dict]:
    lambda_client = aws.client(environment, "lambda")
    found = []
    for consumer in getattr(spec.consumers, environment):
        if consumer.kind != "lambda":
            found.append(
                {
                    "kind": consumer.kind,
                    "name": getattr(consumer, "application", None) or getattr(consumer, "name", ""),
                }
            )
            continue
        try:
            mappings = lambda_client.list_event_source_mappings(
                FunctionName=consumer.function_name
            )["EventSourceMappings"]
            states = sorted({mapping["State"] for mapping in mappings}) or ["no mappings"]
        except ClientError as problem:
            states = [problem.response["Error"]["Code"]]
        found.append({"kind": "lambda", "name": consumer.function_name, "states": states})
    return found


def status_text(document: dict) -> str:
    lines = [
        f"migration {document['migration']}: live phase {document['live_phase']}, desired {document['desired_phase']}"
    ]
    if document["in_progress"]:
        progress = document["in_progress"]
        lines.append(
            f"  in progress: {progress['from']} -> {progress['to']} (run {progress['run_id']}), "
            f"done: {', '.join(progress['completed_steps']) or 'nothing yet'}"
        )
    lock = document["lock"]
    lines.append(
        "  lock: free"
        if lock is None
        else f"  lock: held by {lock['owner']} (run {lock['run_id']}){' EXPIRED' if lock['expired'] else ''}"
    )
    for name, target in document["route"].items():
        lines.append(f"  route {name}: producers -> {target}")
    for direction, replication in document["replication"].items():
        streams = (
            ", ".join(
                f"{stream}: {info['records']} records, lag {info['lag_seconds']} s"
                for stream, info in replication["streams"].items()
            )
            or "nothing replicated yet"
        )
        lines.append(
            f"  replication {direction}: parameters {replication['parameters']}, mappings {replication['mappings']}; {streams}"
        )
    for environment, consumers in document["consumers"].items():
        for consumer in consumers:
            lines.append(
                f"  consumer {environment}/{consumer['name']}: {', '.join(consumer.get('states', [consumer['kind']]))}"
            )
    if document.get("read_across"):
        lines.append(_read_across_line(document["read_across"]))
    lines += [_retention_line(entry) for entry in document.get("retention", [])]
    if document["journal"]:
        lines.append("  last journal entries:")
        for entry in document["journal"]:
            subject = entry.get("step") or entry.get("transition") or ""
            if entry["kind"] == "gate" and entry["action"] == "accepted":
                # an accepted preflight warning stays visible with its reason
                subject = (
                    f"{entry.get('transition', '')}: {entry.get('check')} ({entry.get('verdict')}) "
                    f'because "{entry.get("reason", "")}"'
                )
            lines.append(
                f"    {entry['at']} {entry['kind']} {entry['action']} {subject} ({entry['who']})"
            )
    return "\n".join(lines)
