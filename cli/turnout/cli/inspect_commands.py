"""Commands that look without moving anything: verify, drain-check, report, discover."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from turnout.cli.app import app
from turnout.cli.options import (
    EndpointOption,
    EnvName,
    JsonOption,
    PeekDiscardsOption,
    SandboxOption,
    SpecOption,
    print_json,
    progress,
)
from turnout.discover.classify import discover as discover_account
from turnout.discover.output import discovery_text, report_document, write_discovery
from turnout.discover.reader import AccountReader, DiscoveryError, check_region
from turnout.drain.check import drain_check as run_drain_check
from turnout.drain.discarded import check_environments
from turnout.drain.read_across_proof import proof_text, prove_read_across
from turnout.project import Project
from turnout.report.command import make_report, report_text
from turnout.spec.loader import load_spec
from turnout.targets import aws_access, build_engine, resolve_target
from turnout.verify.run import (
    VerifyOptions,
    check_mode,
    check_options,
    check_read_across_flags,
    parse_since,
    since_window,
    switch_from_journal,
    window_from_journal,
)
from turnout.verify.run import report_text as verify_report_text
from turnout.verify.run import verify as run_verify


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
    peek_discards: PeekDiscardsOption = False,
    sandbox: SandboxOption = False,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Compare what the new streams received with what replication put in the old streams,
    per shard and partition key: missing, extra, duplicated, reordered; and read the Lambda
    consumers' on-failure destinations (records discarded there fail it). Exit 0 when it
    passes, 1 when it finds problems, 2 for operator errors.

    In replication mode read-across (nothing copied) it proves instead that the old consumers'
    mappings on the new streams processed every record from the switch up to a cut: a marker
    put into every open shard of the new streams, acknowledged by each old consumer (waits up
    to the spec's cutover.drain_timeout_seconds), and no record since the switch old enough to
    have expired from a new stream's retention (docs/read-across.md, "Verify").

    Example: turnout verify --sandbox --since 30m --json
    """
    options = VerifyOptions(
        grace_seconds=0.0 if grace_seconds is None else grace_seconds,
        reads_per_second=reads_per_second,
        sample=sample,
        workers=workers,
        efo=efo,
        allow_duplicates=allow_duplicates,
    )
    check_options(options)
    if since is not None:
        parse_since(since)  # a bad value is refused before anything is read
    project = Project.locate(spec)
    engine = build_engine(project, sandbox, progress(as_json))
    since_epoch = None if since is None else parse_since(since, engine.store.clock())
    if engine.spec.replication.mode == "read-across":
        check_read_across_flags(options, grace_seconds is not None)
        switched_at = switch_from_journal(engine.store) if since_epoch is None else since_epoch
        _verify_read_across(engine, switched_at, workers, peek_discards, as_json)
        return
    check_mode(engine.spec)
    if grace_seconds is None:
        options.grace_seconds = float(engine.spec.cutover.max_replication_lag_seconds)
    window = window_from_journal(engine.store) if since_epoch is None else since_window(since_epoch)
    mode = "peek" if peek_discards else "count"

    def discards() -> list[dict]:
        found = check_environments(engine.spec, engine.aws, ["old", "new"], time.time, mode)
        return [verdict.to_dict() for verdict in found]

    report = run_verify(engine.spec, engine.aws, window, options, progress(as_json), discards)
    if as_json:
        print_json(report.document)
    else:
        typer.echo(verify_report_text(report.document))
    if not report.passed:
        raise typer.Exit(1)


def _verify_read_across(
    engine: Any, switched_at: float, workers: int, peek_discards: bool, as_json: bool
) -> None:
    document = prove_read_across(
        engine.spec,
        engine.aws,
        switched_at,
        timeout_seconds=float(engine.spec.cutover.drain_timeout_seconds),
        workers=workers,
        discards="peek" if peek_discards else "count",
        progress=progress(as_json),
    )
    if as_json:
        print_json(document)
    else:
        typer.echo(proof_text(document))
    if not document["passed"]:
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
    if not region:
        raise DiscoveryError(
            "no region: pass --region (e.g. --region eu-west-1) or set AWS_REGION; Kinesis "
            "streams are regional, so discovery reads one region at a time."
        )
    reader = AccountReader(check_region(region), endpoint_url)
    found = discover_account(reader, streams, account, progress(as_json))
    work = Path(os.environ.get("TURNOUT_WORK_DIR", ".work"))
    files = write_discovery(
        found, env.value, migration, out or work / "discover" / env.value, force
    )
    if as_json:
        print_json(
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
    project = Project.locate(spec)
    migration = load_spec(project.spec_path)
    aws = aws_access(resolve_target(project, sandbox, endpoint_url), migration)
    report, files = make_report(
        migration,
        aws,
        project.work_dir,
        since=since,
        out_dir=out,
        progress=progress(as_json),
    )
    if as_json:
        print_json({"html": str(files.html), "png": str(files.png), **report.summary()})
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
    peek_discards: PeekDiscardsOption = False,
    sandbox: SandboxOption = False,
    endpoint_url: EndpointOption = None,
    spec: SpecOption = None,
    as_json: JsonOption = False,
) -> None:
    """Has every consumer of an environment processed every record of its streams?

    Runs each consumer's drain predicate (its spec `drain_evidence`: Lambda markers or metrics,
    KCL lease table) and the replicator's ledger, and prints per consumer and per shard
    (open and closed shards in retention) what it saw. A Lambda consumer whose mappings send
    discarded batches to an on-failure queue is not drained when the queue received any during
    the migration ("not drained: N records discarded to <queue>"). Read-only, except that
    consumers with `drain_evidence: markers` get one marker record put into each open shard of
    their streams, and each on-failure queue's baseline is recorded when none is yet.

    Exit codes: 0 all drained, 1 something not drained, 3 something unknown (evidence missing;
    never taken as drained), 2 bad input.

    Example: turnout drain-check --env old --sandbox --wait 60 --json
    """
    project = Project.locate(spec)
    migration = load_spec(project.spec_path)
    aws = aws_access(resolve_target(project, sandbox, endpoint_url), migration)
    report = run_drain_check(
        migration,
        aws,
        env.value,
        consumers=consumer or [],
        wait_seconds=wait,
        workers=workers,
        progress=progress(False),
        discards="peek" if peek_discards else "count",
    )
    if as_json:
        print_json(report.to_dict())
    else:
        typer.echo(report.text())
    raise typer.Exit(report.exit_code)
