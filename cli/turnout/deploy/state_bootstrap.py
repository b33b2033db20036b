"""`turnout state bootstrap`: create the state bucket, or bring an existing one of ours in line.

Idempotent. The bucket is created with the state role's credentials, or the old environment's
when the spec names no state role, in `state.region`; then versioning, default encryption
(SSE-S3), the public access block, bucket-owner-enforced ownership, tags and the bucket policy
(turnout.deploy.state_bucket.bucket_policy) are set, every call with `ExpectedBucketOwner`, so a
bucket of the same name in another account is never touched. A name taken by another account or
a bucket of ours in another region is refused in one paragraph.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from turnout.aws.access import AwsAccess
from turnout.aws.errors import error_code
from turnout.deploy.state_bucket import (
    BootstrapResult,
    StateBucketError,
    bucket_policy,
    state_client,
)
from turnout.spec.model import MigrationSpec
from turnout.spec.names import state_bucket, state_region

Progress = Callable[[str], None]
OWNER_ENVIRONMENT = "old"


def bootstrap_state_bucket(
    spec: MigrationSpec, aws: AwsAccess, progress: Progress = print
) -> BootstrapResult:
    if spec.state is not None and spec.state.backend == "local":
        raise StateBucketError(
            "the spec keeps Terraform's state locally (state.backend: local), so there is no "
            "bucket to create; set state to an S3 bucket first (docs/state.md). Nothing was "
            "changed."
        )
    bucket, region = state_bucket(spec), state_region(spec)
    role = spec.state.role_arn if spec.state is not None else None
    owner = role.split(":")[4] if role else aws.account_id(OWNER_ENVIRONMENT)
    s3 = state_client(spec, OWNER_ENVIRONMENT, aws)
    try:
        created = _create(s3, bucket, region, owner)
        progress(f"state bucket {bucket} {'created' if created else 'exists'} in {region}")
        _harden(s3, spec, bucket, owner, progress)
    except ClientError as problem:
        raise StateBucketError(
            f"could not configure the state bucket {bucket} ({error_code(problem)}: "
            f"{problem}). The credentials need s3:CreateBucket and s3:PutBucket* on it "
            f"(docs/state.md). Run `turnout state bootstrap` again once fixed: it is idempotent."
        ) from None
    except BotoCoreError as problem:
        raise StateBucketError(
            f"cannot reach S3 for the state bucket {bucket} ({problem}); run `turnout state "
            f"bootstrap` again once it answers: it is idempotent."
        ) from None
    return BootstrapResult(bucket, region, created, owner)


def _create(s3: Any, bucket: str, region: str, owner: str) -> bool:
    """True when created now; False when it was ours already (in `region`)."""
    arguments: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":  # us-east-1 takes no location constraint
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**arguments)
        return True
    except ClientError as problem:
        code = error_code(problem)
        if code == "BucketAlreadyExists":
            raise StateBucketError(
                f"the bucket name {bucket} (state.bucket) is taken by another AWS account; S3 "
                f"bucket names are global. Choose another name in the spec and run `turnout "
                f"state bootstrap` again. Nothing was changed."
            ) from None
        if code not in ("BucketAlreadyOwnedByYou", "IllegalLocationConstraintException"):
            raise
    actual = s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=owner).get("BucketRegion")
    if actual and actual != region:
        raise StateBucketError(
            f"the bucket {bucket} is already yours, in region {actual}, but state.region says "
            f"{region}. Set state.region: {actual} in the spec (or choose another bucket name). "
            f"Nothing was changed."
        )
    return False


def _harden(s3: Any, spec: MigrationSpec, bucket: str, owner: str, progress: Progress) -> None:
    mine = {"Bucket": bucket, "ExpectedBucketOwner": owner}
    s3.put_public_access_block(
        **mine,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_ownership_controls(
        **mine, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    )
    s3.put_bucket_versioning(**mine, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        **mine,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    tags = {"turnout:migration": spec.migration, **spec.tags}
    s3.put_bucket_tagging(
        **mine, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
    )
    s3.put_bucket_policy(**mine, Policy=json.dumps(bucket_policy(spec, owner)))
    progress(
        f"state bucket {bucket}: versioning on, SSE-S3 encryption, public access blocked, "
        f"owner-enforced objects, TLS-only policy"
    )
