"""The sample pipeline's data stores: what the spec's `data_stores:` copy, made the way the
user's own tooling would have made them.

For each S3 store: the source bucket in old, filled with objects (small JSON documents and a few
larger files, one of them uploaded in parts), and the target bucket in new with bucket-owner
ownership enforced and the bucket policy that lets the old account's copy write into it. For
each DynamoDB store whose source the pipeline does not already make (the processed table): the
source table in old, filled with items, and an empty target table with the same key in new.
Idempotent: what exists is kept, a source with data is not filled again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code
from turnout.sandbox.names import processed_table_name
from turnout.spec.datastores import DynamoDbDataStore, S3DataStore
from turnout.spec.model import MigrationSpec

MIB = 1024 * 1024
SMALL_OBJECTS = 200
# (key, size in MiB, uploaded in parts of MiB or None): above the sandbox spec's multipart
# threshold (8 MiB), so the copy takes the UploadPartCopy path.
LARGE_OBJECTS = (
    ("media/intro.mp4", 12, None),
    ("media/keynote.mp4", 18, 5),
    ("exports/2024.parquet", 9, None),
)
PROFILE_ITEMS = 1000

Progress = Callable[[str], None]


def create_data_stores(spec: MigrationSpec, aws: Any, progress: Progress = print) -> dict:
    made = {}
    for store in spec.data_stores:
        if isinstance(store, S3DataStore):
            made[store.name] = _buckets(spec, aws, store)
        elif store.source != processed_table_name(spec, "old"):
            made[store.name] = _tables(aws, store)
        else:
            continue
        progress(f"sample data store {store.name}: {made[store.name]}")
    return made


def _buckets(spec: MigrationSpec, aws: Any, store: S3DataStore) -> str:
    old, new = aws.client("old", "s3"), aws.client("new", "s3")
    _bucket(old, store.source_bucket, spec.environments.old.region)
    _bucket(new, store.target_bucket, spec.environments.new.region)
    new.put_bucket_ownership_controls(
        Bucket=store.target_bucket,
        OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
    )
    new.put_bucket_policy(Bucket=store.target_bucket, Policy=json.dumps(target_policy(spec, store)))
    if old.list_objects_v2(Bucket=store.source_bucket, MaxKeys=1).get("KeyCount"):
        return f"s3://{store.source} already holds objects"
    prefix = store.source_prefix
    for number in range(SMALL_OBJECTS):
        old.put_object(
            Bucket=store.source_bucket,
            Key=f"{prefix}docs/{number:04d}.json",
            Body=json.dumps({"document": number, "text": "x" * (number % 50)}).encode(),
            ContentType="application/json",
            Metadata={"origin": "sandbox"},
        )
    for key, size, part in LARGE_OBJECTS:
        _large(old, store.source_bucket, prefix + key, size * MIB, part)
    return f"s3://{store.source}: {SMALL_OBJECTS + len(LARGE_OBJECTS)} objects"


def target_policy(spec: MigrationSpec, store: S3DataStore) -> dict:
    """The target bucket's policy: the old account's copy may list it and write objects."""
    principal = {"AWS": f"arn:aws:iam::{spec.environments.old.account_id}:root"}
    bucket = f"arn:aws:s3:::{store.target_bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TurnoutCopyList",
                "Effect": "Allow",
                "Principal": principal,
                "Action": ["s3:ListBucket"],
                "Resource": bucket,
            },
            {
                "Sid": "TurnoutCopyWrite",
                "Effect": "Allow",
                "Principal": principal,
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:PutObjectTagging",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": f"{bucket}/*",
            },
        ],
    }


def _bucket(s3: Any, name: str, region: str) -> None:
    try:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    except ClientError as problem:
        if error_code(problem) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def _large(s3: Any, bucket: str, key: str, size: int, part_mib: int | None) -> None:
    body = bytes(range(256)) * (size // 256)
    if part_mib is None:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/octet-stream")
        return
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="video/mp4")
    parts, step = [], part_mib * MIB
    for number, start in enumerate(range(0, size, step), 1):
        answer = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body[start : start + step],
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )


def _tables(aws: Any, store: DynamoDbDataStore) -> str:
    for environment, name in (("old", store.source), ("new", store.target)):
        try:
            aws.client(environment, "dynamodb").create_table(
                TableName=name,
                KeySchema=[{"AttributeName": "profile_id", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "profile_id", "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as problem:
            if error_code(problem) != "ResourceInUseException":
                raise
    old = aws.client("old", "dynamodb")
    if old.scan(TableName=store.source, Limit=1).get("Items"):
        return f"table {store.source} already holds items"
    for first in range(0, PROFILE_ITEMS, 25):
        requests = [
            {"PutRequest": {"Item": _profile(number)}}
            for number in range(first, min(PROFILE_ITEMS, first + 25))
        ]
        old.batch_write_item(RequestItems={store.source: requests})
    return f"table {store.source}: {PROFILE_ITEMS} items"


def _profile(number: int) -> dict:
    return {
        "profile_id": {"S": f"user-{number:05d}"},
        "plan": {"S": ("free", "pro", "team")[number % 3]},
        "visits": {"N": str(number * 7 % 1000)},
        "segments": {"SS": [f"s{number % 4}", f"s{number % 9 + 4}"]},
    }
