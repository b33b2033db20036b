"""The sandbox's KCL read-across instance refuses to start without turnout's settings, or at a
position that would skip records, with one line naming the variable, and changes nothing."""

from __future__ import annotations

import pytest

from turnout.sandbox.pipeline import kcl_instance

SETTINGS = {
    "TURNOUT_READ_ACROSS_APPLICATION": "orders-app",
    "TURNOUT_READ_ACROSS_STREAM_ARNS": "arn:aws:kinesis:eu-west-1:2:stream/a,arn:aws:kinesis:eu-west-1:2:stream/b",
    "TURNOUT_READ_ACROSS_REGION": "eu-west-1",
    "TURNOUT_READ_ACROSS_ROLE_ARN": "arn:aws:iam::1:role/reader",
    "TURNOUT_READ_ACROSS_LEASE_TABLE": "orders-app-read-across",
    "TURNOUT_READ_ACROSS_INITIAL_POSITION": "TRIM_HORIZON",
}


def test_the_settings_come_from_the_variables_turnout_sets():
    settings = kcl_instance.InstanceSettings.from_environment(SETTINGS)
    assert settings.application == "orders-app"
    assert settings.stream_arns == tuple(SETTINGS["TURNOUT_READ_ACROSS_STREAM_ARNS"].split(","))
    assert settings.lease_table == "orders-app-read-across"


@pytest.mark.parametrize(
    ("changed", "said"),
    [
        ({"TURNOUT_READ_ACROSS_ROLE_ARN": ""}, "TURNOUT_READ_ACROSS_ROLE_ARN not set"),
        (
            {"TURNOUT_READ_ACROSS_INITIAL_POSITION": "LATEST"},
            "TURNOUT_READ_ACROSS_INITIAL_POSITION is 'LATEST'; the instance starts at TRIM_HORIZON",
        ),
    ],
)
def test_a_missing_or_skipping_setting_is_refused_in_one_line(
    changed, said, monkeypatch, capsys, tmp_path
):
    for name, value in {**SETTINGS, **changed}.items():
        monkeypatch.setenv(name, value)
    code = kcl_instance.main(["start", "--state-dir", str(tmp_path / "kcl")])
    error = capsys.readouterr().err
    assert code == 2 and said in error
    assert "Traceback" not in error and error.count("\n") == 1
    assert not (tmp_path / "kcl").exists(), "nothing was started or written"


def test_an_endpoint_off_loopback_is_refused(monkeypatch, capsys, tmp_path):
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    arguments = ["start", "--state-dir", str(tmp_path), "--endpoint", "https://kinesis.example"]
    with pytest.raises(SystemExit) as refused:
        kcl_instance.main([*arguments, "--processed-table", "p", "--markers-table", "m"])
    assert refused.value.code == 2
    assert "--endpoint must be the local emulator on loopback" in capsys.readouterr().err
