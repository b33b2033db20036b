"""The preflight rows of the deploy path's two refusals: `account-identity` (GetCallerIdentity
names each environment's account) and `lambda-concurrency` (the replicator's reservation leaves
Lambda's 100 unreserved, and room for the account's other functions). Each verdict, with
in-process fakes of STS and Lambda (fault injection); the emulator test shows them over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from turnout.aws.access import AwsAccess
from turnout.aws.credentials import verify_account
from turnout.errors import SpecError
from turnout.preflight.account_identity import account_identity
from turnout.preflight.lambda_concurrency import lambda_concurrency
from turnout.preflight.registry import PreflightContext
from turnout.preflight.result import Verdict
from turnout.spec.loader import load_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "terraform" / "migration.yaml"
OLD, NEW = "111111111111", "222222222222"


def example(**replication):
    spec = load_spec(EXAMPLE)
    if replication:  # model_copy skips validation, as a spec built in code would
        update = spec.replication.model_copy(update=replication)
        spec = spec.model_copy(update={"replication": update})
    return spec


class FakeSts:
    def __init__(self, account: str | None) -> None:
        self.account = account

    def get_caller_identity(self) -> dict:
        if self.account is None:
            raise EndpointConnectionError(endpoint_url="https://sts.eu-west-1.amazonaws.com")
        return {"Account": self.account, "Arn": f"arn:aws:sts::{self.account}:assumed-role/d/x"}


class FakeSession:
    def __init__(self, account: str | None) -> None:
        self.sts = FakeSts(account)

    def client(self, service: str, **_):
        assert service == "sts"
        return self.sts


class IdentityAws:
    """`caller` as AwsAccess makes it: the real verify_account, against a fake STS answer."""

    def __init__(self, spec, answers: dict[str, str | None]) -> None:
        self.spec, self.answers = spec, answers

    def caller(self, environment: str) -> str:
        expected = getattr(self.spec.environments, environment).account_id
        others = {OLD: "the old environment's account", NEW: "the new environment's account"}
        others.pop(expected)
        session = FakeSession(self.answers[environment])
        return verify_account(session, f"the {environment} environment", expected, others)


def identity_row(answers: dict[str, str | None]):
    spec = example()
    context = PreflightContext(spec, tuple(answers), IdentityAws(spec, answers))
    return account_identity(context)


def test_credentials_acting_in_each_environments_account_pass_naming_the_caller():
    row = identity_row({"old": OLD, "new": NEW})
    assert row.verdict is Verdict.PASS, row.fact
    assert f"old: arn:aws:sts::{OLD}:assumed-role/d/x in {OLD}" in row.fact
    assert f"new: arn:aws:sts::{NEW}:assumed-role/d/x in {NEW}" in row.fact


def test_credentials_of_the_other_account_fail_naming_both_accounts():
    row = identity_row({"old": OLD, "new": OLD})
    assert row.verdict is Verdict.FAIL
    assert (
        f"new: the credentials act in account {OLD} as arn:aws:sts::{OLD}:assumed-role/d/x, "
        f"but the spec names {NEW} (environments.new.account_id)" in row.fact
    )
    assert f"credentials of account {NEW}" in row.change


def test_an_unreachable_sts_is_unknown_and_read_again_by_the_gate():
    row = identity_row({"old": OLD, "new": None})
    assert row.verdict is Verdict.UNKNOWN and row.unread
    assert "new: could not establish who the credentials are (sts:GetCallerIdentity)" in row.fact
    assert "EndpointConnectionError" in row.fact


def test_a_spec_without_credentials_on_aws_fails_naming_the_fields():
    spec = example()
    bare = spec.environments.new.model_copy(update={"profile": None, "deploy_role_arn": None})
    environments = spec.environments.model_copy(update={"new": bare})
    spec = spec.model_copy(update={"environments": environments})
    row = account_identity(PreflightContext(spec, ("new",), AwsAccess(spec)))
    assert row.verdict is Verdict.FAIL
    assert "environments.new.deploy_role_arn or environments.new.profile" in row.fact
    with pytest.raises(SpecError):  # the same refusal every command gives
        AwsAccess(spec).session("new")


# ------------------------------------------------------------------ lambda-concurrency


class FakeLambda:
    """GetAccountSettings and GetFunction (the replicator's reservation now)."""

    def __init__(self, limit: int, unreserved: int, current: int = 0, denied: bool = False):
        self.limit, self.unreserved, self.current, self.denied = limit, unreserved, current, denied

    def get_account_settings(self) -> dict:
        if self.denied:
            error = {"Code": "AccessDeniedException", "Message": "not allowed"}
            raise ClientError({"Error": error}, "GetAccountSettings")
        limits = {"ConcurrentExecutions": self.limit}
        limits["UnreservedConcurrentExecutions"] = self.unreserved
        return {"AccountLimit": limits}

    def get_function(self, FunctionName: str) -> dict:
        return {"Concurrency": {"ReservedConcurrentExecutions": self.current or None}}


class LambdaAws:
    def __init__(self, lam: FakeLambda) -> None:
        self.lam = lam

    def client(self, environment: str, service: str):
        assert service == "lambda"
        return self.lam


def concurrency_row(spec, lam: FakeLambda):
    return lambda_concurrency(PreflightContext(spec, ("new",), LambdaAws(lam)))


def test_a_reservation_that_leaves_room_passes_with_the_figures():
    # the example reserves 10 for 2 + 1 shards and an on-demand stream; it holds them already
    row = concurrency_row(example(), FakeLambda(limit=1000, unreserved=990, current=10))
    assert row.verdict is Verdict.PASS, row.fact
    assert "new: account of 1000 concurrent executions, 990 unreserved now" in row.fact
    assert (
        "the replicator reserves 10 and runs at least 7 shards x parallelization 1 = 7" in row.fact
    )
    assert "990 stay unreserved, 990 of them for the other functions" in row.fact


def test_a_reservation_lambda_would_refuse_fails_naming_the_largest_that_fits():
    row = concurrency_row(example(), FakeLambda(limit=1000, unreserved=105))
    assert row.verdict is Verdict.FAIL
    assert "95 stay unreserved" in row.fact and "keeps at least 100 unreserved" in row.fact
    assert "at most 5 (it needs 7)" in row.change


@pytest.mark.parametrize(
    ("limit", "unreserved", "verdict"),
    [
        (1000, 210, Verdict.PASS),  # 200 left: twice Lambda's floor
        (1000, 209, Verdict.WARN),  # 199 left
        (5000, 510, Verdict.PASS),  # 500 left: a tenth of a raised quota
        (5000, 509, Verdict.WARN),
    ],
)
def test_thin_headroom_for_the_other_functions_warns(limit, unreserved, verdict):
    row = concurrency_row(example(), FakeLambda(limit=limit, unreserved=unreserved))
    assert row.verdict is verdict, row.fact
    if verdict is Verdict.WARN:
        assert "the other functions' bursts are throttled" in row.fact


def test_without_a_reservation_the_replicator_draws_from_the_pool_it_shares():
    spec = example(reserved_concurrency=None)
    row = concurrency_row(spec, FakeLambda(limit=1000, unreserved=1000))
    assert row.verdict is Verdict.PASS, row.fact
    assert "reserves none (shares the pool)" in row.fact
    assert "1000 stay unreserved, 993 of them for the other functions" in row.fact


def test_more_shards_than_the_pool_can_run_at_once_warn_that_replication_lags():
    wide = example(reserved_concurrency=None)
    streams = [
        s.model_copy(update={"capacity": s.capacity.model_copy(update={"shards": 100})})
        for s in wide.streams
    ]
    wide = wide.model_copy(update={"streams": streams})
    row = concurrency_row(wide, FakeLambda(limit=1000, unreserved=150))
    assert row.verdict is Verdict.WARN
    assert "the unreserved pool (150) cannot run every shard at once" in row.fact
    assert "at least 204 shards x parallelization 1 = 204" in row.fact


def test_a_reservation_below_the_shards_of_an_unvalidated_spec_warns():
    row = concurrency_row(example(reserved_concurrency=2), FakeLambda(1000, 1000))
    assert row.verdict is Verdict.WARN
    assert "its reservation (2) cannot run every shard at once" in row.fact


def test_an_unreadable_account_setting_is_unknown():
    row = concurrency_row(example(), FakeLambda(1000, 1000, denied=True))
    assert row.verdict is Verdict.UNKNOWN and row.unread
    assert "new: could not read the account's concurrency (lambda:GetAccountSettings" in row.fact
    assert "AccessDeniedException" in row.fact
