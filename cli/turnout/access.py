"""Where a read-only command reaches AWS: real AWS, the running sandbox, or an emulator by URL.

One place decides it for every command that takes `--sandbox` / `--endpoint-url` (report,
drain-check), so the flags mean the same everywhere.
"""

from __future__ import annotations

import boto3

from turnout.aws import AwsAccess
from turnout.errors import TurnoutError
from turnout.project import Project
from turnout.spec import MigrationSpec


class EmulatorAccounts:
    """Sessions on an emulator endpoint given by URL: moto attributes the calls of credentials
    assumed into `arn:aws:iam::<account>:role/...` to that account (as `turnout.emulator`)."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    def session(self, account_id: str, region: str | None = None) -> boto3.Session:
        from turnout.emulator import (
            DEFAULT_REGION,
            assume_role_credentials,
            role_arn,
            session_from_credentials,
        )

        region = region or DEFAULT_REGION
        try:
            credentials = assume_role_credentials(
                self.endpoint_url, role_arn(account_id), "turnout", region
            )
        except Exception as problem:  # botocore's errors: unreachable, refused, ...
            raise TurnoutError(
                f"--endpoint-url {self.endpoint_url}: cannot assume a role in account "
                f"{account_id} there ({problem}). Give the URL of a running emulator, e.g. "
                f"http://127.0.0.1:5000, or use --sandbox."
            ) from None
        return session_from_credentials(credentials, region)


def resolve_access(
    project: Project, spec: MigrationSpec, sandbox: bool, endpoint_url: str | None
) -> AwsAccess:
    if sandbox and endpoint_url:
        raise TurnoutError(
            "--sandbox and --endpoint-url both name where AWS is; give one of them "
            "(--sandbox for the running sandbox, --endpoint-url for another emulator)."
        )
    if sandbox:
        from turnout.sandbox import Sandbox

        box = Sandbox(project)
        return box.aws(box.require_client_emulator())
    if endpoint_url:
        if not endpoint_url.startswith(("http://", "https://")):
            raise TurnoutError(
                f"--endpoint-url {endpoint_url!r} is not a URL; give e.g. http://127.0.0.1:5000."
            )
        return AwsAccess(spec, endpoint_url=endpoint_url, emulator=EmulatorAccounts(endpoint_url))
    return AwsAccess(spec)
