"""Each environment's backend configuration, the local-state mirror of the root, and the state
lock refusal read from Terraform's own output."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from turnout.deploy.backend import LOCAL_OVERRIDE, backend_for, mirror_root
from turnout.deploy.state_lock import lock_holder, state_locked
from turnout.errors import SpecError
from turnout.spec.model import MigrationSpec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((REPO / "terraform" / "migration.yaml").read_text())
URL = "http://127.0.0.1:5000"

# What Terraform 1.11 prints when the S3 lock file is already there (captured on the emulator).
LOCK_ERROR_OUTPUT = """
Acquiring state lock. This may take a few moments...

Error: Error acquiring the state lock

Error message: operation error S3: PutObject, https response error
StatusCode: 412, RequestID: BhEA, api error PreconditionFailed: At least one of the
pre-conditions you specified did not hold
Lock Info:
  ID:        1234-abcd
  Path:      clickstream-turnout-state/turnout/clickstream/old.tfstate
  Operation: OperationTypeApply
  Who:       alice@laptop
  Version:   1.11.4
  Created:   2026-11-30 07:00:00.123456 +0000 UTC
  Info:


Terraform acquires a state lock to protect the state from being written
by multiple users at the same time.
"""


def spec(change=None) -> MigrationSpec:
    document = copy.deepcopy(EXAMPLE)
    if change:
        change(document)
    return MigrationSpec.model_validate(document)


def test_each_environment_has_its_own_key_encrypted_and_locked_with_the_s3_lock_file(tmp_path):
    old = backend_for(spec(), "old", tmp_path)
    new = backend_for(spec(), "new", tmp_path)
    assert old.location == "s3://clickstream-turnout-state/turnout/clickstream/old.tfstate"
    assert new.key == "turnout/clickstream/new.tfstate"
    assert old.settings["encrypt"] is True and old.settings["use_lockfile"] is True
    assert old.lock_location.endswith("old.tfstate.tflock")
    text = old.config_text()
    assert 'bucket = "clickstream-turnout-state"' in text and "use_lockfile = true" in text
    assert "dynamodb" not in text and "access_key" not in text and "secret" not in text


def test_the_backend_assumes_the_state_role_else_the_deploy_role(tmp_path):
    deploy = "arn:aws:iam::111111111111:role/deployer"
    state_role = "arn:aws:iam::333333333333:role/turnout-state"
    with_deploy = spec(lambda d: d["environments"]["old"].update(deploy_role_arn=deploy))
    assert backend_for(with_deploy, "old", tmp_path).role_arn == deploy
    with_both = spec(
        lambda d: (
            d["environments"]["old"].update(deploy_role_arn=deploy),
            d["state"].update(role_arn=state_role),
        )
    )
    backend = backend_for(with_both, "old", tmp_path)
    assert backend.settings["assume_role"]["role_arn"] == state_role
    assert backend_for(with_both, "old", tmp_path, read_only=True).role_arn is None
    assert "assume_role" not in backend_for(spec(), "old", tmp_path).settings


def test_on_the_emulator_the_backend_points_at_its_s3_and_acts_in_the_account(tmp_path):
    backend = backend_for(spec(), "new", tmp_path, endpoint_url=URL)
    assert backend.settings["endpoints"] == {"s3": URL, "sts": URL}
    assert backend.settings["use_path_style"] is True
    assert backend.role_arn == "arn:aws:iam::222222222222:role/turnout-emulator-deployer"
    assert f'endpoints = {{ s3 = "{URL}", sts = "{URL}" }}' in backend.config_text()


def test_on_aws_a_spec_without_state_is_refused_naming_the_section(tmp_path):
    with pytest.raises(SpecError, match=r"no `state:` section.*turnout state bootstrap"):
        backend_for(spec(lambda d: d.pop("state")), "old", tmp_path)


def test_on_the_emulator_a_spec_without_state_uses_a_default_bucket(tmp_path):
    backend = backend_for(spec(lambda d: d.pop("state")), "old", tmp_path, endpoint_url=URL)
    assert backend.bucket == "turnout-state-clickstream-111111111111"
    assert backend.key == "turnout/clickstream/old.tfstate"


def test_local_state_is_a_file_in_the_work_dir(tmp_path):
    backend = backend_for(spec(lambda d: d.update(state={"backend": "local"})), "old", tmp_path)
    assert backend.kind == "local"
    assert backend.location == str(tmp_path / "state" / "old.tfstate")


def test_the_local_mirror_links_the_root_and_overrides_only_the_backend(tmp_path):
    root = mirror_root(REPO / "terraform", tmp_path)
    assert (root / "backend_override.tf").read_text() == LOCAL_OVERRIDE
    assert (root / "main.tf").resolve() == (REPO / "terraform" / "main.tf").resolve()
    assert (root / ".terraform.lock.hcl").is_symlink()
    assert (root.parent / "modules").resolve() == (REPO / "modules").resolve()
    assert not (REPO / "terraform" / "backend_override.tf").exists()
    # Rebuilt on every call: a root file gone is a link gone.
    (root / "stale.tf").symlink_to(REPO / "terraform" / "main.tf")
    mirror_root(REPO / "terraform", tmp_path)
    assert not (root / "stale.tf").exists()


def test_the_emulators_mirror_locks_the_provider_version_without_its_package_hashes(tmp_path):
    committed = (REPO / "terraform" / ".terraform.lock.hcl").read_text()
    assert "hashes" in committed  # what runs against AWS and `make lint` check the provider by
    root = mirror_root(REPO / "terraform", tmp_path, local_backend=False, lock_hashes=False)
    assert root == tmp_path / "emulator-root" / "terraform"
    lock = (root / ".terraform.lock.hcl").read_text()
    assert "hashes" not in lock and "h1:" not in lock
    assert 'version     = "5.100.0"' in lock and "constraints" in lock
    assert not (root / "backend_override.tf").exists()  # its state stays in the S3 backend
    assert (root / "main.tf").resolve() == (REPO / "terraform" / "main.tf").resolve()
    assert (REPO / "terraform" / ".terraform.lock.hcl").read_text() == committed


def test_a_held_lock_is_one_paragraph_naming_the_holder_and_the_way_out():
    holder = lock_holder(LOCK_ERROR_OUTPUT)
    assert holder is not None
    assert (holder.lock_id, holder.who, holder.doing) == ("1234-abcd", "alice@laptop", "an apply")
    error = state_locked("old", "s3://b/k", "s3://b/k.tflock", holder)
    message = str(error)
    assert "\n" not in message
    assert "locked: alice@laptop has held it since 2026-11-30 07:00:00.123456 +0000 UTC" in message
    assert "for an apply (lock id 1234-abcd" in message
    assert "turnout changed nothing" in message
    assert "turnout state unlock --env old 1234-abcd" in message


def test_other_terraform_errors_are_no_lock_error():
    assert lock_holder("Error: Invalid provider configuration") is None
