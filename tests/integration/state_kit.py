"""Scratch projects for the remote-state and credentials tests: a copy of the repository's root
configuration (modules linked) with a spec of the test's own, driven through the real CLI."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from turnout.cli import main
from turnout.project import Project
from turnout.spec.loader import load_spec
from turnout.targets import build_engine

REPO = Path(__file__).resolve().parents[2]
# The backstop for a module's sandbox (runtime, producer, APIs get SIGTERM after it) if the test
# process dies before its teardown stops them by PID: as long as the whole CI run may take, since
# a module sandbox lives for most of a slow run (a 300-s bound killed the APIs mid-module).
SANDBOX_LIFETIME_SECONDS = 5400
EXAMPLE = yaml.safe_load((REPO / "terraform" / "migration.yaml").read_text())


def scratch_project(root: Path, change: Callable[[dict], object] | None = None) -> Path:
    """A project at `root` (terraform/ copied, modules/ linked); returns its spec path."""
    terraform = root / "terraform"
    shutil.copytree(
        REPO / "terraform",
        terraform,
        ignore=shutil.ignore_patterns(".terraform", "*.tfvars.json", "backend_override.tf"),
    )
    (root / "modules").symlink_to(REPO / "modules", target_is_directory=True)
    document = copy.deepcopy(EXAMPLE)
    if change is not None:
        change(document)
    spec = terraform / "migration.yaml"
    spec.write_text(yaml.safe_dump(document, sort_keys=False))
    return spec


def sandbox_project(root: Path, change: Callable[[dict], object]) -> Path:
    """`scratch_project` with hooks/ linked too, for a sandbox the CLI drives (it finds the
    project from the spec's path, and the cutover runs the project's hooks)."""
    spec = scratch_project(root, change)
    (root / "hooks").symlink_to(REPO / "hooks", target_is_directory=True)
    return spec


def profile_acting_in(account: str, name: str, emulator, tmp_path: Path, monkeypatch) -> None:
    """An AWS config whose profile `name` assumes a role of `account` on the emulator (a profile
    of the wrong account, when a spec names it for another environment)."""
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile base]\naws_access_key_id = test\naws_secret_access_key = test\n\n"
        f"[profile {name}]\nrole_arn = arn:aws:iam::{account}:role/deployer\n"
        "source_profile = base\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", emulator.endpoint_url)


def run_cli(args: list[str], work: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    """`turnout ARGS` with its work dir at `work`: exit code, stdout, stderr (one paragraph)."""
    monkeypatch.setenv("TURNOUT_WORK_DIR", str(work))
    code = main(args)
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, " ".join(captured.err.split())


def bootstrap(spec: Path, url: str, work: Path, monkeypatch, capsys) -> None:
    """`turnout state bootstrap` of `spec` on the emulator at `url`, which must succeed."""
    code, _, error = run_cli(
        ["state", "bootstrap", "--spec", str(spec), "--endpoint-url", url],
        work,
        monkeypatch,
        capsys,
    )
    assert code == 0, error


def tfstate_files_with_resources(directory: Path) -> list[Path]:
    """Files under `directory` that hold Terraform state (a `resources` list), not merely the
    backend configuration Terraform keeps in its data dir (.terraform/terraform.tfstate)."""
    found = []
    for path in directory.rglob("*.tfstate*"):
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and "resources" in document:
            found.append(path)
    return found


def engine_without_plan_after_apply(project: Project):
    """The sandbox's cutover engine with `cutover.plan_after_apply: false`: for the clean run up
    to the transition a test is about, through postures another test proves converge (their
    applies plan again and show no changes: the rollback path of test_cutover_sandbox.py, the
    commit of test_read_across_sandbox.py). One plan per environment per apply less."""
    spec = load_spec(project.spec_path)
    rehearsal = spec.model_copy(
        update={"cutover": spec.cutover.model_copy(update={"plan_after_apply": False})}
    )
    return build_engine(project, sandbox=True, progress=print, spec=rehearsal)
