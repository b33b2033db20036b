"""`turnout preflight`: the checks that refuse a migration that would lose data (read-only)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from turnout.cli.app import app
from turnout.cli.options import EndpointOption, JsonOption, SandboxOption, SpecOption, print_json
from turnout.preflight.runner import ENVIRONMENT_CHOICES, run_preflight
from turnout.project import Project
from turnout.spec.loader import load_spec
from turnout.targets import aws_access, resolve_target


class PreflightEnv(StrEnum):
    old = "old"
    new = "new"
    both = "both"


@app.command()
def preflight(
    env: Annotated[
        PreflightEnv | None,
        typer.Option(
            "--env",
            help="Also read this environment (or both): its Lambda consumers' event source "
            "mappings. Without it, only the checks that need the spec run.",
            show_default=False,
        ),
    ] = None,
    sandbox: SandboxOption = False,
    endpoint_url: EndpointOption = None,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Would this migration lose records on AWS? One row per check (starting-positions,
    replicator-retries, consumer-retries, retention-window, retention-clock, direction-flag-rate,
    account-identity, lambda-concurrency): its verdict
    (pass, warn, fail, unknown), the fact measured, and what to change (docs/preflight.md).
    Read-only.

    Exit codes: 0 every check pass or warn, 1 a check failed, 3 something could not be read
    (and nothing failed), 2 bad input.

    Example: turnout preflight --env new --json
    """
    project = Project.locate(spec)
    migration = load_spec(project.spec_path)
    environments = ENVIRONMENT_CHOICES[env.value] if env else ()
    aws = aws_access(resolve_target(project, sandbox, endpoint_url), migration) if env else None
    report = run_preflight(migration, environments, aws)
    if as_json:
        print_json(report.to_dict())
    else:
        typer.echo(report.text())
    raise typer.Exit(report.exit_code)
