"""Remote state on the emulator's S3, through the real CLI and real Terraform: the bucket made by
`turnout state bootstrap`, each bad bucket refused in one paragraph with nothing changed, local
state moved in by `turnout state migrate`, local state for experiments from a mirror of the root,
and conditional lock writes that only one writer wins."""

from __future__ import annotations

import json
import threading

import pytest
from botocore.exceptions import ClientError
from state_kit import REPO, bootstrap, run_cli, scratch_project

pytestmark = pytest.mark.integration

OLD, NEW = "111111111111", "222222222222"


def s3(emulator, account: str = OLD, region: str = "eu-west-1"):
    return emulator.client("s3", account, region)


def state(bucket: str, **more):
    def change(document: dict) -> None:
        document["state"] = {"bucket": bucket, "region": "eu-west-1", **more}

    return change


def guard_resource(value: str) -> dict:
    """The root's terraform_data.workspace_guard as a state records it."""
    typed = {"value": value, "type": "string"}
    return {
        "mode": "managed",
        "type": "terraform_data",
        "name": "workspace_guard",
        "provider": 'provider["terraform.io/builtin/terraform"]',
        "instances": [
            {
                "schema_version": 0,
                "attributes": {
                    "id": "4f1c9c1e-2b7a-7a4e-8f0e-1d2c3b4a5f60",
                    "input": typed,
                    "output": typed,
                    "triggers_replace": None,
                },
                "sensitive_attributes": [],
            }
        ],
    }


def test_a_plan_against_a_missing_bucket_is_refused_and_changes_nothing(
    emulator, tmp_path, monkeypatch, capsys, terraform_ready
):
    spec = scratch_project(tmp_path / "p", state("turnout-state-never-made"))
    work = tmp_path / "work"
    code, _, error = run_cli(
        ["plan", "--env", "old", "--spec", str(spec), "--endpoint-url", emulator.endpoint_url],
        work,
        monkeypatch,
        capsys,
    )
    assert code == 2
    assert error.startswith(
        "error: the state bucket turnout-state-never-made (state.bucket) does not exist."
    )
    assert "turnout state bootstrap" in error and "Nothing was changed." in error
    with pytest.raises(ClientError):
        s3(emulator).head_bucket(Bucket="turnout-state-never-made")
    assert not (work / "plans").exists() and not (work / "terraform").exists()


def test_a_bucket_in_another_region_is_refused_naming_both_regions(
    emulator, tmp_path, monkeypatch, capsys, terraform_ready
):
    s3(emulator, region="us-east-2").create_bucket(
        Bucket="turnout-state-in-ohio",
        CreateBucketConfiguration={"LocationConstraint": "us-east-2"},
    )
    spec = scratch_project(tmp_path / "p", state("turnout-state-in-ohio"))
    for args in (
        ["plan", "--env", "old", "--spec", str(spec), "--endpoint-url", emulator.endpoint_url],
        ["state", "bootstrap", "--spec", str(spec), "--endpoint-url", emulator.endpoint_url],
    ):
        code, _, error = run_cli(args, tmp_path / "work", monkeypatch, capsys)
        assert code == 2, error
        assert "turnout-state-in-ohio" in error and "in region us-east-2" in error
        assert "state.region" in error and "Nothing was changed." in error
    with pytest.raises(ClientError):  # bootstrap set nothing on it
        s3(emulator).get_bucket_policy(Bucket="turnout-state-in-ohio")


def test_bootstrap_refuses_a_bucket_name_another_account_owns(
    emulator, tmp_path, monkeypatch, capsys
):
    s3(emulator, NEW).create_bucket(
        Bucket="turnout-state-of-someone-else",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )
    spec = scratch_project(tmp_path / "p", state("turnout-state-of-someone-else"))
    code, _, error = run_cli(
        ["state", "bootstrap", "--spec", str(spec), "--endpoint-url", emulator.endpoint_url],
        tmp_path / "work",
        monkeypatch,
        capsys,
    )
    assert code == 2
    assert "is taken by another AWS account" in error and "Nothing was changed." in error
    with pytest.raises(ClientError):
        s3(emulator, NEW).get_bucket_policy(Bucket="turnout-state-of-someone-else")


