"""Helpers for the hooks' integration tests: a migration spec with names unique to one test, a
HookContext on the emulator, and a Lambda consumer that acknowledges turnout's marker records."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

from turnout.aws.access import AwsAccess
from turnout.hooks import HookContext, load_hook
from turnout.spec.model import MigrationSpec

REPO = Path(__file__).resolve().parents[2]
HOOKS = REPO / "hooks"

# A consumer of the markers protocol: processes records in order (records whose data starts
# with FAIL raise, so the shard blocks there), acknowledges each turnout marker addressed to it.
MARKER_CONSUMER = textwrap.dedent(
    """
    import base64
    import json
    import os
    import time

    import boto3

    ddb = boto3.client("dynamodb")


    def handler(event, context):
        for record in event["Records"]:
            data = base64.b64decode(record["kinesis"]["data"])
            if data.startswith(b"FAIL"):
                raise RuntimeError("cannot process " + record["kinesis"]["sequenceNumber"])
            try:
                marker = json.loads(data).get("turnout_marker")
            except ValueError:
                marker = None
            if marker is not None:
                if marker.get("consumer") == context.function_name:
                    ddb.put_item(
                        TableName=os.environ["MARKERS_TABLE"],
                        Item={
                            "marker_id": {"S": marker["id"]},
                            "consumer": {"S": context.function_name},
                            "seen_at": {"N": repr(time.time())},
                        },
                    )
                continue
            ddb.put_item(
                TableName=os.environ["TABLE"],
                Item={
                    "pk": {"S": "rec#" + record["eventID"]},
                    "data": {"S": data.decode()},
                },
            )
        return {"batchItemFailures": []}
    """
)


def make_spec(
    emulator: Any,
    *,
    consumers_old: list[dict] | None = None,
    consumers_new: list[dict] | None = None,
    shards: int = 2,
) -> MigrationSpec:
    tag = uuid.uuid4().hex[:8]
    return MigrationSpec.model_validate(
        {
            "version": 1,
            "migration": f"hk-{tag}",
            "phase": "baseline",
            "environments": {
                "old": {
                    "account_id": emulator.old_account_id,
                    "region": emulator.region,
                    "name_prefix": f"ho{tag}-",
                },
                "new": {
                    "account_id": emulator.new_account_id,
                    "region": emulator.region,
                    "name_prefix": f"hn{tag}-",
                },
            },
            "streams": [
                {
                    "name": "events",
                    "old_name": f"hk-{tag}-events-old",
                    "new_name": f"hk-{tag}-events-new",
                    "capacity": {"mode": "provisioned", "shards": shards},
                }
            ],
            "consumers": {"old": consumers_old or [], "new": consumers_new or []},
            "route": {"environment": "old", "parameters": [f"/hk-{tag}/route"]},
            "replication": {"external_id": "hooks-test"},
        }
    )


def create_streams(emulator: Any, spec: MigrationSpec, environment: str) -> dict[str, str]:
    """Create the spec's streams in one environment; logical name -> ARN."""
    kinesis = emulator.client("kinesis", environment)
    arns = {}
    for stream in spec.streams:
        name = stream.name_in(environment)
        kinesis.create_stream(StreamName=name, ShardCount=stream.capacity.shards)
        arns[stream.name] = kinesis.describe_stream_summary(StreamName=name)[
            "StreamDescriptionSummary"
        ]["StreamARN"]
    return arns


def create_table(emulator: Any, environment: str, name: str, key: str) -> str:
    emulator.client("dynamodb", environment).create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def create_state_table(dynamodb: Any, name: str) -> str:
    """The control plane's state table (pk/sk), as modules/control-plane declares it."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def shard_ids(emulator: Any, environment: str, stream_name: str) -> list[str]:
    shards = emulator.client("kinesis", environment).list_shards(StreamName=stream_name)["Shards"]
    return [shard["ShardId"] for shard in shards]


def put_to_shard(
    emulator: Any, environment: str, stream_name: str, shard_id: str, data: str
) -> dict:
    """PutRecord pinned to one shard (ExplicitHashKey = its starting hash key)."""
    kinesis = emulator.client("kinesis", environment)
    shard = next(
        shard
        for shard in kinesis.list_shards(StreamName=stream_name)["Shards"]
        if shard["ShardId"] == shard_id
    )
    return kinesis.put_record(
        StreamName=stream_name,
        Data=data.encode(),
        PartitionKey="p",
        ExplicitHashKey=shard["HashKeyRange"]["StartingHashKey"],
    )


class Progress(list):
    def __call__(self, message: str) -> None:
        self.append(message)


def context(
    emulator: Any, spec: MigrationSpec, project_root: Path | None = None, **kwargs: Any
) -> HookContext:
    return HookContext(
        spec=spec,
        aws=AwsAccess.for_emulator(spec, emulator),
        phase_from="baseline",
        phase_to="switched",
        project_root=project_root or REPO,
        progress=kwargs.pop("progress", Progress()),
        **kwargs,
    )


def run_hook(name: str, args: dict, ctx: HookContext) -> dict:
    return load_hook(HOOKS, name, args).run(ctx)
