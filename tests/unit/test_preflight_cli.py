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
