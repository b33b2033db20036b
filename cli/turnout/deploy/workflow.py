"""Render → plan → review → apply, for one environment at a time.

A plan is saved with a fingerprint of the inputs it was made from (the rendered tfvars and the
replicator zip). `apply` applies exactly that saved plan and refuses when the inputs changed since
the review, so what is applied is always what was reviewed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from turnout.deploy.package import PACKAGE_RELATIVE_PATH, LambdaPackage, build_replicator_package
from turnout.deploy.plan_summary import PlanSummary, refuse_destruction, summarise_plan
from turnout.deploy.render import RenderedFile, render_environments, tfvars_path
from turnout.deploy.terraform import TerraformRunner, terraform_settings
from turnout.errors import TerraformError
from turnout.project import Project
from turnout.spec.loader import load_spec


@dataclass
class PlanResult:
    summary: PlanSummary
    plan_path: Path
    markdown_path: Path
    rendered_changed: bool


def render(
    project: Project,
    phase: str | None = None,
    output_dir: Path | None = None,
    package: LambdaPackage | None = None,
) -> list[RenderedFile]:
    spec = load_spec(project.spec_path)
    return render_environments(
        spec, project.terraform_dir, phase=phase, output_dir=output_dir, package=package
    )


def write_rendered(files: list[RenderedFile]) -> list[RenderedFile]:
    """Write the stale files; return the ones that changed."""
    changed = [rendered for rendered in files if rendered.is_stale()]
    for rendered in changed:
        rendered.path.parent.mkdir(parents=True, exist_ok=True)
        rendered.write()
    return changed


def plan(
    project: Project,
    environment: str,
    allow_destroy: bool = False,
    aws_endpoint_url: str | None = None,
    stream_output: bool = False,
    var_file: Path | None = None,
    package: LambdaPackage | None = None,
    expected_destroys: tuple[str, ...] = (),
) -> PlanResult:
    """Render, init and plan one environment to a saved plan; refuse destruction of data
    (except under the address prefixes `expected_destroys`).

    `package` is the replicator zip the caller built for its run (built here when None)."""
    package = package or build_replicator_package()
    changed = False
    if var_file is None:
        changed = bool(write_rendered(render(project, package=package)))
        var_file = tfvars_path(project.terraform_dir, environment)
    package.write(project.root)
    runner = TerraformRunner(
        terraform_settings(project, aws_endpoint_url, stream_output), environment
    )
    runner.init()
    plan_path = runner.plan([var_file])
    summary = summarise_plan(environment, runner.show_plan(plan_path))
    try:
        refuse_destruction(summary, allow_destroy, expected_destroys)
    except TerraformError:
        plan_path.unlink(missing_ok=True)
        raise
    markdown_path = plan_path.with_suffix(".md")
    markdown_path.write_text(summary.markdown())
    _fingerprint_path(plan_path).write_text(
        json.dumps(
            {"inputs": inputs_fingerprint(project, var_file), "var_file": str(var_file)}, indent=2
        )
    )
    return PlanResult(summary, plan_path, markdown_path, changed)


def apply(
    project: Project,
    environment: str,
    aws_endpoint_url: str | None = None,
    stream_output: bool = False,
) -> None:
    """Apply the saved, reviewed plan of one environment, once."""
    runner = TerraformRunner(
        terraform_settings(project, aws_endpoint_url, stream_output), environment
    )
    plan_path = runner.plan_path
    marker = _fingerprint_path(plan_path)
    if not plan_path.is_file() or not marker.is_file():
        raise TerraformError(
            f"no saved plan for the {environment} environment in {plan_path.parent}; run "
            f"`turnout plan --env {environment}` (or `make plan ENV={environment}`), review it, "
            f"then apply."
        )
    saved = json.loads(marker.read_text())
    if saved["inputs"] != inputs_fingerprint(project, Path(saved["var_file"])):
        raise TerraformError(
            f"the inputs of the {environment} plan changed after it was made (the rendered tfvars "
            f"or the replicator code differ from what was reviewed); run `turnout plan --env "
            f"{environment}` again and review the new plan. Nothing was applied."
        )
    runner.init()
    runner.apply(plan_path)
    plan_path.unlink(missing_ok=True)
    marker.unlink(missing_ok=True)


def plan_and_apply(
    project: Project,
    environment: str,
    aws_endpoint_url: str | None = None,
    var_file: Path | None = None,
    allow_destroy: bool = False,
    package: LambdaPackage | None = None,
    expected_destroys: tuple[str, ...] = (),
) -> PlanSummary:
    """For automation that has already reviewed its inputs (the sandbox, the cutover engine)."""
    result = plan(
        project,
        environment,
        allow_destroy,
        aws_endpoint_url,
        var_file=var_file,
        package=package,
        expected_destroys=expected_destroys,
    )
    if result.summary.has_changes:
        apply(project, environment, aws_endpoint_url)
    return result.summary


def inputs_fingerprint(project: Project, var_file: Path) -> dict:
    """What a saved plan was made from: the tfvars and the replicator zip on disk."""
    zip_path = project.root / PACKAGE_RELATIVE_PATH
    return {
        "tfvars_sha256": _sha256(var_file),
        "package_sha256": _sha256(zip_path),
    }


def _fingerprint_path(plan_path: Path) -> Path:
    return plan_path.with_suffix(".inputs.json")


def _sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
