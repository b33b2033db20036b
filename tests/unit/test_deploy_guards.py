"""apply only ever applies a saved plan whose inputs still match what was reviewed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from turnout import deploy
from turnout.deploy.backend import Backend, mirror_root
from turnout.deploy.terraform import TerraformRunner, TerraformSettings
from turnout.deploy.workflow import inputs_fingerprint
from turnout.errors import TerraformError
from turnout.project import Project

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path) -> Project:
    shutil.copytree(
        REPO / "terraform", tmp_path / "terraform", ignore=shutil.ignore_patterns(".terraform*")
    )
    return Project(
        root=tmp_path,
        spec_path=tmp_path / "terraform" / "migration.yaml",
        work_dir=tmp_path / ".work",
    )


def test_apply_without_a_saved_plan_is_refused(project):
    with pytest.raises(
        TerraformError, match=r"no saved plan for the new environment.*turnout plan --env new"
    ):
        deploy.apply(project, "new")


def test_apply_is_refused_when_the_tfvars_changed_after_the_plan(project):
    plans = project.work_dir / "plans"
    plans.mkdir(parents=True)
    var_file = project.terraform_dir / "new.tfvars.json"
    (plans / "new.tfplan").write_bytes(b"reviewed plan")
    (plans / "new.inputs.json").write_text(
        json.dumps({"inputs": inputs_fingerprint(project, var_file), "var_file": str(var_file)})
    )
    var_file.write_text(var_file.read_text().replace('"batch_size": 2000', '"batch_size": 10'))
    with pytest.raises(TerraformError, match="changed after it was made"):
        deploy.apply(project, "new")
    assert (plans / "new.tfplan").read_bytes() == b"reviewed plan"


def test_a_read_only_review_plan_can_never_be_applied(project):
    plans = project.work_dir / "plans"
    plans.mkdir(parents=True)
    var_file = project.terraform_dir / "new.tfvars.json"
    (plans / "new.tfplan").write_bytes(b"review plan")
    (plans / "new.inputs.json").write_text(
        json.dumps(
            {
                "inputs": inputs_fingerprint(project, var_file),
                "var_file": str(var_file),
                "read_only": True,
            }
        )
    )
    with pytest.raises(TerraformError, match=r"made with --read-only .* Nothing was applied"):
        deploy.apply(project, "new")
    assert (plans / "new.tfplan").read_bytes() == b"review plan"


def test_a_missing_terraform_binary_is_a_clear_error(tmp_path):
    settings = TerraformSettings(
        root_dir=tmp_path, work_dir=tmp_path, binary="terraform-that-is-not-installed"
    )
    with pytest.raises(
        TerraformError, match="terraform-that-is-not-installed' was not found on PATH"
    ):
        TerraformRunner(settings, "old")


def test_a_missing_provider_mirror_is_a_clear_error(tmp_path):
    settings = TerraformSettings(
        root_dir=tmp_path,
        work_dir=tmp_path,
        provider_mirror=tmp_path / "no-mirror",
        backend=Backend("s3", "old", {"bucket": "b", "key": "k", "region": "eu-west-1"}),
    )
    runner = TerraformRunner(settings, "old")
    with pytest.raises(TerraformError, match=r"provider mirror .*no-mirror is not a directory"):
        runner.init()


def test_terraform_runs_from_the_root_against_aws_and_from_its_unhashed_mirror_on_the_emulator(
    tmp_path,
):
    root = Path(__file__).resolve().parents[2] / "terraform"
    s3 = Backend("s3", "old", {"bucket": "b", "key": "k", "region": "eu-west-1"})
    aws = TerraformRunner(TerraformSettings(root_dir=root, work_dir=tmp_path, backend=s3), "old")
    assert aws.root == root  # the committed lock file, its provider hash checked
    on_emulator = TerraformRunner(
        TerraformSettings(
            root_dir=root, work_dir=tmp_path, backend=s3, aws_endpoint_url="http://127.0.0.1:1"
        ),
        "old",
    )
    assert on_emulator.root == tmp_path / "emulator-root" / "terraform"
    local = Backend("local", "old", {"path": str(tmp_path / "old.tfstate")})
    local_on_emulator = TerraformRunner(
        TerraformSettings(
            root_dir=root, work_dir=tmp_path, backend=local, aws_endpoint_url="http://127.0.0.1:1"
        ),
        "old",
    )
    assert local_on_emulator.root == tmp_path / "local-emulator-root" / "terraform"


def test_a_runner_without_a_backend_runs_where_the_last_init_of_its_work_dir_ran(tmp_path):
    """show and output take no backend: on the emulator they run in the mirror an init made
    (here a local-state one), or in the root while there is none."""
    root = Path(__file__).resolve().parents[2] / "terraform"
    settings = TerraformSettings(
        root_dir=root, work_dir=tmp_path, aws_endpoint_url="http://127.0.0.1:1"
    )
    assert TerraformRunner(settings, "old").root == root
    made = mirror_root(root, tmp_path, local_backend=True, lock_hashes=False)
    assert TerraformRunner(settings, "old").root == made


def test_a_changed_provider_lock_makes_init_run_again(tmp_path):
    """An upgraded provider (a new lock file) must be installed by a new init, not skipped by
    the stamp of the last one."""
    root = tmp_path / "terraform"
    shutil.copytree(REPO / "terraform", root, ignore=shutil.ignore_patterns(".terraform"))
    s3 = Backend("s3", "old", {"bucket": "b", "key": "k", "region": "eu-west-1"})
    runner = TerraformRunner(TerraformSettings(root_dir=root, work_dir=tmp_path, backend=s3), "old")
    runner.env_dir.mkdir(parents=True)
    runner.backend_file.write_text(s3.config_text())
    before = runner._init_fingerprint()
    lock = root / ".terraform.lock.hcl"
    lock.write_text(lock.read_text().replace("version", "version ", 1))
    assert runner._init_fingerprint() != before
