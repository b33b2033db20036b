"""Assemble a cutover engine from its parts: the spec, AWS access, Terraform and the hooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from turnout.deploy.posture import PostureApplier
from turnout.engine.hook_runner import HookRunner
from turnout.engine.runner import CutoverEngine, Progress
from turnout.project import Project
from turnout.spec.model import MigrationSpec


def assemble_engine(
    spec: MigrationSpec,
    aws: Any,
    terraform_project: Project,
    hooks_dir: Path,
    progress: Progress,
    endpoint_url: str | None = None,
    work_dir: Path | None = None,
) -> CutoverEngine:
    """An engine whose applies go to `terraform_project` (its terraform/ and its work dir's
    state) and whose hooks are the files in `hooks_dir`. The tfvars of each apply are kept under
    `work_dir/cutover` (default: the Terraform project's work dir)."""
    work_dir = work_dir or terraform_project.work_dir
    applier = PostureApplier(
        spec,
        terraform_project,
        vars_dir=work_dir / "cutover",
        endpoint_url=endpoint_url,
        drift_check=spec.cutover.plan_after_apply,
        aws=aws,
    )
    return CutoverEngine(spec, aws, applier, HookRunner(hooks_dir, work_dir), progress)
