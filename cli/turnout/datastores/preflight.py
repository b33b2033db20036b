"""Read-only checks of a data store before anything moves: the source exists and the copy's
credentials can read it; the target exists and fits. Each problem is one paragraph naming the
store, the spec field and what would be valid.

Credentials (docs/datastores.md): an S3 copy runs with the old environment's credentials, which
read the source bucket as its own account and write the target through the target bucket's
policy; the target must enforce bucket-owner ownership (BucketOwnerEnforced), so the new account
owns every copied object. A DynamoDB copy reads with the old environment's credentials and
writes with the new one's: no cross-account grant at all.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from turnout.aws.errors import error_code, error_message
from turnout.hooks import HookFailed
from turnout.spec.datastores import DynamoDbDataStore, S3DataStore

DENIED = ("AccessDenied", "AccessDeniedException", "403", "UnauthorizedOperation")
MISSING_BUCKET = ("NoSuchBucket", "404", "NotFound")


class DataStoreUnready(HookFailed):
    """A data store cannot be copied as declared; nothing was read or written beyond checks."""


def check_store(context: Any, index: int) -> dict:
    store = context.spec.data_stores[index]
    try:
        if isinstance(store, S3DataStore):
            return _check_s3(context, store, index)
        return _check_dynamodb(context, store, index)
    except (ClientError, BotoCoreError) as problem:
        raise DataStoreUnready(
            f"data store '{store.name}' (data_stores[{index}]): checking it failed with "
            f"{describe_problem(problem)}; AWS could not be asked whether it can be copied."
        ) from None


def _check_s3(context: Any, store: S3DataStore, index: int) -> dict:
    s3 = context.client("old", "s3")
    field = f"data_stores[{index}]"
    try:
        s3.head_bucket(Bucket=store.source_bucket)
        s3.list_objects_v2(Bucket=store.source_bucket, Prefix=store.source_prefix, MaxKeys=1)
    except ClientError as problem:
        raise _bucket_problem(
            store, f"{field}.source", store.source_bucket, "old", problem
        ) from None
    try:
        s3.head_bucket(Bucket=store.target_bucket)
    except ClientError as problem:
        raise _bucket_problem(
            store, f"{field}.target", store.target_bucket, "new", problem
        ) from None
    ownership = _ownership(context.client("new", "s3"), store.target_bucket)
    if ownership != "BucketOwnerEnforced":
        raise DataStoreUnready(
            f"data store '{store.name}' ({field}.target): bucket '{store.target_bucket}' has "
            f"object ownership {ownership or 'unset (ACLs decide)'}; the copy writes with the old "
            f"environment's credentials, so the target must set ObjectOwnership "
            f"BucketOwnerEnforced for the new account to own every copied object "
            f"(aws_s3_bucket_ownership_controls, docs/datastores.md)."
        )
    return {"store": store.name, "kind": "s3", "source": store.source, "target": store.target}


def _ownership(s3_new: Any, bucket: str) -> str | None:
    try:
        rules = s3_new.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    except ClientError as problem:
        if error_code(problem) == "OwnershipControlsNotFoundError":
            return None
        raise
    return rules[0]["ObjectOwnership"] if rules else None


def _bucket_problem(
    store: S3DataStore, field: str, bucket: str, environment: str, problem: ClientError
) -> DataStoreUnready:
    code = error_code(problem)
    if code in MISSING_BUCKET:
        reason = (
            f"bucket '{bucket}' does not exist ({code}); valid: an existing bucket of the "
            f"{environment} environment, written bucket or bucket/prefix"
        )
    elif code in DENIED:
        reason = (
            f"the old environment's credentials may not read bucket '{bucket}' ({describe_problem(problem)}); "
            f"the copy needs s3:ListBucket and s3:GetObject there"
            + (" through the target bucket's policy" if environment == "new" else "")
        )
    else:
        reason = f"bucket '{bucket}' cannot be checked ({describe_problem(problem)})"
    return DataStoreUnready(f"data store '{store.name}' ({field}): {reason} (docs/datastores.md).")


def _check_dynamodb(context: Any, store: DynamoDbDataStore, index: int) -> dict:
    field = f"data_stores[{index}]"
    source = _describe(context.client("old", "dynamodb"), store, f"{field}.source", "old")
    try:
        context.client("old", "dynamodb").scan(TableName=store.source, Limit=1)
    except ClientError as problem:
        raise _table_problem(store, f"{field}.source", store.source, "old", problem) from None
    target = _describe(context.client("new", "dynamodb"), store, f"{field}.target", "new")
    if _key_schema(source) != _key_schema(target):
        raise DataStoreUnready(
            f"data store '{store.name}' ({field}.target): table '{store.target}' has the key "
            f"{_key_text(target)} but the source '{store.source}' has {_key_text(source)}; the "
            f"target must have the same partition and sort key (names and types)."
        )
    return {
        "store": store.name,
        "kind": "dynamodb",
        "source": store.source,
        "target": store.target,
        "source_items_estimate": source.get("ItemCount"),
    }


def _describe(ddb: Any, store: DynamoDbDataStore, field: str, environment: str) -> dict:
    table = store.source if environment == "old" else store.target
    try:
        description = ddb.describe_table(TableName=table)["Table"]
    except ClientError as problem:
        raise _table_problem(store, field, table, environment, problem) from None
    if description.get("TableStatus") != "ACTIVE":
        raise DataStoreUnready(
            f"data store '{store.name}' ({field}): table '{table}' is "
            f"{description.get('TableStatus')}, not ACTIVE; wait until it is, then run again."
        )
    return description


def _table_problem(
    store: DynamoDbDataStore, field: str, table: str, environment: str, problem: ClientError
) -> DataStoreUnready:
    code = error_code(problem)
    if code == "ResourceNotFoundException":
        reason = (
            f"table '{table}' does not exist in the {environment} environment; valid: the name "
            f"of an existing table there"
        )
    elif code in DENIED:
        needs = (
            "dynamodb:DescribeTable and dynamodb:Scan"
            if environment == "old"
            else ("dynamodb:DescribeTable and dynamodb:BatchWriteItem")
        )
        reason = (
            f"the {environment} environment's credentials may not read table '{table}' "
            f"({describe_problem(problem)}); the copy needs {needs} on it (and kms:Decrypt on its key when "
            f"it is encrypted with a customer managed key)"
        )
    else:
        reason = f"table '{table}' cannot be checked ({describe_problem(problem)})"
    return DataStoreUnready(f"data store '{store.name}' ({field}): {reason} (docs/datastores.md).")


def _key_schema(description: dict) -> list[tuple[str, str, str]]:
    types = {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}
    return sorted(
        (entry["KeyType"], entry["AttributeName"], types.get(entry["AttributeName"], "?"))
        for entry in description["KeySchema"]
    )


def _key_text(description: dict) -> str:
    return ", ".join(
        f"{key_type} {name} ({attribute_type})"
        for key_type, name, attribute_type in _key_schema(description)
    )


def describe_problem(problem: BaseException) -> str:
    if isinstance(problem, ClientError):
        message = error_message(problem).rstrip(".")
        return f"{error_code(problem)}: {message}" if message else error_code(problem)
    return f"{type(problem).__name__}: {problem}"
