"""Before a plan: the replicator's reserved concurrency must leave the account 100 unreserved
executions (Lambda refuses otherwise), counted from Lambda's own answers."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from turnout.deploy.concurrency import check_unreserved_concurrency
from turnout.errors import TerraformError
from turnout.spec.model import MigrationSpec

REPO = Path(__file__).resolve().parents[2]


def spec() -> MigrationSpec:
    return MigrationSpec.model_validate(
        copy.deepcopy(yaml.safe_load((REPO / "terraform" / "migration.yaml").read_text()))
    )


class FakeLambda:
    """Lambda's two answers the concurrency check reads (fault injection at unit level)."""

    def __init__(self, limit: int, unreserved: int, current: int | None):
        self.limit, self.unreserved, self.current = limit, unreserved, current
        self.calls: list[str] = []

    def get_account_settings(self) -> dict:
        self.calls.append("GetAccountSettings")
        return {
            "AccountLimit": {
                "ConcurrentExecutions": self.limit,
                "UnreservedConcurrentExecutions": self.unreserved,
            }
        }

    def get_function(self, FunctionName: str) -> dict:
        self.calls.append(f"GetFunction {FunctionName}")
        return {"Concurrency": {"ReservedConcurrentExecutions": self.current}}


def test_a_reservation_that_leaves_fewer_than_100_unreserved_is_refused_before_planning():
    lambda_client = FakeLambda(limit=1000, unreserved=150, current=None)
    with pytest.raises(TerraformError) as refused:
        check_unreserved_concurrency(spec(), "old", lambda_client, 60)
    message = " ".join(str(refused.value).split())
    assert (
        "reserved_concurrency 60 does not fit the old environment's account 111111111111" in message
    )
    assert "150 of them unreserved" in message and "would leave 90" in message
    assert "at most 50" in message and "Nothing was planned" in message
    assert lambda_client.calls == [
        "GetAccountSettings",
        "GetFunction legacy-turnout-replicator-old-to-new",
    ]


def test_the_replicators_own_reservation_is_given_back_before_counting():
    # 150 unreserved now, the replicator already holds 40: reserving 60 leaves 130.
    check_unreserved_concurrency(spec(), "old", FakeLambda(1000, 150, 40), 60)


def test_no_reservation_asks_lambda_nothing():
    lambda_client = FakeLambda(1000, 0, None)
    check_unreserved_concurrency(spec(), "old", lambda_client, None)
    assert lambda_client.calls == []
