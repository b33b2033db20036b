"""`terraform test` of modules/monitoring with a mocked AWS provider (no emulator).

The apply test (test_terraform_apply.py) proves the alarms and dashboard of the example spec on
the emulator; this covers what that spec does not use: KCL consumers, SNS actions, the widget
layout without consumers, and the module's refusal of thresholds and periods that would misfire.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

MODULE = Path(__file__).resolve().parents[2] / "modules" / "monitoring"


def mirror_only_cli_config(path: Path, mirror: str) -> Path:
    path.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n'
        "}\n"
    )
    return path


def run_terraform_tests(source: Path, tmp_path: Path) -> str:
    """`terraform init` and `terraform test` in a copy of a module; returns the test output."""
    module = tmp_path / source.name
    shutil.copytree(source, module, ignore=shutil.ignore_patterns(".terraform*"))
    environment = {
        **os.environ,
        "TF_IN_AUTOMATION": "1",
        "CHECKPOINT_DISABLE": "1",
        "TF_DATA_DIR": str(tmp_path / ".terraform"),
    }
    mirror = os.environ.get("TURNOUT_PROVIDER_MIRROR")
    if mirror:
        config = mirror_only_cli_config(tmp_path / "terraform.rc", mirror)
        environment["TF_CLI_CONFIG_FILE"] = str(config)
    terraform = os.environ.get("TURNOUT_TERRAFORM_BIN", "terraform")
    for command in (["init", "-backend=false", "-input=false"], ["test"]):
        completed = subprocess.run(
            [terraform, *command, "-no-color"],
            cwd=module,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout[-4000:] + completed.stderr[-4000:]
    return completed.stdout


def test_the_monitoring_modules_terraform_tests_pass(tmp_path, terraform_ready):
    output = run_terraform_tests(MODULE, tmp_path)
    assert "14 passed, 0 failed" in output, output
