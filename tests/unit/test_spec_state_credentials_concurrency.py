"""The spec's new parts for real accounts: `state:`, each environment's credentials and the
replicator's reserved concurrency. Each mistake is one paragraph naming the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from turnout.aws.access import require_declared_credentials
from turnout.deploy.render import render_environments
from turnout.errors import SpecError
from turnout.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((REPO / "terraform" / "migration.yaml").read_text())


def spec_with(tmp_path: Path, change) -> Path:
    document = copy.deepcopy(EXAMPLE)
    change(document)
    path = tmp_path / "migration.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def refusal(tmp_path: Path, change) -> str:
    with pytest.raises(SpecError) as refused:
        load_spec(spec_with(tmp_path, change))
    return " ".join(str(refused.value).split())


def test_the_example_keeps_its_state_in_s3_with_a_key_per_environment():
    spec = load_spec(REPO / "terraform" / "migration.yaml")
    assert spec.state is not None and spec.state.backend == "s3"
    assert (spec.state.bucket, spec.state.region) == ("clickstream-turnout-state", "eu-west-1")


@pytest.mark.parametrize("missing", ["bucket", "region"])
def test_s3_state_needs_a_bucket_and_a_region(tmp_path, missing):
    message = refusal(tmp_path, lambda d: d["state"].pop(missing))
    assert f"field 'state.{missing}'" in message
    assert "required with backend s3" in message and "turnout state bootstrap" in message


def test_local_state_takes_no_bucket(tmp_path):
    message = refusal(tmp_path, lambda d: d["state"].update(backend="local"))
    assert "field 'state.bucket'" in message and "backend local" in message


def test_local_state_alone_is_valid(tmp_path):
    spec = load_spec(spec_with(tmp_path, lambda d: d.update(state={"backend": "local"})))
    assert spec.state.backend == "local"


@pytest.mark.parametrize("bucket", ["My_Bucket", "ab", "a..b-bucket", "192.168.1.10"])
def test_a_bucket_name_s3_would_refuse_is_refused(tmp_path, bucket):
    message = refusal(tmp_path, lambda d: d["state"].update(bucket=bucket))
    assert "field 'state.bucket'" in message


def test_a_deploy_role_of_the_other_account_is_refused(tmp_path):
    role = "arn:aws:iam::222222222222:role/deployer"
    message = refusal(tmp_path, lambda d: d["environments"]["old"].update(deploy_role_arn=role))
    assert "field 'environments.old.deploy_role_arn'" in message
    assert (
        "a role in account 222222222222, but the old environment is account 111111111111" in message
    )


def test_on_aws_both_environments_must_name_their_credentials(tmp_path):
    spec = load_spec(
        spec_with(
            tmp_path,
            lambda d: d["environments"]["new"].update(profile="v2-deployer"),
        )
    )
    with pytest.raises(SpecError) as refused:
        require_declared_credentials(spec)
    message = str(refused.value)
    assert "no credentials for the old environment" in message
    assert "environments.old.deploy_role_arn or environments.old.profile" in message
    assert "environments.new" not in message


def test_reserved_concurrency_is_optional_and_renders_null(tmp_path):
    spec = load_spec(spec_with(tmp_path, lambda d: d["replication"].pop("reserved_concurrency")))
    assert spec.replication.reserved_concurrency is None
    (old, _) = render_environments(spec, REPO / "terraform", output_dir=tmp_path / "vars")
    assert '"reserved_concurrency": null' in old.content


def test_reserved_concurrency_below_shards_times_parallelization_is_refused(tmp_path):
    # The parallelization factor is always 1: a larger one is refused (it breaks the ledger).
    def change(document):
        document["replication"].update(reserved_concurrency=6, parallelization_factor=1)

    message = refusal(tmp_path, change)
    # clicks 2 + orders 1 + audit on-demand (at least 4) = 7 shards, x 1 = 7
    assert "field 'replication.reserved_concurrency'" in message
    assert "7 shards (clicks 2, orders 1, audit 4 (on-demand, at least))" in message
    assert "x parallelization_factor 1 = 7" in message and "set at least 7" in message


def test_reserved_concurrency_that_covers_every_shard_is_valid(tmp_path):
    spec = load_spec(spec_with(tmp_path, lambda d: d["replication"].update(reserved_concurrency=7)))
    assert spec.replication.reserved_concurrency == 7
