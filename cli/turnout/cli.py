"""The `turnout` command line. It stays thin: parse, call one function, print the result."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import click
import typer
from botocore.exceptions import BotoCoreError, ClientError

from turnout import __version__, deploy
from turnout.errors import TurnoutError
from turnout.project import Project

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
            _print_json({"stale": [str(rendered.path) for rendered in stale]})
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
        _print_json({"written": [str(rendered.path) for rendered in changed]})
        return
    for rendered in files:
        state = "written" if rendered in changed else "unchanged"
        typer.echo(f"{rendered.path}: {state}")


@app.command()
def validate(spec: SpecOption = None) -> None:
    """Check the migration spec and print what it declares.

    Example: turnout validate --spec terraform/migration.yaml
    """
    from turnout.spec_loader import load_spec

    project = Project.locate(spec)
    loaded = load_spec(project.spec_path)
    streams = ", ".join(stream.name for stream in loaded.streams)
    typer.echo(
        f"{project.spec_path}: valid. Migration '{loaded.migration}', desired phase "
        f"'{loaded.phase}', streams: {streams}."
    )


@app.command()
def plan(
    env: Annotated[EnvName, typer.Option("--env", help="Which environment to plan.")],
    allow_destroy: Annotated[
        bool,
        typer.Option(
            "--allow-destroy", help="Accept a plan that destroys or replaces a stream or table."
        ),
    ] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the summary as Markdown (for a PR comment).")
    ] = False,
    endpoint_url: EndpointOption = None,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Render, init and plan one environment to a saved plan, and summarise it.

    Example: turnout plan --env new
    """
    project = Project.locate(spec)
    result = deploy.plan(project, env.value, allow_destroy, endpoint_url, stream_output=False)
    if as_json:
        _print_json({**result.summary.as_dict(), "plan": str(result.plan_path)})
        return
    if result.rendered_changed:
        typer.echo("note: the rendered tfvars were stale and have been re-rendered; commit them.")
    typer.echo(result.summary.markdown() if markdown else result.summary.text())
    typer.echo(f"saved plan: {result.plan_path} (Markdown summary: {result.markdown_path})")
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
    deploy.apply(project, env.value, endpoint_url, stream_output=True)
    typer.echo(f"applied the reviewed plan of the {env.value} environment.")


SandboxOption = Annotated[
    bool,
    typer.Option("--sandbox", help="Act on the running sandbox (local emulator) instead of AWS."),
]
PHASE_NAMES = ("baseline", "switched", "mirrored", "new-live", "committed", "rolled-back")


