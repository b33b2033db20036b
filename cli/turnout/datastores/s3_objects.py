"""S3 listings of a source and a target location, walked side by side.

ListObjectsV2 returns keys in UTF-8 binary order
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectsV2.html), which is the order of
Python's str comparison, and replacing one common prefix by another keeps it. So the source and
the target listings are merged in one pass, in constant memory, and a copy can resume "after
key K" in both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code

# User metadata the copy adds when the target's ETag cannot equal the source's (multipart
# copies, SSE-KMS): the source ETag the target object was copied from.
SOURCE_ETAG_METADATA = "turnout-source-etag"


@dataclass(frozen=True)
class S3Object:
    key: str  # relative to the location's prefix
    size: int
    etag: str


def list_objects(
    s3: Any, bucket: str, prefix: str, after: str | None = None, skip: str | None = None
) -> Iterator[S3Object]:
    """Every object under `prefix` whose relative key sorts after `after` (all when None);
    the full key `skip` (the manifest) is left out."""
    arguments: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
    if after is not None:
        arguments["StartAfter"] = prefix + after
    while True:
        page = s3.list_objects_v2(**arguments)
        for entry in page.get("Contents", []):
            if entry["Key"] == skip:
                continue
            yield S3Object(entry["Key"][len(prefix) :], int(entry["Size"]), entry["ETag"])
        if not page.get("IsTruncated"):
            return
        arguments["ContinuationToken"] = page["NextContinuationToken"]


def paired(
    source: Iterator[S3Object], target: Iterator[S3Object]
) -> Iterator[tuple[S3Object | None, S3Object | None]]:
    """(source, target) per relative key, in key order; None where a side has no such key."""
    left, right = next(source, None), next(target, None)
    while left is not None or right is not None:
        if right is None or (left is not None and left.key < right.key):
            yield left, None
            left = next(source, None)
        elif left is None or right.key < left.key:
            yield None, right
            right = next(target, None)
        else:
            yield left, right
            left, right = next(source, None), next(target, None)


def same_content(s3: Any, source: S3Object, target: S3Object, bucket: str, key: str) -> str | None:
    """How the target is known to hold the source's bytes: "etag" (equal ETags), "marker"
    (the target records the source ETag it was copied from), or None (copy it)."""
    if source.size != target.size:
        return None
    if source.etag == target.etag:
        return "etag"
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as problem:
        if error_code(problem) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    recorded = head.get("Metadata", {}).get(SOURCE_ETAG_METADATA)
    return "marker" if recorded == source.etag else None
