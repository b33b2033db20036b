"""Who acts in an environment: each failure of the credentials is one paragraph, and a session
made from given credentials never falls back to the ambient ones."""

from __future__ import annotations

import pytest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, NoCredentialsError, ProfileNotFound

from turnout.aws.credentials import (
    CredentialsError,
    credential_problem,
    session_with,
    verify_account,
)

WHO = (
    "the old environment, role arn:aws:iam::111111111111:role/d (environments.old.deploy_role_arn)"
)


def client_error(code: str, message: str = "nope") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "GetCallerIdentity")


def test_no_credentials_at_all_says_where_credentials_come_from():
    message = credential_problem(NoCredentialsError(), WHO)
    assert message.startswith(f"no AWS credentials were found for {WHO}")
    assert "AWS_PROFILE" in message and "Nothing was changed." in message


@pytest.mark.parametrize("code", ["ExpiredToken", "ExpiredTokenException", "RequestExpired"])
def test_expired_credentials_say_how_to_renew_them(code):
    message = credential_problem(client_error(code), WHO)
    assert f"the credentials of {WHO} have expired" in message
    assert "aws sso login" in message and "Nothing was changed." in message


def test_an_unknown_profile_names_the_configuration_file():
    message = credential_problem(ProfileNotFound(profile="ghost"), WHO)
    assert "~/.aws/config" in message and "ghost" in message


def test_a_refused_assume_role_points_at_the_trust_policy():
    message = credential_problem(client_error("AccessDenied", "not authorized"), WHO)
    assert "trust policy" in message


class FakeSession:
    def __init__(self, account: str):
        self.account = account

    def client(self, service: str, **options):
        assert service == "sts"
        account = self.account

        class Sts:
            def get_caller_identity(self):
                return {"Account": account, "Arn": f"arn:aws:sts::{account}:assumed-role/x/y"}

        return Sts()


def test_credentials_of_the_other_environment_are_refused_naming_it():
    with pytest.raises(CredentialsError) as refused:
        verify_account(
            FakeSession("222222222222"),
            WHO,
            "111111111111",
            {"222222222222": "the new environment's account"},
        )
    message = str(refused.value)
    assert "act in account 222222222222, which is the new environment's account" in message
    assert "not in 111111111111" in message and "stopped before any change" in message


def test_credentials_of_the_environments_own_account_pass():
    arn = verify_account(FakeSession("111111111111"), WHO, "111111111111", {})
    assert arn.startswith("arn:aws:sts::111111111111:")


def test_a_session_from_given_credentials_ignores_the_ambient_ones(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAAMBIENT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ambient")
    session = session_with(Credentials("AKIAGIVEN", "given"), "eu-west-1")
    assert session.get_credentials().access_key == "AKIAGIVEN"
