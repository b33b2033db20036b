"""The S3 bucket that holds the environments' Terraform state: checked before every plan,
created and hardened by `turnout state bootstrap`.

Bootstrap is idempotent: it creates the bucket in `state.region` (or finds it already ours),
then sets versioning (every state version is kept: a bad apply can be rolled back), default
encryption (SSE-S3), the public access block, bucket-owner-enforced object ownership and a bucket
policy that denies any request not made over TLS (and, without a state role, lets the other
environment's account use its own state object). The emulator does not evaluate bucket policies;
tests evaluate the rendered document instead (tests/unit/test_state_bucket.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from turnout.aws.access import AwsAccess
from turnout.aws.client_config import CLIENT_CONFIG
from turnout.errors import TurnoutError
from turnout.spec.model import MigrationSpec
from turnout.spec.names import (
    state_bucket,
    state_bucket_arn,
    state_key,
    state_lock_key,
    state_region,
)

Progress = Callable[[str], None]


class StateBucketError(TurnoutError):
    """The state bucket is missing, elsewhere, someone else's, or refuses us."""


def state_session(spec: MigrationSpec, environment: str, aws: AwsAccess) -> boto3.Session:
    """The credentials that reach the state, as Terraform's backend gets them
    (turnout.deploy.backend.state_role): the state role, else the environment's own."""
    role = spec.state.role_arn if spec.state is not None else None
    if role and aws.assume_roles:
        return aws.role_session(environment, role, "state access")
    return aws.session(environment)


def state_client(spec: MigrationSpec, environment: str, aws: AwsAccess) -> Any:
    return state_session(spec, environment, aws).client(
        "s3", region_name=state_region(spec), endpoint_url=aws.endpoint_url, config=CLIENT_CONFIG
    )


def check_state_bucket(spec: MigrationSpec, environment: str, aws: AwsAccess) -> None:
    """Before Terraform runs: the bucket exists, is in `state.region` and lets us in."""
    bucket, region = state_bucket(spec), state_region(spec)
    s3 = state_client(spec, environment, aws)
    try:
        answer = s3.head_bucket(Bucket=bucket)
    except ClientError as problem:
        raise StateBucketError(_head_problem(problem, bucket, region, environment)) from None
    except BotoCoreError as problem:
        raise StateBucketError(
            f"cannot reach the state bucket {bucket} ({problem}); check the network and run the "
            f"command again. Nothing was changed."
        ) from None
    actual = _bucket_region(answer)
    if actual and actual != region:
        raise StateBucketError(_wrong_region(bucket, actual, region))


def _head_problem(problem: ClientError, bucket: str, region: str, environment: str) -> str:
    status = problem.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    headers = problem.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    if status == 404:
        return (
            f"the state bucket {bucket} (state.bucket) does not exist. Create it with `turnout "
            f"state bootstrap` (versioned, encrypted, private, TLS only), or correct state.bucket "
            f"in the spec. Nothing was changed."
        )
    if status == 301 or headers.get("x-amz-bucket-region", region) != region:
        return _wrong_region(bucket, headers.get("x-amz-bucket-region", "another region"), region)
    return (
        f"the state bucket {bucket} exists but refuses the {environment} environment's "
        f"credentials ({status} {problem.response.get('Error', {}).get('Code', '')}): it belongs "
        f"to another account, or its policy or the credentials' do not allow s3:ListBucket. Use "
        f"a bucket of your own (state.bucket), or set state.role_arn to a role that may use it. "
        f"Nothing was changed."
    )


def _wrong_region(bucket: str, actual: str, region: str) -> str:
    return (
        f"the state bucket {bucket} is in region {actual}, but state.region says {region}. Set "
        f"state.region: {actual} in the spec (or use a bucket in {region}). Nothing was changed."
    )


def _bucket_region(answer: dict) -> str | None:
    headers = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return answer.get("BucketRegion") or headers.get("x-amz-bucket-region")


def state_exists(spec: MigrationSpec, environment: str, aws: AwsAccess) -> dict | None:
    """The environment's state in the bucket (parsed), or None when there is none."""
    s3 = state_client(spec, environment, aws)
    try:
        body = s3.get_object(Bucket=state_bucket(spec), Key=state_key(spec, environment))["Body"]
    except ClientError as problem:
        if problem.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise StateBucketError(
            f"cannot read s3://{state_bucket(spec)}/{state_key(spec, environment)} "
            f"({problem}). Nothing was changed."
        ) from None
    return json.loads(body.read())


def lock_held(spec: MigrationSpec, environment: str, aws: AwsAccess) -> dict | None:
    """The lock file beside the environment's state (Terraform's lock info), or None."""
    s3 = state_client(spec, environment, aws)
    try:
        body = s3.get_object(Bucket=state_bucket(spec), Key=state_lock_key(spec, environment))
    except ClientError:
        return None
    return json.loads(body["Body"].read())


@dataclass(frozen=True)
class BootstrapResult:
    bucket: str
    region: str
    created: bool
    owner_account: str

    def as_dict(self) -> dict:
        return {
            "bucket": self.bucket,
            "region": self.region,
            "created": self.created,
            "owner_account": self.owner_account,
        }


def bucket_policy(spec: MigrationSpec, owner_account: str) -> dict:
    """TLS only; without a state role, the other environment's account may use its own state
    object and lock file (and list them), nothing else."""
    arn = state_bucket_arn(spec)
    statements: list[dict] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if spec.state is not None and spec.state.role_arn:
        return {"Version": "2012-10-17", "Statement": statements}
    for environment in ("old", "new"):
        account = getattr(spec.environments, environment).account_id
        if account == owner_account:
            continue
        key = state_key(spec, environment)
        principal = {"AWS": f"arn:aws:iam::{account}:root"}
        statements += [
            {
                "Sid": f"{environment.capitalize()}EnvironmentUsesItsState",
                "Effect": "Allow",
                "Principal": principal,
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"{arn}/{key}", f"{arn}/{key}.tflock"],
            },
            {
                "Sid": f"{environment.capitalize()}EnvironmentListsItsState",
                "Effect": "Allow",
                "Principal": principal,
                "Action": "s3:ListBucket",
                "Resource": arn,
                "Condition": {"StringLike": {"s3:prefix": [key, f"{key}.tflock"]}},
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}
