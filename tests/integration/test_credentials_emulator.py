"""Each environment's credentials on the emulator, through the real CLI: credentials of the
other account, expired ones and none at all are refused in one paragraph before any change;
long-lived clients outlive sessions that the emulator ends (as AWS does, and moto does not by
itself); a reservation the account cannot spare is refused before Terraform runs."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError
from state_kit import REPO, bootstrap, profile_acting_in, run_cli, scratch_project

from turnout.aws.access import AwsAccess
from turnout.aws.endpoint import EndpointAccounts, assume_role_credentials, role_arn
from turnout.aws.endpoint import session_from_credentials as static_session
from turnout.sandbox.emulator.launcher import Emulator
from turnout.spec.loader import load_spec

pytestmark = pytest.mark.integration

OLD, NEW = "111111111111", "222222222222"
SESSION_SECONDS = 3


@pytest.fixture(scope="module")
def ending_sessions(tmp_path_factory):
    """An emulator of its own whose AssumeRole sessions end after SESSION_SECONDS."""
    emulator = Emulator(tmp_path_factory.mktemp("ending"), session_seconds=SESSION_SECONDS)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def no_ambient_credentials(monkeypatch, tmp_path):
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # loopback only: no IMDS probe


def profile(name: str):
    def change(document: dict) -> None:
        document["environments"]["old"]["profile"] = name

    return change


def test_a_profile_acting_in_the_other_environments_account_is_refused_before_any_change(
    emulator, tmp_path, monkeypatch, capsys, no_ambient_credentials
):
    profile_acting_in(NEW, "looks-like-old", emulator, tmp_path, monkeypatch)
    spec = scratch_project(tmp_path / "p", profile("looks-like-old"))
    work = tmp_path / "work"
    code, _, error = run_cli(
        ["plan", "--env", "old", "--spec", str(spec), "--endpoint-url", emulator.endpoint_url],
        work,
        monkeypatch,
        capsys,
    )
    assert code == 2
    assert "profile 'looks-like-old' (environments.old.profile)" in error
    assert f"act in account {NEW}, which is the new environment's account" in error
    assert f"not in {OLD}" in error and "stopped before any change" in error
    assert not (work / "terraform").exists() and not (work / "plans").exists()


def test_an_expired_profile_is_one_paragraph_and_changes_nothing(
    ending_sessions, tmp_path, monkeypatch, capsys, no_ambient_credentials
):
    keys = assume_role_credentials(ending_sessions.endpoint_url, role_arn(OLD))
    (tmp_path / "credentials").write_text(
        f"[yesterday]\naws_access_key_id = {keys['AccessKeyId']}\n"
        f"aws_secret_access_key = {keys['SecretAccessKey']}\n"
        f"aws_session_token = {keys['SessionToken']}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    time.sleep(SESSION_SECONDS + 1)
    spec = scratch_project(tmp_path / "p", profile("yesterday"))
    work = tmp_path / "work"
    url = ending_sessions.endpoint_url
    code, _, error = run_cli(
        ["plan", "--env", "old", "--spec", str(spec), "--endpoint-url", url],
        work,
        monkeypatch,
        capsys,
    )
    assert code == 2
    assert "the credentials of the old environment, profile 'yesterday'" in error
    assert "have expired" in error and "aws sso login" in error and "Nothing was changed." in error
    assert not (work / "terraform").exists()


def test_without_any_credentials_plan_says_so_before_terraform_runs(
    tmp_path, monkeypatch, capsys, no_ambient_credentials
):
    def with_roles(document: dict) -> None:
        document["environments"]["old"]["deploy_role_arn"] = f"arn:aws:iam::{OLD}:role/deployer"
        document["environments"]["new"]["deploy_role_arn"] = f"arn:aws:iam::{NEW}:role/deployer"

    spec = scratch_project(tmp_path / "p", with_roles)
    work = tmp_path / "work"
    code, _, error = run_cli(
        ["plan", "--env", "old", "--spec", str(spec)], work, monkeypatch, capsys
    )
    assert code == 2
    assert error.startswith("error: no AWS credentials were found for the old environment")
    assert "Nothing was changed." in error and "IMDS" not in error
    assert not (work / "terraform").exists()


def test_on_aws_a_spec_without_credentials_is_refused_naming_the_fields(
    tmp_path, monkeypatch, capsys, no_ambient_credentials
):
    spec = scratch_project(tmp_path / "p")
    code, _, error = run_cli(
        ["plan", "--env", "new", "--spec", str(spec)], tmp_path / "w", monkeypatch, capsys
    )
    assert code == 2
    assert "no credentials for the old and new environments" in error
    assert "environments.new.deploy_role_arn or environments.new.profile" in error


def test_long_lived_clients_outlive_the_sessions_they_started_with(ending_sessions):
    url = ending_sessions.endpoint_url
    example = load_spec(REPO / "terraform" / "migration.yaml")
    with_roles = example.model_copy(
        update={
            "environments": example.environments.model_copy(
                update={
                    "old": example.environments.old.model_copy(
                        update={"deploy_role_arn": f"arn:aws:iam::{OLD}:role/deployer"}
                    )
                }
            )
        }
    )
    accesses = {
        "sandbox (emulator sessions)": AwsAccess.for_emulator(example, ending_sessions),
        "--endpoint-url": AwsAccess(example, url, emulator=EndpointAccounts(url)),
        "deploy role": AwsAccess(with_roles, url, emulator=EndpointAccounts(url)),
    }
    clients = {
        (name, service): access.client("old", service)
        for name, access in accesses.items()
        for service in ("kinesis", "dynamodb", "ssm", "lambda", "s3")
    }
    static = static_session(assume_role_credentials(url, role_arn(OLD)), "eu-west-1")
    control = static.client("kinesis", endpoint_url=url)
    control.list_streams()
    renewals_before = ending_sessions.status()["requests"].get("sts POST /", 0)
    for _ in range(3):
        time.sleep(SESSION_SECONDS + 1)
        for client in clients.values():
            calls = {
                "Kinesis": lambda c: c.list_streams(),
                "DynamoDB": lambda c: c.list_tables(),
                "SSM": lambda c: c.describe_parameters(),
                "Lambda": lambda c: c.list_functions(),
                "S3": lambda c: c.list_buckets(),
            }
            calls[client.meta.service_model.service_id](client)
    with pytest.raises(ClientError) as expired:
        control.list_streams()
    assert expired.value.response["Error"]["Code"] == "ExpiredTokenException"
    renewals = ending_sessions.status()["requests"].get("sts POST /", 0) - renewals_before
    assert renewals >= 3 * len(accesses), renewals


def test_a_reservation_the_account_cannot_spare_is_refused_before_planning(
    emulator, tmp_path, monkeypatch, capsys
):
    lambda_client = emulator.client("lambda", OLD)
    settings = lambda_client.get_account_settings()["AccountLimit"]
    assert settings["ConcurrentExecutions"] == 1000
    reserved = {
        f["FunctionName"]: lambda_client.get_function_concurrency(
            FunctionName=f["FunctionName"]
        ).get("ReservedConcurrentExecutions", 0)
        for f in lambda_client.list_functions()["Functions"]
    }
    assert settings["UnreservedConcurrentExecutions"] == 1000 - sum(reserved.values())
    # The replicator's own reservation, if it is deployed already, is given back first.
    left = (
        1000
        - sum(reserved.values())
        + reserved.get("legacy-turnout-replicator-old-to-new", 0)
        - 950
    )

    def reserve(document: dict) -> None:
        document["replication"]["reserved_concurrency"] = 950
        document["state"]["bucket"] = "turnout-state-concurrency"

    spec = scratch_project(tmp_path / "p", reserve)
    url = emulator.endpoint_url
    work = tmp_path / "work"
    bootstrap(spec, url, work, monkeypatch, capsys)
    code, _, error = run_cli(
        ["plan", "--env", "old", "--spec", str(spec), "--endpoint-url", url],
        work,
        monkeypatch,
        capsys,
    )
    assert code == 2
    assert (
        "replication.reserved_concurrency 950 does not fit the old environment's account" in error
    )
    assert f"would leave {left}" in error
    assert "Lambda keeps at least 100 unreserved" in error and "Nothing was planned." in error
    assert not (work / "plans").exists()