def test_bootstrap_makes_a_private_versioned_encrypted_tls_only_bucket_and_is_idempotent(
    emulator, tmp_path, monkeypatch, capsys
):
    spec = scratch_project(tmp_path / "p", state("turnout-state-bootstrapped"))
    args = ["state", "bootstrap", "--spec", str(spec), "--endpoint-url", emulator.endpoint_url]
    results = []
    for _ in range(2):
        code, out, _ = run_cli([*args, "--json"], tmp_path / "work", monkeypatch, capsys)
        assert code == 0
        results.append(json.loads(out))
    assert [r["created"] for r in results] == [True, False]
    assert results[0]["owner_account"] == OLD
    client = s3(emulator)
    bucket = "turnout-state-bootstrapped"
    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    (rule,) = client.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"][
        "Rules"
    ]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = client.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    policy = json.loads(client.get_bucket_policy(Bucket=bucket)["Policy"])
    deny = policy["Statement"][0]
    assert (deny["Effect"], deny["Condition"]) == (
        "Deny",
        {"Bool": {"aws:SecureTransport": "false"}},
    )
    tags = {t["Key"]: t["Value"] for t in client.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["turnout:migration"] == "clickstream"


def test_migrate_moves_local_state_in_once_and_refuses_a_different_remote(
    emulator, tmp_path, monkeypatch, capsys, terraform_ready
):
    spec = scratch_project(tmp_path / "p", state("turnout-state-migrated"))
    url = emulator.endpoint_url
    work = tmp_path / "work"
    bootstrap(spec, url, work, monkeypatch, capsys)
    local = work / "state" / "new.tfstate"
    local.parent.mkdir(parents=True)
    document = {
        "version": 4,
        "terraform_version": "1.11.4",
        "serial": 7,
        "lineage": "11111111-2222-3333-4444-555555555555",
        "outputs": {},
        "resources": [guard_resource("new")],
        "check_results": None,
    }
    local.write_text(json.dumps(document))
    plan = ["plan", "--env", "new", "--spec", str(spec), "--endpoint-url", url]
    code, _, error = run_cli(plan, work, monkeypatch, capsys)
    assert code == 2 and "turnout state migrate --env new" in error  # unmigrated local state
    migrate = ["state", "migrate", "--env", "new", "--spec", str(spec), "--endpoint-url", url]
    code, out, _ = run_cli([*migrate, "--json"], work, monkeypatch, capsys)
    assert code == 0, out
    (outcome,) = json.loads(out)["environments"]
    assert outcome["result"] == "migrated" and not local.exists()
    remote = json.loads(
        s3(emulator)
        .get_object(Bucket="turnout-state-migrated", Key="turnout/clickstream/new.tfstate")["Body"]
        .read()
    )
    assert remote["resources"] == document["resources"]
    code, out, _ = run_cli(migrate, work, monkeypatch, capsys)
    assert code == 0 and "no local state to migrate" in out
    # A local state that differs from the remote one is never written over it.
    local.write_text(json.dumps({**document, "resources": [guard_resource("somewhere-else")]}))
    code, _, error = run_cli(migrate, work, monkeypatch, capsys)
    assert code == 2 and "already holds a different new state" in error
    assert "Nothing was changed." in error and local.exists()


def test_local_state_runs_from_a_mirror_and_leaves_the_repository_untouched(
    emulator, tmp_path, monkeypatch, capsys, terraform_ready
):
    spec = scratch_project(tmp_path / "p", lambda d: d.update(state={"backend": "local"}))
    work = tmp_path / "work"
    code, out, error = run_cli(
        ["plan", "--env", "old", "--spec", str(spec), "--endpoint-url", emulator.endpoint_url],
        work,
        monkeypatch,
        capsys,
    )
    assert code == 0, error
    assert "to add" in out
    # On the emulator the mirror's lock file has no package hashes (backend.mirror_root).
    mirror = work / "local-emulator-root" / "terraform"
    assert (mirror / "backend_override.tf").is_file()
    assert "hashes" not in (mirror / ".terraform.lock.hcl").read_text()
    assert not (tmp_path / "p" / "terraform" / "backend_override.tf").exists()
    assert not (REPO / "terraform" / "backend_override.tf").exists()
    backend = json.loads(
        (work / "terraform" / "old" / ".terraform" / "terraform.tfstate").read_text()
    )
    assert backend["backend"]["type"] == "local"


def test_of_simultaneous_lock_writes_exactly_one_wins(emulator):
    client = s3(emulator)
    client.create_bucket(
        Bucket="turnout-lock-race", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    outcomes: list[str] = []
    start = threading.Barrier(16)

    def take(index: int) -> None:
        start.wait()
        try:
            client.put_object(
                Bucket="turnout-lock-race", Key="s.tfstate.tflock", Body=str(index), IfNoneMatch="*"
            )
            outcomes.append("won")
        except ClientError as problem:
            outcomes.append(problem.response["Error"]["Code"])

    threads = [threading.Thread(target=take, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["PreconditionFailed"] * 15 + ["won"]


def test_a_lock_held_on_another_host_is_refused_and_only_its_own_id_unlocks_it(
    emulator, tmp_path, monkeypatch, capsys, terraform_ready
):
    bucket, lock_id = "turnout-state-foreign-lock", "0b9c6f3e-7f0e-4c5a-9d5e-2a1b3c4d5e6f"
    spec = scratch_project(tmp_path / "p", state(bucket))
    url = emulator.endpoint_url
    work = tmp_path / "work"
    bootstrap(spec, url, work, monkeypatch, capsys)
    key = "turnout/clickstream/old.tfstate"
    held = {
        "ID": lock_id,
        "Operation": "OperationTypeApply",
        "Info": "",
        "Who": "carol@build-7",
        "Version": "1.11.4",
        "Created": "2026-11-30T06:00:00.000000Z",
        "Path": f"{bucket}/{key}",
    }
    s3(emulator).put_object(Bucket=bucket, Key=f"{key}.tflock", Body=json.dumps(held))
    plan = ["plan", "--env", "old", "--spec", str(spec), "--endpoint-url", url]
    code, _, error = run_cli(plan, work, monkeypatch, capsys)
    assert code == 2
    assert "carol@build-7 has held it since 2026-11-30 06:00:00" in error
    assert f"for an apply (lock id {lock_id}" in error and "turnout changed nothing" in error
    unlock = ["state", "unlock", "--env", "old", "--spec", str(spec), "--endpoint-url", url]
    code, _, error = run_cli([*unlock, "not-that-lock"], work, monkeypatch, capsys)
    assert code == 2 and f"locked with id {lock_id}" in error and "Nothing was removed" in error
    assert s3(emulator).get_object(Bucket=bucket, Key=f"{key}.tflock")  # still there
    code, out, error = run_cli([*unlock, lock_id], work, monkeypatch, capsys)
    assert code == 0, error
    assert "held by carol@build-7" in out
    with pytest.raises(ClientError):
        s3(emulator).get_object(Bucket=bucket, Key=f"{key}.tflock")
