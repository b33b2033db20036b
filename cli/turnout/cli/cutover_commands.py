"""Commands that move the live phase and show where it stands: cutover, rollback, status,
unlock."""

from __future__ import annotations

from typing import Annotated

import typer

from turnout.cli.app import app
from turnout.cli.options import (
    AcceptOption,
    DryRunOption,
    JsonOption,
    ReasonOption,
    SandboxOption,
    SpecOption,
    YesOption,
    print_json,
    progress,
)
from turnout.engine.decommission import decommission_plan, decommission_text
from turnout.engine.state import new_run_id
from turnout.engine.status import gather_status, status_text
from turnout.errors import TurnoutError
from turnout.preflight.gate import parse_acceptances
from turnout.project import Project
from turnout.spec.loader import load_spec
from turnout.spec.phases import PHASES
from turnout.targets import build_engine


@app.command()
def cutover(
    to: Annotated[
        str | None,
        typer.Option("--to", help="Go only as far as this phase (default: the spec's phase)."),
    ] = None,
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    accept: AcceptOption = None,
    reason: ReasonOption = None,
    sandbox: SandboxOption = False,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Drive the live phase to the spec's desired phase, one verified step at a time. Before
    each transition its preflight checks run: a fail refuses it, a warning or unknown too unless
    accepted with --accept CHECK --reason "..." (journaled).

    Example: turnout cutover --dry-run
    (accepting a warning: turnout cutover --accept consumer-retries --reason "its DLQ is
    replayed by the on-call runbook")
    """
    chosen = _phase_option(to) if to else None
    accepted = parse_acceptances(accept or [], reason or [])
    project = Project.locate(spec)
    engine = build_engine(project, sandbox, progress(as_json))
    desired = chosen or engine.spec.phase
    _drive(engine, desired, dry_run, yes, as_json, accepted=accepted)


@app.command()
def rollback(
    dry_run: DryRunOption = False,
    yes: YesOption = False,
    accept: AcceptOption = None,
    reason: ReasonOption = None,
    sandbox: SandboxOption = False,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Roll back to the old environment from switched, mirrored or new-live, losing nothing.
    The replication checks of the preflight run first (--accept/--reason as for cutover).

    Example: turnout rollback --yes
    """
    accepted = parse_acceptances(accept or [], reason or [])
    project = Project.locate(spec)
    engine = build_engine(project, sandbox, progress(as_json))
    _drive(engine, "rolled-back", dry_run, yes, as_json, accepted=accepted)


@app.command()
def decommission(
    allow_destroy: Annotated[
        bool,
        typer.Option(
            "--allow-destroy",
            help="Allow the last step: delete the old streams (after their retention has passed "
            "since the commit and nothing was written to them since).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the decommission plan; change nothing.")
    ] = False,
    yes: YesOption = False,
    sandbox: SandboxOption = False,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """After the commit: remove the old consumers' mappings, the replicators and their roles,
    and (with --allow-destroy, once their retention has passed) the old streams.

    Needs `phase: decommissioned` in the spec (the reviewed change); --dry-run shows the plan
    (what goes, what stays, each Terraform plan) at any time.

    Example: turnout decommission --dry-run
    """
    project = Project.locate(spec)
    phase = load_spec(project.spec_path).phase  # offline: refused before any AWS call
    if not dry_run and phase != "decommissioned":
        raise TurnoutError(
            f"the spec's phase is '{phase}'; decommissioning is a reviewed change: set "
            f"phase: decommissioned in {project.spec_path}, render and review it, then run "
            f"`turnout decommission` again (`--dry-run` shows what would go). Nothing was changed."
        )
    engine = build_engine(project, sandbox, progress(as_json))
    if dry_run:
        plan = decommission_plan(engine)
        if as_json:
            print_json({"dry_run": True, **plan})
        else:
            typer.echo(decommission_text(plan))
            typer.echo("dry run: nothing was changed.")
        return
    _drive(engine, "decommissioned", False, yes, as_json, allow_destroy)


def _phase_option(value: str) -> str:
    if value not in PHASES:
        raise typer.BadParameter(
            f"unknown phase {value!r}; valid: {', '.join(PHASES)}", param_hint="--to"
        )
    return value


def _drive(
    engine,
    desired: str,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    allow_destroy: bool = False,
    accepted: dict[str, str] | None = None,
) -> None:
    engine.accepted = dict(accepted or {})  # shown by the dry run's gate lines
    plan = engine.describe(desired)
    if dry_run:
        if as_json:
            print_json({"dry_run": True, "steps": plan})
            return
        typer.echo("\n".join(plan))
        for summary in engine.plan_summaries(desired):
            typer.echo(summary)
        typer.echo("dry run: nothing was changed.")
        return
    if not as_json:
        typer.echo("\n".join(plan))
    if plan[-1] == "nothing to do.":
        if as_json:
            print_json({"start_phase": desired, "end_phase": desired, "steps": []})
        return
    if not yes and not typer.confirm("Run these steps now?", default=False):
        raise typer.Abort()
    report = engine.run(desired, allow_destroy=allow_destroy, accepted=accepted)
    if as_json:
        print_json(report.as_dict())
        return
    typer.echo(f"done: {report.start_phase} -> {report.end_phase} (run {report.run_id})")
    for name, seconds in report.phase_seconds.items():
        typer.echo(f"  {name}: {seconds} s")
    typer.echo("draw it: turnout report (with --sandbox on the sandbox) writes HTML and a PNG.")


@app.command()
def status(
    sandbox: SandboxOption = False,
    spec: SpecOption = None,
    as_json: JsonOption = False,
    journal: Annotated[
        int, typer.Option("--journal", help="How many journal entries to show.")
    ] = 10,
) -> None:
    """Live and desired phase, lock holder, route, replication, consumers, last journal entries.

    Example: turnout status --sandbox --json
    """
    project = Project.locate(spec)
    engine = build_engine(project, sandbox, progress(True))
    document = gather_status(engine, journal)
    if as_json:
        print_json(document)
    else:
        typer.echo(status_text(document))


@app.command()
def unlock(
    force: Annotated[
        bool, typer.Option("--force", help="Required: remove the lock whoever holds it.")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why (journaled).")] = "",
    sandbox: SandboxOption = False,
    spec: SpecOption = None,
) -> None:
    """Remove a stale cutover lock (for a run that died). Journaled with your reason.

    Example: turnout unlock --force --reason "run on host ci-7 was killed"
    """
    if not force or not reason.strip():
        raise typer.BadParameter(
            "unlocking needs both --force and a --reason", param_hint="--force/--reason"
        )
    project = Project.locate(spec)
    engine = build_engine(project, sandbox, progress(True))
    holder = engine.lock.force_release()
    engine.store.journal(
        new_run_id(),
        "lock",
        "force-released",
        reason=reason,
        previous_holder=vars(holder) if holder else None,
    )
    typer.echo(
        f"lock removed (was held by: {holder.owner if holder else 'nobody'}); reason journaled."
    )
