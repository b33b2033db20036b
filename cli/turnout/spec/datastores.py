"""The spec's `data_stores:` and `decommission:` sections.

A data store is an S3 bucket (or a prefix of one) or a DynamoDB table of the old environment that
turnout copies to the new environment at a declared point of the cutover (default: before the
first apply of switched->mirrored, when the old consumers have drained and nothing writes to the
old streams). Reference: docs/datastores.md.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from turnout.spec.repeats import repeats

# S3 bucket naming rules (general purpose buckets):
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# DynamoDB table names: 3-255 characters of [a-zA-Z0-9_.-]
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html
TABLE_NAME = re.compile(r"^[a-zA-Z0-9_.-]{3,255}$")
MAX_KEY_BYTES = 1024  # an S3 object key is at most 1,024 bytes of UTF-8

DataStoreTransition = Literal[
    "baseline->switched", "switched->mirrored", "mirrored->new-live", "new-live->committed"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CopyPoint(_Strict):
    """Where in the cutover the copy runs: `pre` = after the transition's checks, before its
    first apply; `post` = after its last step."""

    transition: DataStoreTransition = "switched->mirrored"
    when: Literal["pre", "post"] = "pre"


def split_location(value: str) -> tuple[str, str]:
    """'bucket' or 'bucket/prefix' -> (bucket, prefix)."""
    bucket, _, prefix = value.partition("/")
    return bucket, prefix


def _check_bucket_location(value: str) -> str:
    bucket, prefix = split_location(value)
    if not BUCKET_NAME.match(bucket) or ".." in bucket:
        raise ValueError(
            f"'{bucket}' is not an S3 bucket name: 3-63 characters of lowercase letters, digits, "
            "'.' and '-', starting and ending with a letter or digit; write bucket or "
            "bucket/prefix"
        )
    if len(prefix.encode()) > MAX_KEY_BYTES - 1:
        raise ValueError("the prefix is longer than an S3 key can be (1,024 bytes)")
    return value


class S3DataStore(_Strict):
    """A bucket or prefix of the old environment, copied server-side to a bucket of the new."""

    kind: Literal["s3"]
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
    source: str = Field(description="bucket or bucket/prefix in the old environment")
    target: str = Field(description="bucket or bucket/prefix in the new environment")
    at: CopyPoint = Field(default_factory=CopyPoint)
    parallelism: Annotated[int, Field(ge=1, le=256)] = 16
    # CopyObject copies up to 5 GiB in one call; above it only UploadPartCopy works
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html).
    multipart_threshold_mib: Annotated[int, Field(ge=5, le=5120)] = 5120
    # Parts are 5 MiB to 5 GiB, at most 10,000 per upload
    # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
    part_size_mib: Annotated[int, Field(ge=5, le=5120)] = 512
    # 3,500 PUT/COPY/POST/DELETE requests per second per prefix
    # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html).
    max_requests_per_second: Annotated[float, Field(gt=0, le=3500)] = 3500
    manifest_in_target: bool = True
    timeout_seconds: Annotated[int, Field(ge=60, le=604800)] = 21600

    @field_validator("source", "target")
    @classmethod
    def _bucket_location(cls, value: str) -> str:
        return _check_bucket_location(value)

    @property
    def source_bucket(self) -> str:
        return split_location(self.source)[0]

    @property
    def source_prefix(self) -> str:
        return split_location(self.source)[1]

    @property
    def target_bucket(self) -> str:
        return split_location(self.target)[0]

    @property
    def target_prefix(self) -> str:
        return split_location(self.target)[1]


class DynamoDbDataStore(_Strict):
    """A table of the old environment, copied item by item into a table of the new."""

    kind: Literal["dynamodb"]
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")]
    source: Annotated[str, Field(pattern=TABLE_NAME.pattern, description="table in old")]
    target: Annotated[str, Field(pattern=TABLE_NAME.pattern, description="table in new")]
    at: CopyPoint = Field(default_factory=CopyPoint)
    # Parallel scan: each segment is scanned by its own worker
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Scan.html#Scan.ParallelScan).
    segments: Annotated[int, Field(ge=1, le=64)] = 4
    # One partition takes at most 1,000 write units per second: 1,000 items of up to 1 KB
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html).
    max_write_items_per_second: Annotated[int, Field(ge=1, le=40000)] = 1000
    page_size: Annotated[int, Field(ge=25, le=1000)] = 500
    timeout_seconds: Annotated[int, Field(ge=60, le=604800)] = 21600


DataStore = Annotated[S3DataStore | DynamoDbDataStore, Field(discriminator="kind")]


class Decommission(_Strict):
    """What `decommissioned` removes besides the replication and the old consumers' mappings."""

    delete_old_streams: bool = Field(
        default=True,
        description="Delete the old streams once their retention has passed since the commit "
        "and nothing was written to them since (needs --allow-destroy).",
    )


def data_store_problems(stores: list[S3DataStore | DynamoDbDataStore]) -> list[tuple[tuple, str]]:
    """Whole-list checks: (field location, message) for each problem."""
    problems: list[tuple[tuple, str]] = [
        (
            ("data_stores", index, "name"),
            f"'{stores[index].name}' is already the name of data_stores[{first}]; data store "
            "names must be unique",
        )
        for index, first in repeats(stores, lambda store: store.name)
    ]
    problems += [
        (
            ("data_stores", index, "target"),
            f"'{stores[index].target}' is already the target of data_stores[{first}]; two "
            "copies into one target would overwrite each other",
        )
        for index, first in repeats(stores, lambda store: (store.kind, store.target))
    ]
    for index, store in enumerate(stores):
        if isinstance(store, S3DataStore) and _overlaps(store):
            problems.append(
                (
                    ("data_stores", index, "target"),
                    f"'{store.target}' overlaps the source '{store.source}': the copy would read "
                    "what it writes; use another bucket or a prefix outside the source",
                )
            )
    return problems


def _overlaps(store: S3DataStore) -> bool:
    if store.source_bucket != store.target_bucket:
        return False
    return store.source_prefix.startswith(store.target_prefix) or store.target_prefix.startswith(
        store.source_prefix
    )
