"""Commands that turn the spec into infrastructure: validate, render, plan, apply."""

from __future__ import annotations

from typing import Annotated

import typer

from turnout import deploy
from turnout.cli.app import app
from turnout.cli.options import EndpointOption, EnvName, JsonOption, SpecOption, print_json
from turnout.preflight.gate import refuse_failed_spec
from turnout.preflight.runner import run_preflight
from turnout.project import Project
from turnout.spec.loader import load_spec


@app.command()
def render(
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 1 and print the diff if stale.")
    ] = False,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Render terraform/<env>.tfvars.json from the spec.

    Example: turnout render --check
    """
    project = Project.locate(spec)
    files = deploy.render(project)
    stale = [rendered for rendered in files if rendered.is_stale()]
    if check:
        if as_json:
            print_json({"stale": [str(rendered.path) for rendered in stale]})
        for rendered in stale if not as_json else []:
            typer.echo(rendered.diff())
        if stale:
            names = ", ".join(str(rendered.path) for rendered in stale)
            typer.echo(f"stale: {names}; run `turnout render` and commit the result.", err=True)
            raise typer.Exit(1)
        if not as_json:
            typer.echo("rendered files are up to date.")
        return
    changed = deploy.write_rendered(files)
    if as_json:
        print_json({"written": [str(rendered.path) for rendered in changed]})
        return
    for rendered in files:
        state = "written" if rendered in changed else "unchanged"
        typer.echo(f"{rendered.path}: {state}")


@app.command()
def validate(spec: SpecOption = None) -> None:
    """Check the migration spec, run the preflight checks that need only the spec
    (docs/preflight.md) and print what it declares. Exit 1 when a preflight check fails.

    Example: turnout validate --spec terraform/migration.yaml
    """
    project = Project.locate(spec)
    loaded = load_spec(project.spec_path)
    report = run_preflight(loaded)
    failed = report.failed()
    streams = ", ".join(stream.name for stream in loaded.streams)
    if failed:
        typer.echo(
            f"{project.spec_path}: refused: the preflight check"
            f"{'s' if len(failed) > 1 else ''} {', '.join(check.name for check in failed)} "
            "failed: this spec would lose records on AWS (what to change is below)."
        )
    else:
        typer.echo(
            f"{project.spec_path}: valid. Migration '{loaded.migration}', desired phase "
            f"'{loaded.phase}', streams: {streams}."
        )
    typer.echo(report.text())
    if failed:
        raise typer.Exit(1)


@app.command()
def plan(
    env: Annotated[EnvName, typer.Option("--env", help="Which environment to plan.")],
    allow_destroy: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-destroy",
            metavar="ADDRESS",
            help=(
                "Accept that the plan destroys or replaces this resource (its address as a "
                "refused plan lists it); repeat for several. Without it, a plan that destroys or "
                "replaces a stream, table, event source mapping, KMS key, fan-out consumer or "
                "state bucket is refused."
            ),
        ),
    ] = None,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the summary as Markdown (for a PR comment).")
    ] = False,
    read_only: Annotated[
        bool,
        typer.Option(
            "--read-only",
            help=(
                "Plan for review with read-only credentials (a CI role): use the credentials at "
                "hand as they are (no deploy or state role is assumed; they must act in the "
                "environment's account) and take no state lock. Such a plan cannot be applied."
            ),
        ),
    ] = False,
    endpoint_url: EndpointOption = None,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run the spec's preflight checks, then render, init and plan one environment to a saved
    plan, and summarise it. A failed preflight check refuses the plan before Terraform runs.

    Example: turnout plan --env new
    (a plan that replaces a protected resource is refused; to accept one:
    turnout plan --env new --allow-destroy 'module.stream["orders"].aws_kinesis_stream.this')
    """
    project = Project.locate(spec)
    refuse_failed_spec(run_preflight(load_spec(project.spec_path)), "plan")
    result = deploy.plan(project, env.value, allow_destroy or (), endpoint_url, read_only=read_only)
    if as_json:
        print_json({**result.summary.as_dict(), "plan": str(result.plan_path)})
        return
    if result.rendered_changed:
        typer.echo("note: the rendered tfvars were stale and have been re-rendered; commit them.")
    typer.echo(result.summary.markdown() if markdown else result.summary.text())
    typer.echo(f"saved plan: {result.plan_path} (Markdown summary: {result.markdown_path})")
    if read_only:
        typer.echo("a --read-only plan is for review; it cannot be applied.")
    else:
        typer.echo(f"apply it with: turnout apply --env {env.value}")


@app.command()
def apply(
    env: Annotated[EnvName, typer.Option("--env", help="Which environment to apply.")],
    endpoint_url: EndpointOption = None,
    spec: SpecOption = None,
) -> None:
    """Apply exactly the saved, reviewed plan of one environment.

    Example: turnout apply --env new
    """
    project = Project.locate(spec)
    for note in deploy.apply(project, env.value, endpoint_url, stream_output=True):
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"applied the reviewed plan of the {env.value} environment.")
