"""`turnout state ...`: where Terraform keeps each environment's state (docs/state.md).

bootstrap creates the S3 bucket, migrate moves local state into it, unlock removes the lock of a
run that died.
"""

from __future__ import annotations

from typing import Annotated

import typer

from turnout.cli.app import app
from turnout.cli.options import EndpointOption, EnvName, JsonOption, SpecOption, print_json
from turnout.deploy.preflight import aws_for
from turnout.deploy.state_bootstrap import bootstrap_state_bucket
from turnout.deploy.state_migrate import migrate_state
from turnout.deploy.state_unlock import unlock_state
from turnout.project import Project
from turnout.spec.loader import load_spec

state_app = typer.Typer(
    help="The Terraform state: create its S3 bucket, move local state into it, remove a dead lock.",
    no_args_is_help=True,
)
app.add_typer(state_app, name="state")


def _say(as_json: bool):
    return (lambda message: typer.echo(message, err=True)) if as_json else typer.echo


@state_app.command("bootstrap")
def state_bootstrap(
    endpoint_url: EndpointOption = None, spec: SpecOption = None, as_json: JsonOption = False
) -> None:
    """Create the state bucket the spec names (state.bucket, state.region): versioned,
    encrypted, public access blocked, TLS only. Idempotent.

    Example: turnout state bootstrap
    """
    loaded = load_spec(Project.locate(spec).spec_path)
    result = bootstrap_state_bucket(loaded, aws_for(loaded, endpoint_url), _say(as_json))
    if as_json:
        print_json(result.as_dict())


@state_app.command("migrate")
def state_migrate(
    env: Annotated[
        EnvName | None,
        typer.Option("--env", help="Only this environment (default: both)."),
    ] = None,
    endpoint_url: EndpointOption = None,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move local state (.work/state/<env>.tfstate) into the state bucket; refused when the
    bucket already holds a different state.

    Example: turnout state migrate --env old
    """
    project = Project.locate(spec)
    loaded = load_spec(project.spec_path)
    aws = aws_for(loaded, endpoint_url)
    environments = [env.value] if env else ["old", "new"]
    outcomes = [migrate_state(project, loaded, name, aws, _say(as_json)) for name in environments]
    if as_json:
        print_json({"environments": [outcome.as_dict() for outcome in outcomes]})
        return
    for outcome in outcomes:
        if outcome.result == "nothing-to-migrate":
            typer.echo(f"[{outcome.environment}] no local state to migrate ({outcome.remote}).")


@state_app.command("unlock")
def state_unlock(
    lock_id: Annotated[str, typer.Argument(help="The lock id the refusal named.")],
    env: Annotated[EnvName, typer.Option("--env", help="Whose state lock.")],
    endpoint_url: EndpointOption = None,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove the state lock of a Terraform run that died (only if it is still that lock).

    Example: turnout state unlock --env old 6f1c0c3e-58a4-2c1b-9d2e-7a0b5c9d1e2f
    """
    project = Project.locate(spec)
    loaded = load_spec(project.spec_path)
    removed = unlock_state(project, loaded, env.value, aws_for(loaded, endpoint_url), lock_id)
    if as_json:
        print_json({"environment": env.value, "removed": removed})
        return
    typer.echo(
        f"removed the {env.value} environment's state lock {lock_id} (held by "
        f"{removed.get('Who', 'unknown')} since {removed.get('Created', 'unknown')})."
    )
