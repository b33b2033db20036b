"""The main job on the sandbox: a whole migration with live traffic, then the proof.

Sandbox up (emulator, both environments by Terraform, the sample pipeline, the local Lambda
runtime, producers at `rate` events/s) → cutover to new-live → commit (or roll back) → stop the
producers → wait until every event is where it must be → report: produced, processed by each
environment, lost (must be 0), duplicates, per-key order, time per phase, and where the waits
went. Last, before the sandbox goes down, the cutover report (`turnout report`): an HTML file and
a PNG timeline under the work dir's `report/`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from turnout.errors import TurnoutError
from turnout.project import Project
from turnout.report.command import make_report
from turnout.sandbox.box import Sandbox
from turnout.sandbox.emulator.profile import FidelityProfile
from turnout.spec.loader import load_spec

Progress = Callable[[str], None]


@dataclass
class DemoResult:
    path: str
    report: dict
    timings: dict[str, float] = field(default_factory=dict)
    slowest_steps: list[dict] = field(default_factory=list)
    # The drawn cutover report: {"html": path, "png": path}, or {"error": why it is missing}.
    report_files: dict[str, str] = field(default_factory=dict)

    @property
    def nothing_lost(self) -> bool:
        return bool(self.report.get("nothing_lost"))

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "nothing_lost": self.nothing_lost,
            "timings_seconds": self.timings,
            "slowest_steps": self.slowest_steps,
            "report": self.report,
            "report_files": self.report_files,
        }


def run_demo(
    project: Project,
    rollback: bool = False,
    rate: float = 200.0,
    progress: Progress = print,
    keep: bool = False,
    profile: FidelityProfile | str | None = None,
) -> DemoResult:
    sandbox = Sandbox(project, profile=profile)
    timings: dict[str, float] = {}
    steps: list = []
    started = time.monotonic()
    try:
        sandbox.up(progress=progress, rate=rate)
        timings["sandbox up"] = round(time.monotonic() - started, 1)
        engine = sandbox.engine(progress)
        targets = ["new-live", "rolled-back"] if rollback else ["new-live", "committed"]
        for target in targets:
            progress(f"=== cutover to {target} (live traffic at {rate:g} events/s) ===")
            report = engine.run(target)
            timings.update(report.phase_seconds)
            steps.extend(report.steps)
        progress("stopping the producers; waiting until every event is where it must be ...")
        stop = time.monotonic()
        sandbox.stop_traffic(progress=progress)
        wait_until_consumers_settle(sandbox, progress)
        final = sandbox.wait_for_report(timeout=180, new_required=not rollback)
        timings["final delivery and report"] = round(time.monotonic() - stop, 1)
        timings["total"] = round(time.monotonic() - started, 1)
        slowest = sorted(steps, key=lambda step: step.seconds, reverse=True)[:6]
        report_files = write_cutover_report(project, progress)
        return DemoResult(
            path="baseline -> new-live -> rolled-back"
            if rollback
            else "baseline -> new-live -> committed",
            report=final,
            timings=timings,
            slowest_steps=[vars(step) for step in slowest],
            report_files=report_files,
        )
    finally:
        if not keep:
            sandbox.down(progress=progress)


def write_cutover_report(project: Project, progress: Progress) -> dict[str, str]:
    """`turnout report --sandbox` while the sandbox still runs. A report that cannot be drawn
    is said, not fatal: the loss report above is the demo's verdict."""
    progress("drawing the cutover report (phases, lag, rates, steps, journal) ...")
    try:
        spec = load_spec(project.spec_path)
        aws = Sandbox(project).client_aws(spec)
        _, files = make_report(spec, aws, project.work_dir, progress=progress)
    except TurnoutError as problem:
        return {"error": str(problem)}
    return {"html": str(files.html), "png": str(files.png)}


def wait_until_consumers_settle(sandbox: Sandbox, progress: Progress, timeout: float = 180) -> None:
    """Cheap wait before the (slow, full-scan) report: until both environments' processed
    tables stop growing for a few seconds."""
    from turnout.sandbox.names import processed_table_name

    spec = sandbox.spec()
    aws = sandbox.aws()
    tables = {env: processed_table_name(spec, env) for env in ("old", "new")}
    last, still, started = None, 0, time.monotonic()
    while time.monotonic() - started < timeout and still < 3:
        counts = {
            env: aws.client(env, "dynamodb")
            .describe_table(TableName=table)["Table"]
            .get("ItemCount", 0)
            for env, table in tables.items()
        }
        still = still + 1 if counts == last else 0
        last = counts
        progress(
            f"waiting for consumers to settle: processed old {counts['old']:,}, new {counts['new']:,}"
        )
        time.sleep(1)


def demo_text(result: DemoResult) -> str:
    from turnout.sandbox.pipeline.report import format_report

    lines = [
        f"migration path: {result.path}",
        "",
        format_report(result.report),
        "",
        "time per phase:",
    ]
    lines += [f"  {name}: {seconds} s" for name, seconds in result.timings.items()]
    lines.append("where the waits went (slowest steps):")
    lines += [
        f"  {step['transition']} / {step['step']} ({step['kind']}): {step['seconds']} s"
        for step in result.slowest_steps
    ]
    if "error" in result.report_files:
        lines.append(f"cutover report not drawn: {result.report_files['error']}")
    elif result.report_files:
        lines.append(f"cutover report: {result.report_files['html']}")
        lines.append(f"timeline (PNG): {result.report_files['png']}")
    verdict = "nothing lost" if result.nothing_lost else "EVENTS LOST (see above)"
    lines += ["", f"result: {verdict}"]
    return "\n".join(lines)
