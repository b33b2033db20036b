"""`turnout preflight` and `turnout validate` on the spec alone: rows, exit codes, --json, and
bad input as one paragraph."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

from turnout.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "terraform" / "migration.yaml"


def write_spec(tmp_path: Path, change=lambda document: None) -> str:
    document = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    change(document)
    path = tmp_path / "terraform" / "migration.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return str(path)


def long_window(document):
    document["streams"][0]["retention_hours"] = 24
    document["cutover"]["planned_window_hours"] = 26


def test_preflight_on_the_example_spec_passes_with_one_row_per_spec_check(tmp_path, capsys):
    code = main(["preflight", "--spec", write_spec(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["verdict"] == "pass" and report["environments"] == []
    assert [row["name"] for row in report["checks"]] == [
        "direction-flag-rate",
        "replicator-retries",
        "retention-window",
        "starting-positions",
    ]


def test_preflight_exits_1_on_a_window_longer_than_retention(tmp_path, capsys):
    code = main(["preflight", "--spec", write_spec(tmp_path, long_window)])
    out = capsys.readouterr().out
    assert code == 1
    assert "fail    retention-window" in out
    assert out.rstrip().endswith("preflight (spec only): fail")


def test_validate_refuses_a_window_longer_than_retention(tmp_path, capsys):
    code = main(["validate", "--spec", write_spec(tmp_path, long_window)])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 1
    assert "refused: the preflight check retention-window failed" in out
    assert "stream clicks keeps records 24 h, less than the planned window 26 h + margin 6 h" in out


def test_validate_of_a_26_hour_window_against_24_hour_retention_is_one_refusal_paragraph(
    tmp_path, capsys
):
    """Issue #14: the 26-hour rehearsal against 24-hour retention is refused at validation."""
    code = main(["validate", "--spec", write_spec(tmp_path, long_window)])
    first, *rows = capsys.readouterr().out.splitlines()
    assert code == 1
    assert first.endswith(
        "refused: the preflight check retention-window failed: this spec would lose records on "
        "AWS (what to change is below)."
    )
    row = " ".join(" ".join(line.split()) for line in rows)
    assert "fail retention-window stream clicks keeps records 24 h" in row
    assert "change: set cutover.raise_retention_hours to at least 32" in row
    assert "Traceback" not in row


def test_validate_passes_the_same_26_hour_window_with_retention_raised_by_the_option(
    tmp_path, capsys
):
    def raised(document):
        long_window(document)
        document["cutover"]["raise_retention_hours"] = 168  # >= the other streams' own 168 h

    code = main(["validate", "--spec", write_spec(tmp_path, raised)])
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0, out
    assert ": valid. Migration" in out
    assert "pass retention-window planned window 26 h + margin 6 h = 32 h is within every" in out
    assert "raised by cutover.raise_retention_hours = 168" in out


def test_validate_refuses_a_replicator_starting_at_latest(tmp_path, capsys):
    spec = write_spec(tmp_path, lambda d: d["replication"].update(starting_position="LATEST"))
    code = main(["validate", "--spec", spec])
    assert code == 1
    assert "starting-positions failed" in capsys.readouterr().out


def test_validate_passes_the_example_spec(tmp_path, capsys):
    assert main(["validate", "--spec", write_spec(tmp_path)]) == 0
    assert ": valid." in capsys.readouterr().out


def test_an_unknown_env_is_one_paragraph_naming_the_choices(tmp_path, capsys):
    code = main(["preflight", "--env", "both2", "--spec", write_spec(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "'both2' is not one of 'old', 'new', 'both'" in err
    assert "turnout preflight --help" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_preflight_help_has_an_example(capsys):
    assert main(["preflight", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Example: turnout preflight --env new --json" in text
    assert "3 something could not be read" in text


def test_plan_refuses_a_failing_spec_check_before_terraform_runs(tmp_path, capsys, monkeypatch):
    from turnout import deploy

    def terraform_must_not_run(*args, **kwargs):
        raise AssertionError("deploy.plan ran although a preflight check failed")

    monkeypatch.setattr(deploy, "plan", terraform_must_not_run)
    code = main(["plan", "--env", "new", "--spec", write_spec(tmp_path, long_window)])
    captured = capsys.readouterr()
    message = " ".join((captured.err + captured.out).split())
    assert code == 1
    assert "refused: `turnout plan` runs the preflight checks that need only the spec first" in (
        message
    )
    assert "retention-window failed" in message and "stream clicks keeps records 24 h" in message
    assert "Nothing was planned and Terraform did not run" in message
    assert "Traceback" not in message
    assert not (tmp_path / "terraform" / "new.tfvars.json").exists(), "nothing was rendered"


def test_cutover_refuses_bad_accept_input_before_reading_anything(tmp_path, capsys):
    spec = write_spec(tmp_path)
    code = main(["cutover", "--spec", spec, "--accept", "no-such-check", "--reason", "r"])
    message = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "--accept 'no-such-check': no preflight check has that name; valid:" in message
    assert (
        "consumer-retries, direction-flag-rate, hot-keys, lambda-concurrency, "
        "read-across-settings, replicator-retries" in message
    )
    code = main(["rollback", "--spec", spec, "--accept", "retention-window"])
    message = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "--accept retention-window needs --reason" in message
