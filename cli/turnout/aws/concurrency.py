"""What an account's Lambda concurrency leaves the replicator and everything else.

Lambda refuses a reservation that would leave the account fewer than 100 unreserved concurrent
executions ("You can reserve up to the Unreserved account concurrency value that is shown, minus
100 for functions that don't have reserved concurrency":
https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html). Read from Lambda
(GetAccountSettings, and GetFunction for the replicator's current reservation, which a new one
replaces); `turnout plan` refuses such a reservation and the preflight shows it as a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code

MINIMUM_UNRESERVED = 100
CONCURRENCY_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html"


@dataclass(frozen=True)
class AccountConcurrency:
    """An account's concurrency in one region, and what the replicator reserves there now."""

    limit: int  # ConcurrentExecutions
    unreserved: int  # UnreservedConcurrentExecutions
    current: int  # the replicator's reservation now (0: none, or no function yet)

    def left_after(self, reserved: int | None) -> int:
        """Unreserved executions once the replicator's reservation is `reserved` (None: none)."""
        return self.unreserved + self.current - (reserved or 0)

    def most_reservable(self) -> int:
        """The largest reservation Lambda accepts for the replicator."""
        return self.unreserved + self.current - MINIMUM_UNRESERVED


def read_account_concurrency(lambda_client: Any, function: str) -> AccountConcurrency:
    """GetAccountSettings and the function's reservation; AWS errors propagate."""
    limits = lambda_client.get_account_settings()["AccountLimit"]
    return AccountConcurrency(
        limit=int(limits["ConcurrentExecutions"]),
        unreserved=int(limits["UnreservedConcurrentExecutions"]),
        current=current_reservation(lambda_client, function),
    )


def current_reservation(lambda_client: Any, function: str) -> int:
    try:
        answer = lambda_client.get_function(FunctionName=function)
    except ClientError as problem:
        if error_code(problem) == "ResourceNotFoundException":
            return 0
        raise
    return int(answer.get("Concurrency", {}).get("ReservedConcurrentExecutions") or 0)
