"""The typer application every command module registers on."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="turnout",
    help=(
        "Move a live Kinesis pipeline to a new AWS environment while events keep arriving, "
        "with a rollback that loses nothing.\n\nExample: turnout render --check"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
