"""What `turnout report` does: choose how to reach AWS, collect, write both files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from turnout.aws import AwsAccess
from turnout.errors import TurnoutError
from turnout.project import Project
from turnout.report import ReportFiles, default_report_dir, write_report
from turnout.report.collect import collect_report, parse_since
from turnout.report.model import CutoverReport
from turnout.spec import MigrationSpec

Progress = Callable[[str], None]


class EmulatorAccounts:
    """Sessions on an emulator endpoint given by URL: moto attributes the calls of credentials
    assumed into `arn:aws:iam::<account>:role/...` to that account (as `turnout.emulator`)."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    def session(self, account_id: str, region: str | None = None) -> boto3.Session:
        from turnout.emulator import (
            DEFAULT_REGION,
            assume_role_credentials,
            role_arn,
            session_from_credentials,
        )

        region = region or DEFAULT_REGION
        try:
            credentials = assume_role_credentials(
                self.endpoint_url, role_arn(account_id), "turnout-report", region
            )
        except Exception as problem:  # botocore's errors: unreachable, refused, ...
            raise TurnoutError(
                f"--endpoint-url {self.endpoint_url}: cannot assume a role in account "
                f"{account_id} there ({problem}). Give the URL of a running emulator, e.g. "
                f"http://127.0.0.1:5000, or use --sandbox."
            ) from None
        return session_from_credentials(credentials, region)


def aws_access(
    project: Project, spec: MigrationSpec, sandbox: bool, endpoint_url: str | None
) -> Any:
    if sandbox and endpoint_url:
        raise TurnoutError(
            "--sandbox and --endpoint-url both name where to read from; give one of them "
            "(--sandbox for the running sandbox, --endpoint-url for another emulator)."
        )
    if sandbox:
        from turnout.sandbox import Sandbox

        return Sandbox(project).aws()
    if endpoint_url:
        if not endpoint_url.startswith(("http://", "https://")):
            raise TurnoutError(
                f"--endpoint-url {endpoint_url!r} is not a URL; give e.g. http://127.0.0.1:5000."
            )
        return AwsAccess(spec, endpoint_url=endpoint_url, emulator=EmulatorAccounts(endpoint_url))
    return AwsAccess(spec)


def make_report(
    project: Project,
    *,
    sandbox: bool = False,
    endpoint_url: str | None = None,
    since: str | None = None,
    out_dir: Path | None = None,
    progress: Progress = lambda message: None,
) -> tuple[CutoverReport, ReportFiles]:
    from turnout.spec_loader import load_spec

    now = datetime.now(UTC)
    start = parse_since(since, now)
    spec = load_spec(project.spec_path)
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise TurnoutError(f"--out {out_dir} is a file; give a directory (it is created if new).")
    aws = aws_access(project, spec, sandbox, endpoint_url)
    report = collect_report(spec, aws, since=start, now=now, progress=progress)
    target = out_dir or default_report_dir(project.work_dir)
    progress(f"drawing the report into {target}")
    return report, write_report(report, target)


def report_text(report: CutoverReport, files: ReportFiles) -> str:
    lines = [f"report: {files.html}", f"timeline: {files.png}"]
    phases = ", ".join(f"{band.phase} {band.seconds:.0f} s" for band in report.phases)
    lines.append(f"phases: {phases}")
    drawn = [series for series in report.series if series.points]
    lines.append(
        f"series drawn: {len(drawn)} of {len(report.series)} (the others have no data); "
        f"{len(report.steps)} steps, {len(report.journal)} journal entries"
    )
    lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)
