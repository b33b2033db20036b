"""Fixtures for tests that run real Terraform against the local emulator.

A missing terraform binary or provider is a failure, never a skip: these tests are the proof
that the Terraform really applies.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from turnout.project import Project

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MIRROR = Path("/opt/tf-plugins")


@pytest.fixture(scope="session")
def terraform_ready() -> None:
    if shutil.which(os.environ.get("TURNOUT_TERRAFORM_BIN", "terraform")) is None:
        pytest.fail(
            "terraform is not on PATH: the integration tests need it (install Terraform >= 1.5)"
        )
    if not os.environ.get("TURNOUT_PROVIDER_MIRROR") and DEFAULT_MIRROR.is_dir():
        os.environ["TURNOUT_PROVIDER_MIRROR"] = str(DEFAULT_MIRROR)


@pytest.fixture(scope="module")
def sandbox_project(tmp_path_factory, terraform_ready) -> Project:
    """The repository's spec and Terraform, with Terraform's state in a scratch work dir."""
    work_dir = tmp_path_factory.mktemp("turnout-work")
    return Project(root=REPO, spec_path=REPO / "terraform" / "migration.yaml", work_dir=work_dir)
