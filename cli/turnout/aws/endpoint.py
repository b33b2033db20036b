"""Reaching the accounts of an AWS emulator at a URL (moto server), the same way everywhere.

moto attributes a call to the account of the role its credentials were assumed into, so each
environment's session assumes `arn:aws:iam::<account>:role/turnout-emulator-admin` first.
Used by `--endpoint-url` and by the sandbox.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import Credentials

from turnout.aws.credentials import refreshing_role_credentials, session_with
from turnout.errors import TurnoutError

EMULATOR_ROLE_NAME = "turnout-emulator-admin"
BASE_CREDENTIALS = ("test", "test")
DEFAULT_REGION = "eu-west-1"
# What the emulator's sessions ask for (AWS's longest role session; an emulator started with a
# session limit grants less, and the refreshing sessions renew them).
EMULATOR_SESSION_SECONDS = 43200

EMULATOR_CLIENT_CONFIG = Config(
    retries={"max_attempts": 3, "mode": "standard"},
    connect_timeout=5,
    read_timeout=60,
    max_pool_connections=50,
)


def role_arn(account_id: str, role_name: str = EMULATOR_ROLE_NAME) -> str:
    return f"arn:aws:iam::{account_id}:role/{role_name}"


def assume_role_credentials(
    endpoint_url: str,
    role: str,
    session_name: str = "turnout",
    region: str = DEFAULT_REGION,
    base_credentials: tuple[str, str] = BASE_CREDENTIALS,
) -> dict[str, str]:
    """AssumeRole against the emulator; returns AccessKeyId/SecretAccessKey/SessionToken."""
    sts = boto3.client(
        "sts",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=base_credentials[0],
        aws_secret_access_key=base_credentials[1],
        config=EMULATOR_CLIENT_CONFIG,
    )
    creds = sts.assume_role(RoleArn=role, RoleSessionName=session_name[:64], DurationSeconds=43200)[
        "Credentials"
    ]
    return {
        "AccessKeyId": creds["AccessKeyId"],
        "SecretAccessKey": creds["SecretAccessKey"],
        "SessionToken": creds["SessionToken"],
    }


def refreshing_credentials(
    endpoint_url: str, account_id: str, region: str, session_name: str = "turnout"
) -> Any:
    """Credentials in `account_id` of the emulator, through its role there, renewed before each
    session expires (turnout.aws.credentials)."""
    base = session_with(Credentials(*BASE_CREDENTIALS), region)
    return refreshing_role_credentials(
        base, role_arn(account_id), session_name, region, endpoint_url, EMULATOR_SESSION_SECONDS
    )


def session_from_credentials(creds: dict[str, str], region: str) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=region,
    )


class EndpointAccounts:
    """Sessions per account on the emulator at `endpoint_url` (what `--endpoint-url` gives)."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    def session(self, account_id: str, region: str | None = None) -> boto3.Session:
        region = region or DEFAULT_REGION
        try:
            credentials = refreshing_credentials(self.endpoint_url, account_id, region)
        except Exception as problem:  # botocore's errors: unreachable, refused, ...
            raise TurnoutError(
                f"--endpoint-url {self.endpoint_url}: cannot assume a role in account "
                f"{account_id} there ({problem}). Give the URL of a running emulator, e.g. "
                f"http://127.0.0.1:5000, or use --sandbox."
            ) from None
        return session_with(credentials, region)