@app.command()
def cutover(
    to: Annotated[
        str | None,
        typer.Option("--to", help="Go only as far as this phase (default: the spec's phase)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print every step; change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    sandbox: SandboxOption = False,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Drive the live phase to the spec's desired phase, one verified step at a time.

    Example: turnout cutover --dry-run
    """
    from turnout.engine.factory import build_engine

    chosen = _phase_option(to) if to else None
    project = Project.locate(spec)
    engine = build_engine(project, sandbox, _progress(as_json))
    desired = chosen or engine.spec.phase
    _drive(engine, desired, dry_run, yes, as_json)


@app.command()
def rollback(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print every step; change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    sandbox: SandboxOption = False,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Roll back to the old environment from switched, mirrored or new-live, losing nothing.

    Example: turnout rollback --yes
    """
    from turnout.engine.factory import build_engine

    project = Project.locate(spec)
    engine = build_engine(project, sandbox, _progress(as_json))
    _drive(engine, "rolled-back", dry_run, yes, as_json)


def _phase_option(value: str) -> str:
    if value not in PHASE_NAMES:
        raise typer.BadParameter(
            f"unknown phase {value!r}; valid: {', '.join(PHASE_NAMES)}", param_hint="--to"
        )
    return value


def _drive(engine, desired: str, dry_run: bool, yes: bool, as_json: bool) -> None:
    plan = engine.describe(desired)
    if dry_run:
        if as_json:
            _print_json({"dry_run": True, "steps": plan})
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
            _print_json({"start_phase": desired, "end_phase": desired, "steps": []})
        return
    if not yes and not typer.confirm("Run these steps now?", default=False):
        raise typer.Abort()
    report = engine.run(desired)
    if as_json:
        _print_json(report.as_dict())
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
    from turnout.engine.factory import build_engine
    from turnout.status import gather_status, status_text

    project = Project.locate(spec)
    engine = build_engine(project, sandbox, _progress(True))
    document = gather_status(engine, journal)
    if as_json:
        _print_json(document)
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
    from turnout.engine.factory import build_engine
    from turnout.engine.state import new_run_id

    if not force or not reason.strip():
        raise typer.BadParameter(
            "unlocking needs both --force and a --reason", param_hint="--force/--reason"
        )
    project = Project.locate(spec)
    engine = build_engine(project, sandbox, _progress(True))
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


sandbox_app = typer.Typer(
    help="The sandbox: the local AWS emulator with both environments applied by real Terraform.",
    no_args_is_help=True,
)
app.add_typer(sandbox_app, name="sandbox")


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
) -> None:
    """Start the emulator, apply both environments, create the sample pipeline, and start the
    Lambda runtime and the producer (each only if not already there).

    Example: turnout sandbox up --rate 200
    """
    from turnout.sandbox import Sandbox

    status = Sandbox(Project.locate(spec)).up(
        progress=_progress(as_json), rate=rate, lifetime_seconds=lifetime
    )
    _print_status(status, as_json)


traffic_app = typer.Typer(help="The sandbox's synthetic producer.", no_args_is_help=True)
sandbox_app.add_typer(traffic_app, name="traffic")


@traffic_app.command("start")
def sandbox_traffic_start(rate: RateOption = 200.0, spec: SpecOption = None) -> None:
    """Start the producer (it follows the route parameter).

    Example: turnout sandbox traffic start --rate 100
    """
    from turnout.sandbox import Sandbox

    Sandbox(Project.locate(spec)).start_traffic(rate, progress=_progress(False))


@traffic_app.command("stop")
def sandbox_traffic_stop(spec: SpecOption = None) -> None:
    """Stop the producer by PID (it sends what is pending first).

    Example: turnout sandbox traffic stop
    """
    from turnout.sandbox import Sandbox

    Sandbox(Project.locate(spec)).stop_traffic(progress=_progress(False))


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
    from turnout.sandbox import Sandbox
    from turnout.sandbox_app.report import format_report

    report = Sandbox(Project.locate(spec)).wait_for_report(timeout=wait)
    if as_json:
        _print_json(report)
    else:
        typer.echo(format_report(report))
    if not report["nothing_lost"]:
        raise typer.Exit(1)


@sandbox_app.command("status")
def sandbox_status(spec: SpecOption = None, as_json: JsonOption = False) -> None:
    """Show what runs in the sandbox.

    Example: turnout sandbox status --json
    """
    from turnout.sandbox import Sandbox

    _print_status(Sandbox(Project.locate(spec)).status(), as_json)


@sandbox_app.command("down")
def sandbox_down(spec: SpecOption = None) -> None:
    """Stop everything the sandbox started (by PID) and forget its state.

    Example: turnout sandbox down
    """
    from turnout.sandbox import Sandbox

    Sandbox(Project.locate(spec)).down(progress=_progress(False))


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
) -> None:
    """The whole migration on the sandbox with live traffic, then the loss/order report.

    Sandbox up, cutover to new-live, commit (or --rollback), stop the producers, report.
    Exits 1 if any event was lost.

    Example: turnout sandbox demo --rollback
    """
    from turnout.demo import demo_text, run_demo

    result = run_demo(
        Project.locate(spec),
        rollback=rollback_path,
        rate=rate,
        progress=_progress(False),
        keep=keep,
    )
    if as_json:
        _print_json(result.as_dict())
    else:
        typer.echo(demo_text(result))
    if not result.nothing_lost:
        raise typer.Exit(1)


@app.command()
def verify(
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Read both sides from this time: ISO-8601 (UTC if no zone) or an age like 2h "
            "(default: the switch and the replication start recorded in the journal).",
            show_default=False,
        ),
    ] = None,
    grace_seconds: Annotated[
        float | None,
        typer.Option(
            "--grace-seconds",
            help="New records this young at the tip snapshot may lack a copy: 'not yet "
            "replicated', not missing (default: the spec's max_replication_lag_seconds).",
            show_default=False,
        ),
    ] = None,
    sample: Annotated[
        float,
        typer.Option("--sample", help="Verify this fraction of partition keys (by key hash)."),
    ] = 1.0,
    reads_per_second: Annotated[
        float,
        typer.Option(
            "--max-reads-per-shard-per-second",
            help="GetRecords calls per shard per second (a shard serves 5 for all its readers).",
        ),
    ] = 1.0,
    workers: Annotated[int, typer.Option("--workers", help="Shards read at the same time.")] = 8,
    efo: Annotated[
        bool,
        typer.Option("--efo", help="Read with enhanced fan-out (not available yet: polls)."),
    ] = False,
    allow_duplicates: Annotated[
        bool,
        typer.Option(
            "--allow-duplicates",
            help="Report duplicated records but pass (replication is at-least-once).",
        ),
    ] = False,
    sandbox: SandboxOption = False,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare what the new streams received with what replication put in the old streams,
    per shard and partition key: missing, extra, duplicated, reordered. Exit 0 when it passes,
    1 when it finds problems, 2 for operator errors.

    Example: turnout verify --sandbox --since 30m --json
    """
    from turnout.engine.factory import build_engine
    from turnout.verify import (
        VerifyOptions,
        check_options,
        parse_since,
        report_text,
        since_window,
        window_from_journal,
    )
    from turnout.verify import (
        verify as run_verify,
    )

    options = VerifyOptions(
        grace_seconds=0.0 if grace_seconds is None else grace_seconds,
        reads_per_second=reads_per_second,
        sample=sample,
        workers=workers,
        efo=efo,
        allow_duplicates=allow_duplicates,
    )
    check_options(options)
    since_epoch = None if since is None else parse_since(since)
    project = Project.locate(spec)
    engine = build_engine(project, sandbox, _progress(as_json))
    if grace_seconds is None:
        options.grace_seconds = float(engine.spec.cutover.max_replication_lag_seconds)
    window = window_from_journal(engine.store) if since_epoch is None else since_window(since_epoch)
    report = run_verify(engine.spec, engine.settings.aws, window, options, _progress(as_json))
    if as_json:
        _print_json(report.document)
    else:
        typer.echo(report_text(report.document))
    if not report.passed:
        raise typer.Exit(1)


@app.command()
def discover(
    env: Annotated[EnvName, typer.Option("--env", help="The environment being described.")],
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            envvar="AWS_REGION",
            help="The region to read (default: $AWS_REGION).",
            show_default=False,
        ),
    ] = None,
    streams: Annotated[
        str, typer.Option("--streams", help="Shell-style pattern of stream names, e.g. 'clicks*'.")
    ] = "*",
    account: Annotated[
        str | None,
        typer.Option("--account", help="Refuse unless the credentials act in this account id."),
    ] = None,
    migration: Annotated[
        str, typer.Option("--migration", help="The migration's name in the spec skeleton.")
    ] = "adopted",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where to write migration.yaml, adopted.json and discovery.json "
            "(default: <work dir>/discover/<env>).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    endpoint_url: EndpointOption = None,
    as_json: JsonOption = False,
) -> None:
    """Describe an environment built by hand: streams, event source mappings, KCL lease tables
    and enhanced fan-out consumers; write a spec skeleton and the streams' Terraform imports.

    Uses the ambient AWS credentials (not a spec's deploy role). Example:
    turnout discover --env old --region eu-west-1 --streams 'clicks*'
    """
    import os

    from turnout.discover import discover as discover_account
    from turnout.discover_aws import AccountReader, DiscoveryError, check_region
    from turnout.discover_output import discovery_text, report_document, write_discovery

    if not region:
        raise DiscoveryError(
            "no region: pass --region (e.g. --region eu-west-1) or set AWS_REGION; Kinesis "
            "streams are regional, so discovery reads one region at a time."
        )
    reader = AccountReader(check_region(region), endpoint_url)
    found = discover_account(reader, streams, account, _progress(as_json))
    work = Path(os.environ.get("TURNOUT_WORK_DIR", ".work"))
    files = write_discovery(
        found, env.value, migration, out or work / "discover" / env.value, force
    )
    if as_json:
        _print_json(
            {
                **report_document(found),
                "files": {"spec": str(files.spec), "adoption": str(files.adoption)},
            }
        )
        return
    typer.echo(discovery_text(found, files))


@app.command("report")
def report_command(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Directory for turnout-report.html and turnout-report.png (default: .work/report/).",
            show_default=False,
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Window start: an ISO 8601 time (UTC unless it names a zone) or a duration ago "
            "(90m, 6h, 2d). Default: shortly before the journal's first entry.",
            show_default=False,
        ),
    ] = None,
    sandbox: SandboxOption = False,
    endpoint_url: EndpointOption = None,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Draw the cutover: phases as bands on a timeline, replication lag and event rates per
    stream, step durations and the journal, as a self-contained HTML file and a PNG.

    Example: turnout report --sandbox --out /tmp/report
    """
    from turnout.report.command import make_report, report_text

    report, files = make_report(
        Project.locate(spec),
        sandbox=sandbox,
        endpoint_url=endpoint_url,
        since=since,
        out_dir=out,
        progress=_progress(as_json),
    )
    if as_json:
        _print_json({"html": str(files.html), "png": str(files.png), **report.summary()})
    else:
        typer.echo(report_text(report, files))


@app.command("drain-check")
def drain_check(
    env: Annotated[
        EnvName, typer.Option("--env", help="The environment whose consumers to check.")
    ],
    consumer: Annotated[
        list[str] | None,
        typer.Option(
            "--consumer",
            metavar="NAME",
            help="Only this consumer (repeatable): lambda:NAME, kcl:APP, replicator, or the bare "
            "name. Default: every consumer of the environment and its replicator.",
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            metavar="SECONDS",
            help="Check again until everything is drained or this many seconds passed "
            "(0: check once). Marker evidence needs time for the consumers to reach the markers.",
        ),
    ] = 0.0,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=256, metavar="N", help="Shards read side by side (1-256)."
        ),
    ] = 32,
    sandbox: SandboxOption = False,
    endpoint_url: EndpointOption = None,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Has every consumer of an environment processed every record of its streams?

    Runs each consumer's drain predicate (its spec `drain_evidence`: Lambda markers or metrics,
    KCL lease table) and the replicator's ledger, and prints per consumer and per shard
    (open and closed shards in retention) what it saw. Read-only, except that consumers with
    `drain_evidence: markers` get one marker record put into each open shard of their streams.

    Exit codes: 0 all drained, 1 something not drained, 3 something unknown (evidence missing;
    never taken as drained), 2 bad input.

    Example: turnout drain-check --env old --sandbox --wait 60 --json
    """
    from turnout.access import resolve_access
    from turnout.drain_check import drain_check as run_drain_check
    from turnout.spec_loader import load_spec

    project = Project.locate(spec)
    migration = load_spec(project.spec_path)
    aws = resolve_access(project, migration, sandbox, endpoint_url)
    report = run_drain_check(
        migration,
        aws,
        env.value,
        consumers=consumer or [],
        wait_seconds=wait,
        workers=workers,
        progress=_progress(False),
    )
    if as_json:
        _print_json(report.to_dict())
    else:
        typer.echo(report.text())
    raise typer.Exit(report.exit_code)


def _progress(quiet: bool):
    def report(message: str) -> None:
        if not quiet:
            typer.echo(message, err=True)

    return report


def _print_status(status: dict, as_json: bool) -> None:
    from turnout.inventory import inventory_text

    if as_json:
        _print_json(status)
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


@app.command()
def version() -> None:
    """Print turnout's version.

    Example: turnout version
    """
    typer.echo(__version__)


def _print_json(document: dict) -> None:
    typer.echo(json.dumps(document, indent=2, sort_keys=True))


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


# typer >= 0.20 vendors its own copy of click: its exceptions are not click's, so catch both.
_ABORTS = (click.exceptions.Abort, typer.Abort)
_USAGE_ERRORS = (
    click.ClickException,
    next(base for base in typer.BadParameter.__mro__ if base.__name__ == "ClickException"),
)
_EXITS = (click.exceptions.Exit, typer.Exit)


def _usage_paragraph(problem: Exception) -> str:
    """A bad flag or argument as one line, naming the command whose --help explains it."""
    message = " ".join(problem.format_message().replace("Value error, ", "").split())
    if not message.endswith((".", "?", "!")):
        message += "."
    context = getattr(problem, "ctx", None)
    command = context.command_path if context is not None else "turnout"
    return f"{message} See `{command} --help` for the valid options and an example."


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
