"""Before a plan: can the account spare the replicator's reserved concurrency?

Lambda refuses a reservation that would leave the account fewer than 100 unreserved concurrent
executions ("You can reserve up to the Unreserved account concurrency value that is shown, minus
100 for functions that don't have reserved concurrency":
https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html). Terraform would only
find out mid-apply; this check asks Lambda (GetAccountSettings, and the function's current
reservation, which the new one replaces) before anything is planned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code
from turnout.errors import TerraformError
from turnout.spec.model import MigrationSpec
from turnout.spec.names import names

MINIMUM_UNRESERVED = 100


def reserved_in(var_file: Path) -> int | None:
    """The replicator's reserved concurrency in a rendered tfvars file (None: not reserved)."""
    return json.loads(var_file.read_text())["replication"].get("reserved_concurrency")


def check_unreserved_concurrency(
    spec: MigrationSpec, environment: str, lambda_client: Any, reserved: int | None
) -> None:
    """Refuse (one paragraph) a reservation Lambda would refuse; nothing is changed."""
    if reserved is None:
        return
    limits = lambda_client.get_account_settings()["AccountLimit"]
    unreserved = int(limits["UnreservedConcurrentExecutions"])
    function = names(spec, environment).replicator
    current = _current_reservation(lambda_client, function)
    left = unreserved + current - reserved
    if left >= MINIMUM_UNRESERVED:
        return
    place = getattr(spec.environments, environment)
    raise TerraformError(
        f"replication.reserved_concurrency {reserved} does not fit the {environment} "
        f"environment's account {place.account_id} in {place.region}: it has "
        f"{limits.get('ConcurrentExecutions', '?')} concurrent executions, {unreserved} of them "
        f"unreserved (the replicator {function} holds {current} now), so reserving {reserved} "
        f"would leave {left}, and Lambda keeps at least {MINIMUM_UNRESERVED} unreserved "
        f"(https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html). Lower "
        f"reserved_concurrency to at most {unreserved + current - MINIMUM_UNRESERVED}, remove it, "
        f"or raise the account's concurrency quota. Nothing was planned."
    )


def _current_reservation(lambda_client: Any, function: str) -> int:
    try:
        answer = lambda_client.get_function(FunctionName=function)
    except ClientError as problem:
        if error_code(problem) == "ResourceNotFoundException":
            return 0
        raise
    return int(answer.get("Concurrency", {}).get("ReservedConcurrentExecutions") or 0)
