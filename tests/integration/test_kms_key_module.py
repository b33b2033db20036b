"""`terraform test` of modules/kms-key with a mocked AWS provider (no emulator): the key policies
it writes are byte for byte the ones kinesis-stream, replicator and control-plane wrote before
they used it, and it refuses statements that would hand the key out (kms:*, administrative
actions, every principal, a second root statement), AWS-reserved aliases and short deletion
windows. The upgrade itself is proven on the emulator by test_module_upgrade.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_monitoring_module import run_terraform_tests

pytestmark = pytest.mark.integration

MODULE = Path(__file__).resolve().parents[2] / "modules" / "kms-key"


def test_the_kms_key_modules_terraform_tests_pass(tmp_path, terraform_ready):
    output = run_terraform_tests(MODULE, tmp_path)
    assert "12 passed, 0 failed" in output, output
