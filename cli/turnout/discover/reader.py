"""AWS access for `turnout discover`: ambient credentials, the checks that fail early with a clear
message (region, credentials, account), bounded backoff on throttling, and pagination.

Discovery reads an account nobody declared, so it runs on whatever credentials the operator has
(environment, profile, instance role), never on the spec's deploy role: there may be no spec yet.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from turnout.errors import TurnoutError

REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
THROTTLING_CODES = frozenset(
    {
        "LimitExceededException",
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
    }
)
CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
        "AuthFailure",
        "IncompleteSignature",
    }
)
# botocore's own retries are off: the backoff below is the one place throttling is handled, so
# its bound is known (and tested).
_CONFIG = Config(
    retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30
)


class DiscoveryError(TurnoutError):
    """Discovery cannot start or cannot finish; nothing was written."""


def check_region(region: str) -> str:
    """A region Kinesis exists in, per botocore's endpoint data (works offline)."""
    known = set(boto3.session.Session().get_available_regions("kinesis"))
    known |= set(boto3.session.Session().get_available_regions("kinesis", "aws-us-gov"))
    known |= set(boto3.session.Session().get_available_regions("kinesis", "aws-cn"))
    if not REGION_PATTERN.match(region) or region not in known:
        sample = ", ".join(sorted(known)[:6])
        raise DiscoveryError(
            f"--region {region!r} is not an AWS region where Kinesis is available. Pass a region "
            f"name such as eu-west-1 ({len(known)} are known, e.g. {sample}, ...)."
        )
    return region


class Backoff:
    """Retry one call on throttling: exponential delays, bounded attempts, injectable sleep."""

    def __init__(
        self,
        attempts: int = 6,
        base_seconds: float = 0.2,
        cap_seconds: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.attempts = attempts
        self.base_seconds = base_seconds
        self.cap_seconds = cap_seconds
        self.sleep = sleep
        self.throttled = 0

    def call(self, function: Callable[..., Any], **arguments: Any) -> Any:
        for attempt in range(self.attempts):
            try:
                return function(**arguments)
            except ClientError as problem:
                if error_code(problem) not in THROTTLING_CODES:
                    raise
                self.throttled += 1
                if attempt == self.attempts - 1:
                    name = getattr(function, "__name__", "the call")
                    raise DiscoveryError(
                        f"AWS kept throttling {name} ({error_code(problem)}) through "
                        f"{self.attempts} attempts; another tool is probably using the same API "
                        f"limits. Wait a minute and run `turnout discover` again; nothing was "
                        f"written."
                    ) from None
                self.sleep(min(self.cap_seconds, self.base_seconds * 2**attempt))
        raise AssertionError("unreachable")


def error_code(problem: ClientError) -> str:
    return problem.response.get("Error", {}).get("Code", "")


def pages(
    backoff: Backoff,
    operation: Callable[..., dict],
    token_in: str,
    token_out: str,
    **arguments: Any,
) -> Iterator[dict]:
    """Every page of a list call, following its token, each page under the backoff.

    (Hand-rolled rather than boto3 paginators so that every page, not just the first, is retried
    on throttling, and ListShards' rule "NextToken excludes StreamName" is kept.)
    """
    token: str | None = None
    while True:
        if token is None:
            page = backoff.call(operation, **arguments)
        elif token_in == "NextToken" and "StreamName" in arguments:
            page = backoff.call(operation, NextToken=token)
        else:
            page = backoff.call(operation, **arguments, **{token_in: token})
        yield page
        token = page.get(token_out)
        if not token:
            return


class AccountReader:
    """boto3 clients for one account and region, with the identity checked first."""

    def __init__(
        self,
        region: str,
        endpoint_url: str | None = None,
        session: boto3.Session | None = None,
        backoff: Backoff | None = None,
    ):
        self.region = region
        self.endpoint_url = endpoint_url
        self.session = session or boto3.Session(region_name=region)
        self.backoff = backoff or Backoff()
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, region_name=self.region, endpoint_url=self.endpoint_url, config=_CONFIG
            )
        return self._clients[service]

    def account_id(self, expected: str | None = None) -> str:
        """Who the credentials are; refuses missing, invalid or other-account credentials."""
        try:
            identity = self.backoff.call(self.client("sts").get_caller_identity)
        except NoCredentialsError:
            raise DiscoveryError(
                "no AWS credentials were found (environment variables, ~/.aws profile or instance "
                "role). Export credentials for the account to discover (e.g. AWS_PROFILE) and run "
                "`turnout discover` again; nothing was written."
            ) from None
        except ClientError as problem:
            raise credentials_error(problem) from None
        except BotoCoreError as problem:
            raise DiscoveryError(
                f"could not reach AWS STS in {self.region} ({problem}); check the network, "
                f"--endpoint-url and --region. Nothing was written."
            ) from None
        account = identity["Account"]
        if expected and account != expected:
            raise DiscoveryError(
                f"the AWS credentials act in account {account}, not in {expected} (--account). "
                f"Use credentials of account {expected} (another AWS_PROFILE, or assume a role "
                f"there); nothing was written."
            )
        return account


def credentials_error(problem: ClientError) -> DiscoveryError:
    code = error_code(problem)
    if code in CREDENTIAL_CODES:
        return DiscoveryError(
            f"AWS rejected the credentials ({code}: {problem.response['Error'].get('Message', '')})."
            f" They are wrong, expired or for another partition; refresh them (e.g. `aws sso "
            f"login`, or export a valid AWS_PROFILE) and run `turnout discover` again. Nothing "
            f"was written."
        )
    if code in ("AccessDenied", "AccessDeniedException"):
        return DiscoveryError(
            f"AWS denied a read that discovery needs ({code}: "
            f"{problem.response['Error'].get('Message', '')}). Discovery needs read access to "
            f"kinesis:List*/Describe*, lambda:ListEventSourceMappings, dynamodb:ListTables/"
            f"DescribeTable/Scan and sts:GetCallerIdentity; nothing was written."
        )
    return DiscoveryError(
        f"AWS returned {code or 'an error'} ({problem.response['Error'].get('Message', '')}) "
        f"during discovery; nothing was written."
    )
