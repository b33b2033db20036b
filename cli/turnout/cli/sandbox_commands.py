"""`turnout sandbox ...`: the local emulator with both environments, the sample pipeline and
its traffic. Needs the `sandbox` extra; without it every command says how to install it."""

from __future__ import annotations

from typing import Annotated

import typer

from turnout.cli.app import app
from turnout.cli.options import JsonOption, SpecOption, print_json, progress
from turnout.inventory import inventory_text
from turnout.project import Project


def _sandbox_extra() -> None:
    from turnout.sandbox import require_sandbox_extra

    require_sandbox_extra()


def _sandbox(spec_path, profile: str | None = None):
    """The project's sandbox, once its dependencies are known to be installed."""
    _sandbox_extra()
    from turnout.sandbox.box import Sandbox
    from turnout.sandbox.emulator.profile import named_profile

    return Sandbox(Project.locate(spec_path), profile=named_profile(profile))


sandbox_app = typer.Typer(
    help="The sandbox: the local AWS emulator with both environments applied by real Terraform.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")


ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile",
        help="Fidelity of the emulator and the Lambda runtime: aws (like AWS where data can be "
        "lost: shard limits, latency, retention, mapping semantics; the default) or fast (moto "
        "as it is). Default: $TURNOUT_SANDBOX_PROFILE, else aws. A running sandbox keeps its own.",
    ),
]

RateOption = Annotated[
    float,
    typer.Option("--rate", min=0, help="Events per second the producer writes (0: no traffic)."),
]


@sandbox_app.command("up")
def sandbox_up(
    rate: RateOption = 200.0,
    lifetime: Annotated[
        float | None,
        typer.Option(
            "--lifetime",
            min=1,
            help="Stop the producer and the Lambda runtime after this many seconds.",
        ),
    ] = None,
    spec: SpecOption = None,
    as_json: JsonOption = False,
    profile: ProfileOption = None,
) -> None:
    """Start the emulator, apply both environments, create the sample pipeline, and start the
    Lambda runtime and the producer (each only if not already there).

    Example: turnout sandbox up --profile fast

    Example: turnout sandbox up --rate 200
    """
    status = _sandbox(spec, profile).up(
        progress=progress(as_json), rate=rate, lifetime_seconds=lifetime
    )
    print_status(status, as_json)


traffic_app = typer.Typer(help="The sandbox's synthetic producer.", no_args_is_help=True)
sandbox_app.add_typer(traffic_app, name="traffic")


@traffic_app.command("start")
def sandbox_traffic_start(rate: RateOption = 200.0, spec: SpecOption = None) -> None:
    """Start the producer (it follows the route parameter).

    Example: turnout sandbox traffic start --rate 100
    """
    _sandbox(spec).start_traffic(rate, progress=progress(False))


@traffic_app.command("stop")
def sandbox_traffic_stop(spec: SpecOption = None) -> None:
    """Stop the producer by PID (it sends what is pending first).

    Example: turnout sandbox traffic stop
    """
    _sandbox(spec).stop_traffic(progress=progress(False))


@sandbox_app.command("report")
def sandbox_report(
    wait: Annotated[
        float,
        typer.Option("--wait", min=0, help="Seconds to wait for the consumers to catch up."),
    ] = 0.0,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Produced, processed, lost, duplicated and reordered events per environment; exit 1 if
    anything was lost.

    Example: turnout sandbox report --wait 30
    """
    from turnout.sandbox.pipeline.report import format_report

    report = _sandbox(spec).wait_for_report(timeout=wait, progress=progress(wait == 0))
    if as_json:
        print_json(report)
    else:
        typer.echo(format_report(report))
    if not report["nothing_lost"]:
        raise typer.Exit(1)


@sandbox_app.command("status")
def sandbox_status(spec: SpecOption = None, as_json: JsonOption = False) -> None:
    """Show what runs in the sandbox.

    Example: turnout sandbox status --json
    """
    print_status(_sandbox(spec).status(), as_json)


@sandbox_app.command("down")
def sandbox_down(spec: SpecOption = None) -> None:
    """Stop everything the sandbox started (by PID) and forget its state.

    Example: turnout sandbox down
    """
    _sandbox(spec).down(progress=progress(False))


@sandbox_app.command("demo")
def sandbox_demo(
    rollback_path: Annotated[
        bool, typer.Option("--rollback", help="Go to new-live, then roll back (instead of commit).")
    ] = False,
    rate: Annotated[float, typer.Option("--rate", help="Producer events per second.")] = 200.0,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the sandbox running afterwards.")
    ] = False,
    spec: SpecOption = None,
    as_json: JsonOption = False,
    profile: ProfileOption = None,
) -> None:
    """The whole migration on the sandbox with live traffic, then the loss/order report.

    Sandbox up, cutover to new-live, commit (or --rollback), stop the producers, report.
    Exits 1 if any event was lost.

    Example: turnout sandbox demo --rollback
    """
    _sandbox_extra()
    from turnout.sandbox.demo import demo_text, run_demo
    from turnout.sandbox.emulator.profile import named_profile

    result = run_demo(
        Project.locate(spec),
        rollback=rollback_path,
        rate=rate,
        progress=progress(False),
        keep=keep,
        profile=named_profile(profile),
    )
    if as_json:
        print_json(result.as_dict())
    else:
        typer.echo(demo_text(result))
    if not result.nothing_lost:
        raise typer.Exit(1)


def print_status(status: dict, as_json: bool) -> None:
    if as_json:
        print_json(status)
        return
    if not status.get("running"):
        typer.echo("the sandbox is not running; start it with `turnout sandbox up`.")
        return
    typer.echo(f"sandbox: emulator at {status['endpoint_url']} (pid {status['pid']})")
    for inventory in status["environments"].values():
        typer.echo(inventory_text(inventory))
    processes = status.get("processes", {})
    traffic = status.get("traffic")
    for name in ("runtime", "producer"):
        process = processes.get(name, {})
        state = f"running (pid {process['pid']})" if process.get("alive") else "not running"
        typer.echo(f"{name}: {state}")
    if traffic:
        produced = ", ".join(f"{env} {n:,}" for env, n in sorted(traffic["produced"].items()))
        processed = ", ".join(
            f"{env} {'?' if n is None else f'{n:,}'}" for env, n in traffic["processed"].items()
        )
        consumers = ", ".join(f"{env} {state}" for env, state in traffic["consumers"].items())
        typer.echo(
            f"traffic: route -> {traffic['route_environment'] or '?'}, "
            f"{traffic['rate_recent'] or 0:g} events/s; produced {produced or 'none'}; "
            f"processings {processed}; consumers {consumers}"
        )
