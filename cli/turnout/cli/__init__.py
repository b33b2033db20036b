"""The `turnout` command line. It stays thin: parse, call one function, print the result.

Commands live in one module per concern (`deploy_commands`, `state_commands`, `cutover_commands`,
`inspect_commands`, `sandbox_commands`, `preflight_commands`, `discards_commands`), all registered on `turnout.cli.app.app`.
"""

from __future__ import annotations

import importlib
import sys

import typer
from botocore.exceptions import BotoCoreError, ClientError

from turnout import __version__
from turnout.cli.app import app
from turnout.errors import TurnoutError

# Imported in this order, so `turnout --help` lists the commands in the order they are used.
COMMAND_MODULES = (
    "deploy_commands",
    "state_commands",
    "preflight_commands",
    "cutover_commands",
    "discards_commands",
    "sandbox_commands",
    "inspect_commands",
)
for _module in COMMAND_MODULES:
    importlib.import_module(f"turnout.cli.{_module}")


@app.command()
def version() -> None:
    """Print turnout's version.

    Example: turnout version
    """
    typer.echo(__version__)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; operator errors become one paragraph on stderr, never a traceback."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="turnout", standalone_mode=False)
    except TurnoutError as problem:
        typer.echo(f"error: {problem}", err=True)
        return problem.exit_code
    except _ABORTS:
        typer.echo("aborted.", err=True)
        return 130
    except _USAGE_ERRORS as problem:
        typer.echo(f"error: {_usage_paragraph(problem)}", err=True)
        return problem.exit_code
    except _EXITS as done:
        return done.exit_code
    except (BotoCoreError, ClientError) as problem:
        typer.echo(f"error: {_aws_failure_paragraph(problem)}", err=True)
        return 1
    return result if isinstance(result, int) else 0


def _aws_failure_paragraph(problem: Exception) -> str:
    """AWS unreachable or refusing mid-command (found by the chaos suite's proxy outages)."""
    detail = " ".join(str(problem).split())
    return (
        f"an AWS call failed ({type(problem).__name__}: {detail}). The command stopped there. "
        "A cutover writes its state after each completed step and journals each step before it "
        "starts, so nothing half-done is recorded as done and no record is dropped: run the same "
        "command again once AWS answers and it resumes (`turnout status` shows where it stands)."
    )


# typer >= 0.20 vendors its own copy of click (click itself need not be installed): take the
# exception classes from typer, whichever click it uses.
_ABORTS = (typer.Abort,)
_USAGE_ERRORS = (
    next(base for base in typer.BadParameter.__mro__ if base.__name__ == "ClickException"),
)
_EXITS = (typer.Exit,)


# Flags whose form changed: a usage error naming one says what it takes now.
_CHANGED_FLAGS = {
    "--allow-destroy": (
        "--allow-destroy now takes the address of each resource the plan may destroy or replace "
        "(as a refused plan lists it), e.g. --allow-destroy "
        "'module.stream[\"orders\"].aws_kinesis_stream.this'; repeat it for several."
    ),
}


def _usage_paragraph(problem: Exception) -> str:
    """A bad flag or argument as one line, naming the command whose --help explains it."""
    message = " ".join(problem.format_message().replace("Value error, ", "").split())
    if not message.endswith((".", "?", "!")):
        message += "."
    message += "".join(f" {hint}" for flag, hint in _CHANGED_FLAGS.items() if flag in message)
    context = getattr(problem, "ctx", None)
    command = context.command_path if context is not None else "turnout"
    return f"{message} See `{command} --help` for the valid options and an example."


def run() -> None:
    sys.exit(main())
