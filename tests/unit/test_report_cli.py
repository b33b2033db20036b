"""`turnout report`'s bad input: one paragraph naming the flag, nothing written, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from turnout.cli import main

REPO = Path(__file__).resolve().parents[2]
SPEC = str(REPO / "terraform" / "migration.yaml")


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["--sandbox", "--endpoint-url", "http://127.0.0.1:9"], "--sandbox and --endpoint-url"),
        (["--endpoint-url", "127.0.0.1:5000"], "--endpoint-url"),
        (["--since", "last tuesday"], "--since"),
        (["--since", "2999-01-01T00:00:00Z"], "--since"),
    ],
)
def test_bad_flags_are_refused_naming_the_flag(arguments, named, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TURNOUT_WORK_DIR", str(tmp_path / "work"))
    out = tmp_path / "out"
    code = main(["report", "--spec", SPEC, "--out", str(out), *arguments])
    error = capsys.readouterr().err
    assert code != 0
    assert error.startswith("error: ") and named in error and "Traceback" not in error
    assert not out.exists()


def test_out_that_is_a_file_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TURNOUT_WORK_DIR", str(tmp_path / "work"))
    target = tmp_path / "report.html"
    target.write_text("mine")
    code = main(["report", "--spec", SPEC, "--out", str(target), "--endpoint-url", "http://x:1"])
    assert code != 0 and "--out" in capsys.readouterr().err
    assert target.read_text() == "mine"


def test_help_shows_an_example(capsys):
    assert main(["report", "--help"]) == 0
    assert "Example: turnout report" in capsys.readouterr().out
