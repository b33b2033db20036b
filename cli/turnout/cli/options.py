"""Options shared by several commands, and the two ways a command prints."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class EnvName(StrEnum):
    old = "old"
    new = "new"


SpecOption = Annotated[
    Path | None,
    typer.Option(
        "--spec", help="The migration spec (default: terraform/migration.yaml).", show_default=False
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
EndpointOption = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        envvar="TURNOUT_AWS_ENDPOINT_URL",
        help="Send every AWS call to this endpoint (the local emulator), e.g. http://127.0.0.1:5000.",
    ),
]
SandboxOption = Annotated[
    bool,
    typer.Option("--sandbox", help="Act on the running sandbox (local emulator) instead of AWS."),
]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print every step; change nothing.")]
AcceptOption = Annotated[
    list[str] | None,
    typer.Option(
        "--accept",
        metavar="CHECK",
        help=(
            "Accept a preflight check's warning or unknown for this run (never a fail); needs "
            "--reason. Repeat for several (docs/preflight.md)."
        ),
    ),
]
ReasonOption = Annotated[
    list[str] | None,
    typer.Option(
        "--reason",
        metavar="TEXT",
        help="Why the accepted check is safe to pass (journaled); one per --accept, or one for all.",
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
PeekDiscardsOption = Annotated[
    bool,
    typer.Option(
        "--peek-discards",
        help="Read the Lambda consumers' on-failure queues' messages for exact counts of "
        "discarded records of their streams (ReceiveMessage: hides each message for 30 s and "
        "raises its receive count). Default: compare the queue's message count with its "
        "baseline, receiving nothing.",
    ),
]


def progress(quiet: bool) -> Callable[[str], None]:
    """Progress lines go to stderr, so stdout stays machine-readable; none when quiet."""

    def report(message: str) -> None:
        if not quiet:
            typer.echo(message, err=True)

    return report


def print_json(document: dict) -> None:
    typer.echo(json.dumps(document, indent=2, sort_keys=True))
