"""Two operators, one state: while one applies, the other's plan is refused naming the holder,
and the state is an S3 object with its lock file beside it for exactly as long as the apply
runs. A run killed mid-apply leaves its lock; turnout's next run on that host removes it (the
terraform that took it is gone) and goes on."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from state_kit import run_cli, scratch_project, tfstate_files_with_resources

from turnout import deploy
from turnout.project import Project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]

# Accounts of their own in the session's emulator: this test applies real resources.
OLD, NEW = "717171717171", "727272727272"
BUCKET = "turnout-state-contended"
KEY = "turnout/clickstream/{env}.tfstate"


def spec_change(document: dict) -> None:
    document["environments"]["old"]["account_id"] = OLD
    document["environments"]["new"]["account_id"] = NEW
    document["state"] = {"bucket": BUCKET, "region": "eu-west-1"}
    document["apis"] = []  # these accounts hold no hosted zone; the API switch is tested apart


def wait_for_lock(client, environment: str, timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = client.get_object(Bucket=BUCKET, Key=KEY.format(env=environment) + ".tflock")
            return json.loads(body["Body"].read())
        except ClientError:
            time.sleep(0.2)
    raise AssertionError(f"no lock file for {environment} within {timeout:.0f} s")


def objects(client) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_a_second_run_is_refused_naming_the_holder_and_a_dead_runs_lock_is_cleared(
    emulator, tmp_path, monkeypatch, capsys, terraform_ready
):
    spec = scratch_project(tmp_path / "p", spec_change)
    url = emulator.endpoint_url
    bootstrap = ["state", "bootstrap", "--spec", str(spec), "--endpoint-url", url]
    assert run_cli(bootstrap, tmp_path / "b", monkeypatch, capsys)[0] == 0
    client = emulator.client("s3", OLD)
    alice = Project.locate(spec, tmp_path / "alice")
    deploy.plan(alice, "old", (), url)

    failures: list[BaseException] = []

    def apply() -> None:
        try:
            deploy.apply(alice, "old", url)
        except BaseException as problem:  # reported by the main thread
            failures.append(problem)

    applying = threading.Thread(target=apply)
    applying.start()
    lock = wait_for_lock(client, "old")
    assert lock["Operation"] == "OperationTypeApply"
    assert lock["Who"].endswith(f"@{socket.gethostname()}")

    # Bob plans the same environment from his own work dir while Alice's apply runs.
    code, _, error = run_cli(
        ["plan", "--env", "old", "--spec", str(spec), "--endpoint-url", url],
        tmp_path / "bob",
        monkeypatch,
        capsys,
    )
    assert applying.is_alive(), "the apply ended before the second run was tried"
    assert code == 2
    assert (
        f"the old environment's Terraform state (s3://{BUCKET}/{KEY.format(env='old')}) is locked:"
        in error
    )
    assert f"{lock['Who']} has held it since" in error and "for an apply" in error
    assert f"lock id {lock['ID']}" in error and "turnout changed nothing" in error
    assert not (tmp_path / "bob" / "plans" / "old.tfplan").exists()

    applying.join(timeout=1500)
    assert not applying.is_alive() and not failures, failures
    assert objects(client) == [KEY.format(env="old")]  # the state, and no lock left
    state = json.loads(client.get_object(Bucket=BUCKET, Key=KEY.format(env="old"))["Body"].read())
    assert len(state["resources"]) > 10
    assert tfstate_files_with_resources(tmp_path) == []  # no state under any work dir

    # A review plan (the pull request's, read-only) reads the same state: no changes, no lock.
    review = ["plan", "--env", "old", "--spec", str(spec), "--endpoint-url", url, "--read-only"]
    code, out, error = run_cli(review, tmp_path / "bob", monkeypatch, capsys)
    assert code == 0, error
    assert "Plan for old: no changes." in out and "cannot be applied" in out
    apply_review = ["apply", "--env", "old", "--spec", str(spec), "--endpoint-url", url]
    code, _, error = run_cli(apply_review, tmp_path / "bob", monkeypatch, capsys)
    assert code == 2 and "was made with --read-only" in error

    # A run killed mid-apply (its whole process group, as a crash would) leaves its lock ...
    deploy.plan(alice, "new", (), url)
    killed = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "turnout.cli",
            "apply",
            "--env",
            "new",
            "--spec",
            str(spec),
            "--endpoint-url",
            url,
        ],
        env={**os.environ, "TURNOUT_WORK_DIR": str(tmp_path / "alice")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        dead_lock = wait_for_lock(client, "new")
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait(timeout=60)
    assert KEY.format(env="new") + ".tflock" in objects(client)
    # ... which the next run on this host recognises as a dead terraform's, removes and goes on.
    result = deploy.plan(alice, "new", (), url)
    assert any(
        f"removed the new state lock {dead_lock['ID']}" in note for note in result.summary.notes
    ), result.summary.notes
    assert KEY.format(env="new") + ".tflock" not in objects(client)
    assert Path(result.plan_path).is_file()
