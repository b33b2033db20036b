"""`make e2e-aws` refuses to start without its accounts and roles (one paragraph, naming each
missing or wrong variable), and its spec is the example's with the run's names, keys a producer of
another account can use, and that producer declared."""

from __future__ import annotations

from pathlib import Path

import pytest

from turnout.errors import TurnoutError
from turnout.sandbox.e2e.settings import E2eSettings
from turnout.sandbox.e2e.spec import write_e2e_spec

REPO = Path(__file__).resolve().parents[2]
GOOD = {
    "TURNOUT_E2E_OLD_ACCOUNT": "111122223333",
    "TURNOUT_E2E_NEW_ACCOUNT": "444455556666",
    "TURNOUT_E2E_REGION": "eu-west-1",
    "TURNOUT_E2E_OLD_ROLE_ARN": "arn:aws:iam::111122223333:role/turnout-deploy",
    "TURNOUT_E2E_NEW_ROLE_ARN": "arn:aws:iam::444455556666:role/turnout-deploy",
}


def test_without_the_variables_the_run_refuses_naming_each_one():
    with pytest.raises(TurnoutError) as refused:
        E2eSettings.from_environment({"TURNOUT_E2E_REGION": "eu-west-1"})
    message = str(refused.value)
    for name in (
        "TURNOUT_E2E_OLD_ACCOUNT",
        "TURNOUT_E2E_NEW_ACCOUNT",
        "TURNOUT_E2E_OLD_ROLE_ARN",
        "TURNOUT_E2E_NEW_ROLE_ARN",
    ):
        assert name in message
    assert "TURNOUT_E2E_REGION (" not in message, "a variable that is set is not asked for"
    assert "Nothing was started or created" in message and "make e2e-emulator" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"TURNOUT_E2E_OLD_ACCOUNT": "1111"}, "TURNOUT_E2E_OLD_ACCOUNT '1111' is not 12 digits"),
        ({"TURNOUT_E2E_NEW_ACCOUNT": "111122223333"}, "are the same account"),
        ({"TURNOUT_E2E_REGION": "Europe"}, "TURNOUT_E2E_REGION 'Europe'"),
        (
            {"TURNOUT_E2E_NEW_ROLE_ARN": "arn:aws:iam::111122223333:role/x"},
            "is not a role ARN of account 444455556666",
        ),
        ({"TURNOUT_E2E_PRODUCER_ROLE_ARN": "producer"}, "TURNOUT_E2E_PRODUCER_ROLE_ARN 'producer'"),
    ],
)
def test_a_wrong_variable_is_named_and_nothing_starts(change, said):
    with pytest.raises(TurnoutError, match="Nothing was started or created") as refused:
        E2eSettings.from_environment({**GOOD, **change})
    assert said in str(refused.value)


def test_the_producer_defaults_to_the_old_role_writing_new_across_accounts():
    settings = E2eSettings.from_environment(GOOD)
    assert settings.producer_role_arn == GOOD["TURNOUT_E2E_OLD_ROLE_ARN"]
    third = "arn:aws:iam::777788889999:role/producer"
    assert (
        E2eSettings.from_environment(
            {**GOOD, "TURNOUT_E2E_PRODUCER_ROLE_ARN": third}
        ).producer_account
        == "777788889999"
    )


def test_the_runs_spec_has_its_names_its_roles_customer_keys_and_its_producer(tmp_path):
    settings = E2eSettings.from_environment(GOOD)
    spec = write_e2e_spec(REPO, settings, "a1b2c3", tmp_path / "migration.yaml")
    assert spec.migration == "e2e-a1b2c3"
    assert spec.environments.old.deploy_role_arn == GOOD["TURNOUT_E2E_OLD_ROLE_ARN"]
    assert spec.environments.new.account_id == "444455556666"
    assert {stream.encryption for stream in spec.streams} == {"customer_managed"}
    assert all(stream.name_in("new").startswith("e2e-a1b2c3-") for stream in spec.streams)
    assert all(consumer.function_name.startswith("e2ea1b2c3") for consumer in spec.consumers.old)
    assert spec.producers[0].principal_arns == [settings.producer_role_arn]
    assert spec.cutover.quiet_seconds > spec.route.cache_seconds
    assert spec.data_stores == [] and spec.apis == [], (
        "the sandbox's fixed-name stores and loopback API cannot exist on AWS"
    )


def test_on_the_emulator_the_producer_is_a_third_account_and_no_deploy_role_is_assumed(tmp_path):
    settings = E2eSettings.for_emulator()
    spec = write_e2e_spec(REPO, settings, "d4e5f6", tmp_path / "migration.yaml")
    assert settings.producer_account not in (
        spec.environments.old.account_id,
        spec.environments.new.account_id,
    )
    assert spec.environments.old.deploy_role_arn is None
