"""bench/profile_tests.py around real Terraform: the shim it puts first on PATH runs the real
binary, passes its exit code through and logs the command with its CPU time."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import profile_tests as profiler

pytestmark = pytest.mark.integration


def test_every_terraform_command_is_timed_and_its_exit_code_kept(terraform_ready, tmp_path, capsys):
    summary = tmp_path / "profile.md"
    script = (
        "terraform version >/dev/null 2>&1 && terraform no-such-command >/dev/null 2>&1; exit $?"
    )
    code = profiler.main(["--output", str(summary), "--json", "--", "sh", "-c", script])
    assert code != 0  # terraform's own exit code for an unknown command, passed through
    result = json.loads(capsys.readouterr().out)  # the command itself printed nothing
    assert result["terraform"]["commands"] == 2
    assert set(result["terraform"]["by_kind"]) == {"version", "no-such-command"}
    assert result["exit_code"] == code
    text = summary.read_text()
    assert "| version | 1 |" in text
