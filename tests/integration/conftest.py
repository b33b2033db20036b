"""Fixtures for tests that run real Terraform against the local emulator.

A missing terraform binary or provider is a failure, never a skip: these tests are the proof
that the Terraform really applies.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from turnout.aws.access import AwsAccess
from turnout.deploy.state_bootstrap import bootstrap_state_bucket
from turnout.project import Project
from turnout.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]
DEFAULT_MIRROR = Path("/opt/tf-plugins")


@pytest.fixture(scope="session")
def terraform_ready() -> None:
    if shutil.which(os.environ.get("TURNOUT_TERRAFORM_BIN", "terraform")) is None:
        pytest.fail(
            "terraform is not on PATH: the integration tests need it (install Terraform >= 1.10)"
        )
    if not os.environ.get("TURNOUT_PROVIDER_MIRROR") and DEFAULT_MIRROR.is_dir():
        os.environ["TURNOUT_PROVIDER_MIRROR"] = str(DEFAULT_MIRROR)


@pytest.fixture(scope="module")
def sandbox_project(tmp_path_factory, terraform_ready, emulator) -> Project:
    """The repository's spec and Terraform, with a scratch work dir and Terraform's state in the
    session emulator's S3 under a key prefix of this module's own (the spec is copied with it)."""
    work_dir = tmp_path_factory.mktemp("turnout-work")
    spec_path = work_dir / "migration.yaml"
    document = yaml.safe_load((REPO / "terraform" / "migration.yaml").read_text())
    document["state"]["key_prefix"] = f"tests/{work_dir.name}"
    spec_path.write_text(yaml.safe_dump(document, sort_keys=False))
    bootstrap_emulator_state(load_spec(spec_path), emulator)
    return Project(root=REPO, spec_path=spec_path, work_dir=work_dir)


def bootstrap_emulator_state(spec, emulator) -> None:
    """The spec's state bucket in the emulator, as `turnout state bootstrap` makes it."""
    bootstrap_state_bucket(spec, AwsAccess.for_emulator(spec, emulator), progress=lambda _: None)
