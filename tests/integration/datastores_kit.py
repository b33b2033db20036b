"""Helpers for the data store tests on the emulator: a spec with names unique to one test, its
state table, buckets and tables with data, a hook context, and a copy run in a child process
(so a test can kill it with SIGKILL mid-copy)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from hooks_kit import create_state_table

from turnout.aws.access import AwsAccess
from turnout.hooks import HookContext
from turnout.spec.model import MigrationSpec
from turnout.spec.names import control_plane, datastore_checkpoint_key, state_partition_key

REPO = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024


def make_spec(emulator: Any, stores: list[dict]) -> MigrationSpec:
    tag = uuid.uuid4().hex[:8]
    return MigrationSpec.model_validate(
        {
            "version": 1,
            "migration": f"ds-{tag}",
            "phase": "baseline",
            "environments": {
                "old": {
                    "account_id": emulator.old_account_id,
                    "region": emulator.region,
                    "name_prefix": f"do{tag}-",
                },
                "new": {
                    "account_id": emulator.new_account_id,
                    "region": emulator.region,
                    "name_prefix": f"dn{tag}-",
                },
            },
            "streams": [{"name": "events", "capacity": {"mode": "on_demand"}}],
            "route": {"environment": "old", "parameters": [f"/ds-{tag}/route"]},
            "replication": {"external_id": "datastores-test"},
            "data_stores": stores,
        }
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def prepare_control_plane(emulator: Any, spec: MigrationSpec) -> None:
    create_state_table(emulator.client("dynamodb", "old"), control_plane(spec).state_table)


def hook_context(emulator: Any, spec: MigrationSpec, work_dir: Path, **options: Any) -> HookContext:
    notes: list[str] = []
    return HookContext(
        spec=spec,
        aws=AwsAccess.for_emulator(spec, emulator),
        phase_from="switched",
        phase_to="mirrored",
        project_root=REPO,
        progress=notes.append,
        work_dir=work_dir,
        **options,
    )


def create_buckets(emulator: Any, source: str, target: str, enforced: bool = True) -> None:
    place = {"LocationConstraint": emulator.region}
    emulator.client("s3", "old").create_bucket(Bucket=source, CreateBucketConfiguration=place)
    new = emulator.client("s3", "new")
    new.create_bucket(Bucket=target, CreateBucketConfiguration=place)
    if enforced:
        new.put_bucket_ownership_controls(
            Bucket=target,
            OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        )


def put_multipart(s3: Any, bucket: str, key: str, part_sizes: list[int], byte: bytes) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="video/mp4")
    parts = []
    for number, size in enumerate(part_sizes, 1):
        answer = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=byte * size
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )


def listing(s3: Any, bucket: str, prefix: str = "") -> dict[str, tuple[int, str]]:
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            found[entry["Key"]] = (entry["Size"], entry["ETag"])
    return found


def create_table(emulator: Any, environment: str, name: str) -> None:
    emulator.client("dynamodb", environment).create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "user", "KeyType": "HASH"},
            {"AttributeName": "at", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "user", "AttributeType": "S"},
            {"AttributeName": "at", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def profile_item(number: int) -> dict:
    """An item with every attribute type DynamoDB has."""
    return {
        "user": {"S": f"user-{number % 97:03d}"},
        "at": {"N": str(1_700_000_000 + number)},
        "name": {"S": f"name {number}"},
        "score": {"N": f"{number / 7:.6f}"},
        "blob": {"B": number.to_bytes(4, "big")},
        "tags": {"SS": [f"t{number % 5}", f"t{number % 3 + 10}"]},
        "counts": {"NS": [str(number), str(number + 1)]},
        "prefs": {"M": {"dark": {"BOOL": number % 2 == 0}, "lang": {"S": "en"}}},
        "history": {"L": [{"N": str(number)}, {"S": "x"}, {"NULL": True}]},
    }


def fill_table(emulator: Any, environment: str, table: str, count: int) -> None:
    ddb = emulator.client("dynamodb", environment)
    items = [profile_item(number) for number in range(count)]
    for first in range(0, count, 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[first : first + 25]]
        ddb.batch_write_item(RequestItems={table: requests})


def table_items(emulator: Any, environment: str, table: str) -> list[dict]:
    ddb = emulator.client("dynamodb", environment)
    items = []
    for page in ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend(page["Items"])
    return items


def checkpoint_item(dynamodb: Any, spec: MigrationSpec, store: str) -> dict | None:
    """The copy checkpoint of `store`, read with the control plane's DynamoDB client."""
    item = dynamodb.get_item(
        TableName=control_plane(spec).state_table,
        Key={
            "pk": {"S": state_partition_key(spec)},
            "sk": {"S": datastore_checkpoint_key(store)},
        },
        ConsistentRead=True,
    ).get("Item")
    if item is None:
        return None
    return {
        "status": item["status"]["S"],
        "progress": json.loads(item["progress"]["S"]),
    }


def requests_served(emulator: Any, operation: str) -> int:
    return int(emulator.status().get("requests", {}).get(operation, 0))


CHILD = """
import json, sys
from pathlib import Path
from turnout.aws.access import AwsAccess
from turnout.aws.endpoint import EndpointAccounts
from turnout.datastores.run import copy_store
from turnout.hooks import HookContext
from turnout.spec.model import MigrationSpec

spec = MigrationSpec.model_validate(json.loads(Path(sys.argv[1]).read_text()))
accounts = EndpointAccounts(sys.argv[2])
context = HookContext(
    spec=spec,
    aws=AwsAccess(spec, endpoint_url=sys.argv[2], emulator=accounts),
    phase_from="switched",
    phase_to="mirrored",
    project_root=Path(sys.argv[4]),
    progress=lambda line: print(line, flush=True),
    work_dir=Path(sys.argv[4]),
)
print(json.dumps(copy_store(context, sys.argv[3])), flush=True)
"""


def start_copy_process(emulator: Any, spec: MigrationSpec, store: str, work_dir: Path):
    """A child process running `copy_store` for `store`; its output goes to work_dir/copy.log."""
    spec_file = work_dir / "spec.json"
    spec_file.write_text(json.dumps(spec.model_dump(mode="json", exclude_none=True)))
    log = (work_dir / "copy.log").open("w")
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(spec_file), emulator.endpoint_url, store, str(work_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
