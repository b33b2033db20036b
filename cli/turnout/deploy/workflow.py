"""Render → plan → review → apply, for one environment at a time.

A plan is saved with a fingerprint of the inputs it was made from (the rendered tfvars and the
replicator zip). `apply` applies exactly that saved plan and refuses when the inputs changed since
the review, so what is applied is always what was reviewed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from turnout.aws.access import AwsAccess
from turnout.deploy.package import PACKAGE_RELATIVE_PATH, LambdaPackage, build_replicator_package
from turnout.deploy.plan_summary import (
    PlanSummary,
    check_allowed_addresses,
    plan_from_messages,
    refuse_destruction,
    summarise_plan,
)
from turnout.deploy.preflight import aws_for, prepare_terraform
from turnout.deploy.render import RenderedFile, render_environments, tfvars_path
from turnout.deploy.terraform import TerraformRunner
from turnout.errors import TerraformError
from turnout.project import Project
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec


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
    allow_destroy: Collection[str] = (),
    aws_endpoint_url: str | None = None,
    stream_output: bool = False,
    var_file: Path | None = None,
    package: LambdaPackage | None = None,
    aws: AwsAccess | None = None,
    spec: MigrationSpec | None = None,
    read_only: bool = False,
    expected_destroys: tuple[str, ...] = (),
) -> PlanResult:
    """Render, check (turnout.deploy.preflight), init and plan one environment to a saved plan;
    refuse a plan that destroys or replaces a protected resource `allow_destroy` does not name
    (destroys under the address prefixes `expected_destroys` are the posture's own).

    `package` is the replicator zip the caller built for its run (built here when None); `aws`
    and `spec` are the caller's (made here when None). A `read_only` plan takes no state lock
    and assumes no deploy role: it is for review and can never be applied."""
    check_allowed_addresses(allow_destroy)
    spec = spec or load_spec(project.spec_path)
    aws = aws or aws_for(spec, aws_endpoint_url, read_only)
    package = package or build_replicator_package()
    changed = False
    if var_file is None:
        changed = bool(write_rendered(render(project, package=package)))
        var_file = tfvars_path(project.terraform_dir, environment)
    settings = prepare_terraform(
        project, spec, environment, aws, stream_output, read_only, var_file
    )
    package.write(project.root)
    runner = TerraformRunner(settings, environment)
    runner.init()
    plan_path = runner.plan_path
    summary = _summary(runner, environment, runner.plan_messages([var_file]))
    summary.notes = list(runner.notes)
    try:
        refuse_destruction(summary, allow_destroy, expected_destroys)
    except TerraformError:
        plan_path.unlink(missing_ok=True)
        raise
    markdown_path = plan_path.with_suffix(".md")
    markdown_path.write_text(summary.markdown())
    inputs = inputs_fingerprint(project, var_file)
    _fingerprint_path(plan_path).write_text(
        json.dumps({"inputs": inputs, "var_file": str(var_file), "read_only": read_only}, indent=2)
    )
    return PlanResult(summary, plan_path, markdown_path, changed)


def apply(
    project: Project,
    environment: str,
    aws_endpoint_url: str | None = None,
    stream_output: bool = False,
    aws: AwsAccess | None = None,
    spec: MigrationSpec | None = None,
) -> list[str]:
    """Apply the saved, reviewed plan of one environment, once; returns the runner's notes."""
    plan_path = project.work_dir / "plans" / f"{environment}.tfplan"
    marker = _fingerprint_path(plan_path)
    if not plan_path.is_file() or not marker.is_file():
        raise TerraformError(
            f"no saved plan for the {environment} environment in {plan_path.parent}; run "
            f"`turnout plan --env {environment}` (or `make plan ENV={environment}`), review it, "
            f"then apply."
        )
    saved = json.loads(marker.read_text())
    if saved.get("read_only"):
        raise TerraformError(
            f"the saved {environment} plan was made with --read-only (for review: no state lock, "
            f"no deploy role), so it cannot be applied. Run `turnout plan --env {environment}` "
            f"with the deploy credentials, review it, then apply. Nothing was applied."
        )
    if saved["inputs"] != inputs_fingerprint(project, Path(saved["var_file"])):
        raise TerraformError(
            f"the inputs of the {environment} plan changed after it was made (the rendered tfvars "
            f"or the replicator code differ from what was reviewed); run `turnout plan --env "
            f"{environment}` again and review the new plan. Nothing was applied."
        )
    spec = spec or load_spec(project.spec_path)
    aws = aws or aws_for(spec, aws_endpoint_url)
    settings = prepare_terraform(project, spec, environment, aws, stream_output)
    runner = TerraformRunner(settings, environment)
    runner.init()
    runner.apply(plan_path)
    plan_path.unlink(missing_ok=True)
    marker.unlink(missing_ok=True)
    return runner.notes


def drift(
    project: Project,
    environment: str,
    var_file: Path,
    aws_endpoint_url: str | None = None,
    package: LambdaPackage | None = None,
    aws: AwsAccess | None = None,
    spec: MigrationSpec | None = None,
) -> PlanSummary | None:
    """Plan one environment again after an apply, against the same state and credentials: None
    when the plan changes nothing (the common case), else the plan's summary."""
    spec = spec or load_spec(project.spec_path)
    aws = aws or aws_for(spec, aws_endpoint_url)
    package = package or build_replicator_package()
    package.write(project.root)
    settings = prepare_terraform(project, spec, environment, aws)
    runner = TerraformRunner(settings, environment)
    runner.init()
    summary = _summary(runner, environment, runner.plan_messages([var_file]))
    return summary if summary.has_changes else None


def _summary(runner: TerraformRunner, environment: str, messages: list[dict]) -> PlanSummary:
    """The plan's summary from `plan -json`'s messages; when it destroys or replaces a
    protected resource, from `show -json` (the refusal describes it from its planned values)."""
    summary = summarise_plan(environment, plan_from_messages(messages))
    if summary.destructive:
        summary = summarise_plan(environment, runner.show_plan())
    return summary


def plan_and_apply(
    project: Project,
    environment: str,
    aws_endpoint_url: str | None = None,
    var_file: Path | None = None,
    package: LambdaPackage | None = None,
    aws: AwsAccess | None = None,
    spec: MigrationSpec | None = None,
    expected_destroys: tuple[str, ...] = (),
) -> PlanSummary:
    """For automation that has already reviewed its inputs (the sandbox, the cutover engine).
    It allows no destruction beyond the posture's own (`expected_destroys`, address prefixes of
    plain destroys): any other destroy or replacement of a protected resource is refused."""
    spec = spec or load_spec(project.spec_path)
    aws = aws or aws_for(spec, aws_endpoint_url)
    result = plan(
        project,
        environment,
        (),
        aws_endpoint_url,
        var_file=var_file,
        package=package,
        aws=aws,
        spec=spec,
        expected_destroys=expected_destroys,
    )
    if result.summary.has_changes:
        result.summary.notes += apply(project, environment, aws_endpoint_url, aws=aws, spec=spec)
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
