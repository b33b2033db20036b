"""Who acts in each environment, with credentials that outlive their sessions.

An environment's credentials come from its spec entry (`environments.<env>`): the named
`profile` (or, without one, the default chain: environment variables, SSO, an instance role)
gives the source credentials, and `deploy_role_arn`, when set, is assumed from them. Assumed-role
sessions end (an hour by default) while a drain wait may last days, so the session is wrapped in
botocore's refreshable credentials: every client made from it fetches a new session before the
old one expires. Before the first call in an environment, `GetCallerIdentity` must name that
environment's account (`verify_account`): credentials of the other account, or of none, are
refused in one paragraph before anything happens.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.session
from botocore.credentials import (
    CredentialProvider,
    CredentialResolver,
    RefreshableCredentials,
    create_assume_role_refresher,
)
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)

from turnout.aws.client_config import CLIENT_CONFIG
from turnout.errors import TurnoutError

# AssumeRole's default and AWS's usual role maximum:
# https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
ROLE_SESSION_SECONDS = 3600
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired"}
_INVALID = {"InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch"}


class CredentialsError(TurnoutError):
    """An environment's credentials are missing, expired, or act in the wrong account."""


class WrongAccount(CredentialsError):
    """GetCallerIdentity answered, naming another account than the environment's."""

    def __init__(self, message: str, account: str, expected: str, caller: str):
        super().__init__(message)
        self.account, self.expected, self.caller = account, expected, caller


class _Given(CredentialProvider):
    """A credential resolver of one source: the credentials given (no other may sneak in)."""

    METHOD = "turnout"

    def __init__(self, credentials: Any):
        super().__init__()
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def session_with(credentials: Any, region: str) -> boto3.Session:
    """A boto3 session whose every client uses `credentials` (refreshable or not)."""
    core = botocore.session.Session()
    core.register_component("credential_provider", CredentialResolver([_Given(credentials)]))
    return boto3.Session(botocore_session=core, region_name=region)


def refreshing_role_session(
    source: boto3.Session,
    role_arn: str,
    session_name: str,
    region: str,
    endpoint_url: str | None = None,
    duration_seconds: int = ROLE_SESSION_SECONDS,
) -> boto3.Session:
    """A session in `role_arn`, assumed from `source`; botocore assumes the role again before
    each session expires (within its refresh window), for as long as the session is used."""
    credentials = refreshing_role_credentials(
        source, role_arn, session_name, region, endpoint_url, duration_seconds
    )
    return session_with(credentials, region)


def refreshing_role_credentials(
    source: boto3.Session,
    role_arn: str,
    session_name: str,
    region: str,
    endpoint_url: str | None = None,
    duration_seconds: int = ROLE_SESSION_SECONDS,
) -> RefreshableCredentials:
    """Credentials of `role_arn` that renew themselves (thread-safe; share them freely)."""
    sts = source.client("sts", region_name=region, endpoint_url=endpoint_url, config=CLIENT_CONFIG)
    refresh = create_assume_role_refresher(
        sts,
        {
            "RoleArn": role_arn,
            "RoleSessionName": session_name[:64],
            "DurationSeconds": duration_seconds,
        },
    )
    return RefreshableCredentials.create_from_metadata(
        metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
    )


def source_session(profile: str | None, region: str) -> boto3.Session:
    """The named profile's session, or the default credential chain's."""
    return boto3.Session(profile_name=profile, region_name=region)


def verify_account(
    session: boto3.Session,
    who: str,
    expected_account: str,
    other_accounts: dict[str, str],
    endpoint_url: str | None = None,
) -> str:
    """GetCallerIdentity must name `expected_account`; returns the caller's ARN.

    `who` names the credentials in the operator's words ("the old environment (profile
    'legacy-admin', environments.old.profile)"); `other_accounts` maps the spec's other
    accounts to what they are, for a sharper message when the credentials belong there."""
    sts = session.client("sts", endpoint_url=endpoint_url, config=CLIENT_CONFIG)
    try:
        identity = sts.get_caller_identity()
    except (BotoCoreError, ClientError) as problem:
        raise CredentialsError(credential_problem(problem, who)) from None
    account = identity.get("Account", "")
    if account == expected_account:
        return identity.get("Arn", "")
    belongs = other_accounts.get(account)
    where = f", which is {belongs}" if belongs else ""
    raise WrongAccount(
        f"the credentials of {who} act in account {account}{where} "
        f"({identity.get('Arn', 'unknown principal')}), not in {expected_account}. turnout "
        f"stopped before any change. Give that environment credentials of its own account: a "
        f"deploy_role_arn in {expected_account}, or a profile whose credentials act there.",
        account,
        expected_account,
        identity.get("Arn", ""),
    )


def credential_problem(problem: Exception, who: str) -> str:
    """One paragraph for a failed credential lookup or identity check."""
    code = (
        problem.response.get("Error", {}).get("Code", "")
        if isinstance(problem, ClientError)
        else ""
    )
    detail = " ".join(str(problem).split())
    if isinstance(problem, NoCredentialsError):
        return (
            f"no AWS credentials were found for {who}. Give the environment a profile (aws "
            f"configure / aws sso login) or run with credentials that may assume its "
            f"deploy_role_arn (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or an "
            f"instance or workload role). Nothing was changed."
        )
    if isinstance(problem, ProfileNotFound):
        return (
            f"{who} names a profile that is not in your AWS configuration ({detail}); add it to "
            f"~/.aws/config (or AWS_CONFIG_FILE) or correct the name in the spec. Nothing was "
            f"changed."
        )
    if isinstance(problem, TokenRetrievalError) or code in _EXPIRED:
        return (
            f"the credentials of {who} have expired ({detail}). Renew them (aws sso login "
            f"--profile NAME, or fresh keys for the profile) and run the command again. Nothing "
            f"was changed."
        )
    if code in _INVALID:
        return (
            f"AWS does not recognise the credentials of {who} ({code}): the keys are wrong or "
            f"were deleted. Fix the profile or the environment's keys. Nothing was changed."
        )
    if code == "AccessDenied":
        return (
            f"the credentials of {who} were refused ({detail}): check that they may assume the "
            f"environment's deploy_role_arn (its trust policy names them). Nothing was changed."
        )
    return (
        f"could not establish who {who} is ({type(problem).__name__}: {detail}). Check the "
        f"network and the credentials, then run the command again. Nothing was changed."
    )
