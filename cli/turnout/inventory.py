"""What turnout's resources look like right now in one environment, read with boto3."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from turnout.spec.model import MigrationSpec
from turnout.spec.names import direction_parameter, names
from turnout.spec.phases import direction_of_replicator_in


def environment_inventory(
    spec: MigrationSpec, environment: str, session: Any, endpoint_url: str | None
) -> dict:
    """Streams, the replicator and its mappings, and the control parameters of one environment."""

    def client(service: str):
        return session.client(service, endpoint_url=endpoint_url)

    kinesis = client("kinesis")
    streams = {}
    for stream in spec.streams:
        name = stream.name_in(environment)
        try:
            summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
        except ClientError as problem:
            streams[stream.name] = {"name": name, "error": problem.response["Error"]["Code"]}
            continue
        streams[stream.name] = {
            "name": name,
            "status": summary["StreamStatus"],
            "mode": summary.get("StreamModeDetails", {}).get("StreamMode"),
            "open_shards": summary.get("OpenShardCount"),
            "retention_hours": summary["RetentionPeriodHours"],
            "encryption": summary.get("EncryptionType"),
            "kms_key": summary.get("KeyId"),
        }
    function = names(spec, environment).replicator
    lambda_client = client("lambda")
    mappings = [
        {
            "uuid": mapping["UUID"],
            "state": mapping["State"],
            "source": mapping["EventSourceArn"].split("/")[-1],
        }
        for mapping in _paginate(
            lambda_client,
            "list_event_source_mappings",
            "EventSourceMappings",
            FunctionName=function,
        )
    ]
    ssm = client("ssm")
    parameters = {direction_parameter(spec): _parameter(ssm, direction_parameter(spec))}
    if spec.route.environment == environment:
        for name in spec.route.parameters:
            parameters[name] = _parameter(ssm, name)
    return {
        "environment": environment,
        "account_id": getattr(spec.environments, environment).account_id,
        "streams": streams,
        "replicator": {
            "function": function,
            "direction": direction_of_replicator_in(environment),
            "mappings": sorted(mappings, key=lambda mapping: mapping["source"]),
        },
        "parameters": parameters,
    }


def inventory_text(inventory: dict) -> str:
    lines = [f"{inventory['environment']} (account {inventory['account_id']})"]
    for logical, stream in inventory["streams"].items():
        if "error" in stream:
            lines.append(f"  stream {logical} ({stream['name']}): {stream['error']}")
            continue
        shards = f"{stream['open_shards']} shards" if stream["mode"] != "ON_DEMAND" else "on-demand"
        lines.append(
            f"  stream {logical} ({stream['name']}): {stream['status']}, {shards}, "
            f"{stream['retention_hours']} h retention, encryption {stream['encryption']}"
        )
    replicator = inventory["replicator"]
    states = (
        ", ".join(f"{mapping['source']}={mapping['state']}" for mapping in replicator["mappings"])
        or "none"
    )
    lines.append(
        f"  replicator {replicator['function']} ({replicator['direction']}): mappings {states}"
    )
    for name, value in inventory["parameters"].items():
        lines.append(f"  parameter {name} = {value}")
    return "\n".join(lines)


def _parameter(ssm: Any, name: str) -> str | None:
    try:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError:
        return None


def _paginate(client: Any, operation: str, key: str, **arguments: Any) -> list[dict]:
    items: list[dict] = []
    marker: str | None = None
    while True:
        page = getattr(client, operation)(**arguments, **({"Marker": marker} if marker else {}))
        items.extend(page.get(key, []))
        marker = page.get("NextMarker")
        if not marker:
            return items
