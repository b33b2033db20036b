"""`turnout discards ...`: the Lambda consumers' on-failure queues, and acknowledging what was
re-driven from them (docs/drain.md, "Discarded records")."""

from __future__ import annotations

from typing import Annotated

import typer

from turnout.cli.app import app
from turnout.cli.options import EnvName, JsonOption, SandboxOption, SpecOption, print_json, progress
from turnout.drain.acknowledge import acknowledge, standings
from turnout.engine.state import new_run_id, operator_identity
from turnout.project import Project
from turnout.targets import build_engine

discards_app = typer.Typer(
    help="The consumers' on-failure queues: what they received since their baseline, and "
    "acknowledging discards that were re-driven.",
    no_args_is_help=True,
)
app.add_typer(discards_app, name="discards")


@discards_app.command("list")
def discards_list(
    env: Annotated[
        EnvName | None, typer.Option("--env", help="Only this environment (default: both).")
    ] = None,
    sandbox: SandboxOption = False,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Each Lambda consumer's SQS on-failure queue: its baseline, its messages now and how many
    are new (each one batch the mapping gave up on). Reads only.

    Example: turnout discards list --env old
    """
    engine = build_engine(Project.locate(spec), sandbox, progress(True))
    environments = [env.value] if env else ["old", "new"]
    found = standings(engine.spec, engine.aws, environments)
    if as_json:
        print_json({"queues": [standing.as_dict() for standing in found]})
        return
    if not found:
        typer.echo("no Lambda consumer's mapping sends discarded batches to an SQS queue.")
    for standing in found:
        typer.echo(standing.line())


@discards_app.command("acknowledge")
def discards_acknowledge(
    env: Annotated[EnvName, typer.Option("--env", help="The consumers' environment.")],
    queue: Annotated[
        str, typer.Option("--queue", help="The on-failure queue's ARN (as `discards list` shows).")
    ],
    reason: Annotated[
        str, typer.Option("--reason", help="How the discarded batches were re-driven (journaled).")
    ] = "",
    sandbox: SandboxOption = False,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """After re-driving the batches a queue's messages describe, move its baseline to its message
    count now: drains and verifies then count only later discards. Journaled with your reason;
    the queue itself is not touched.

    Example: turnout discards acknowledge --env old --queue
    arn:aws:sqs:eu-west-1:111111111111:clicks-failures --reason "re-processed 3 batches, INC-42"
    """
    if not reason.strip():
        raise typer.BadParameter(
            "acknowledging discards needs a --reason: say how the batches were re-driven "
            '(e.g. --reason "re-processed the 3 batches from the stream, INC-42"). Nothing was '
            "changed.",
            param_hint="--reason",
        )
    engine = build_engine(Project.locate(spec), sandbox, progress(True))
    who = operator_identity()
    moved = acknowledge(engine.spec, engine.aws, env.value, queue, reason, who, engine.clock)
    engine.store.journal(new_run_id(), "discards", "acknowledged", **moved)
    if as_json:
        print_json(moved)
        return
    typer.echo(
        f"[{env.value}] {queue}: baseline moved from {moved['previous']['messages']} message(s) "
        f"({moved['previous']['at']}) to {moved['now']['messages']} ({moved['now']['at']}); "
        f"{moved['acknowledged_messages']} acknowledged as re-driven. Journaled."
    )
