"""Before a plan: can the account spare the replicator's reserved concurrency?

Terraform would only find out mid-apply that Lambda refuses the reservation (it must leave 100
unreserved: `turnout.aws.concurrency`); this check asks Lambda before anything is planned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from turnout.aws.concurrency import CONCURRENCY_DOC, MINIMUM_UNRESERVED, read_account_concurrency
from turnout.errors import TerraformError
from turnout.spec.model import MigrationSpec
from turnout.spec.names import names


def reserved_in(var_file: Path) -> int | None:
    """The replicator's reserved concurrency in a rendered tfvars file (None: not reserved)."""
    return json.loads(var_file.read_text())["replication"].get("reserved_concurrency")


def check_unreserved_concurrency(
    spec: MigrationSpec, environment: str, lambda_client: Any, reserved: int | None
) -> None:
    """Refuse (one paragraph) a reservation Lambda would refuse; nothing is changed."""
    if reserved is None:
        return
    function = names(spec, environment).replicator
    account = read_account_concurrency(lambda_client, function)
    left = account.left_after(reserved)
    if left >= MINIMUM_UNRESERVED:
        return
    place = getattr(spec.environments, environment)
    raise TerraformError(
        f"replication.reserved_concurrency {reserved} does not fit the {environment} "
        f"environment's account {place.account_id} in {place.region}: it has "
        f"{account.limit} concurrent executions, {account.unreserved} of them "
        f"unreserved (the replicator {function} holds {account.current} now), so reserving "
        f"{reserved} would leave {left}, and Lambda keeps at least {MINIMUM_UNRESERVED} "
        f"unreserved ({CONCURRENCY_DOC}). Lower reserved_concurrency to at most "
        f"{account.most_reservable()}, remove it, or raise the account's concurrency quota. "
        f"Nothing was planned."
    )
