"""The main job on the sandbox: a whole migration with live traffic, then the proof.

Sandbox up (emulator, both environments by Terraform, the sample pipeline, the local Lambda
runtime, producers at `rate` events/s) → `turnout preflight --env both`'s checks against the
sandbox, printed as its table (the engine's gate runs them again before each transition) → cutover to new-live → commit (or roll back) → stop the
producers → wait until every event is where it must be → report: produced, processed by each
environment, lost (must be 0), duplicates, per-key order, time per phase, and where the waits
went. The data stores the spec declares (a bucket, a table, the old consumers' table) are copied
and verified at the drained point of switched->mirrored; after a commit the demo prints the
decommission plan (what `turnout decommission` would remove, and what stays). The spec's API
(`apis:`) moves at new-live->committed in weighted steps, each gated by its health check; after
the baseline and after each phase the demo prints what the API's record answers: the weights
Route 53 holds and which environment's API answered a call to the endpoint chosen. Last, before
the sandbox goes down, the cutover report (`turnout report`): an HTML file and a PNG timeline
under the work dir's `report/`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from turnout.engine.decommission import decommission_plan, decommission_text
from turnout.errors import TurnoutError
from turnout.preflight.runner import PreflightReport, run_preflight
from turnout.project import Project
from turnout.report.command import make_report
from turnout.sandbox.box import Sandbox
from turnout.sandbox.emulator.profile import FidelityProfile
from turnout.sandbox.pipeline.apis import answer_text, resolve_apis
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
    data_stores: list[dict] = field(default_factory=list)  # each copy's journaled result
    decommission_plan: str = ""
    # After the baseline and each phase: {"phase", "answers": [per API: weights, endpoint
    # chosen, which environment answered]} (or {"phase", "error"}).
    apis: list[dict] = field(default_factory=list)
    preflight: dict = field(default_factory=dict)  # `turnout preflight --env both --json`
    preflight_table: str = ""  # its text table, as `turnout preflight --env both` prints it

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
            "data_stores": self.data_stores,
            "decommission_plan": self.decommission_plan,
            "apis": self.apis,
            "preflight": self.preflight,
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
    answers: list[dict] = []
    started = time.monotonic()
    try:
        sandbox.up(progress=progress, rate=rate)
        timings["sandbox up"] = round(time.monotonic() - started, 1)
        answers.append(api_answers(sandbox, "baseline", progress))
        engine = sandbox.engine(progress)
        checked = run_sandbox_preflight(sandbox, progress)
        targets = ["new-live", "rolled-back"] if rollback else ["new-live", "committed"]
        for target in targets:
            progress(f"=== cutover to {target} (live traffic at {rate:g} events/s) ===")
            report = engine.run(target)
            timings.update(report.phase_seconds)
            steps.extend(report.steps)
            answers.append(api_answers(sandbox, target, progress))
        progress("stopping the producers; waiting until every event is where it must be ...")
        stop = time.monotonic()
        # The decommission plan (Terraform plans, read-only) is made while the consumers settle.
        with ThreadPoolExecutor(max_workers=1) as planner:
            planned = None if rollback else planner.submit(show_decommission_plan, engine, progress)
            sandbox.stop_traffic(progress=progress)
            final = sandbox.wait_for_report(
                timeout=180, new_required=not rollback, progress=progress
            )
            timings["final delivery and report"] = round(time.monotonic() - stop, 1)
            plan = "" if planned is None else planned.result()
        timings["total"] = round(time.monotonic() - started, 1)
        slowest = sorted(steps, key=lambda step: step.seconds, reverse=True)[:6]
        copies = data_store_results(engine)
        report_files = write_cutover_report(project, progress)
        return DemoResult(
            path="baseline -> new-live -> rolled-back"
            if rollback
            else "baseline -> new-live -> committed",
            report=final,
            timings=timings,
            slowest_steps=[vars(step) for step in slowest],
            report_files=report_files,
            data_stores=copies,
            decommission_plan=plan,
            apis=[entry for entry in answers if entry.get("answers") or entry.get("error")],
            preflight=checked.to_dict(),
            preflight_table=checked.text(),
        )
    finally:
        if not keep:
            sandbox.down(progress=progress)


def api_answers(sandbox: Sandbox, phase: str, progress: Progress) -> dict:
    """What each API's record answers now (none without `apis:`), shown as it happens."""
    try:
        answers = resolve_apis(sandbox.spec(), sandbox.aws(), sandbox.api_dir)
    except (TurnoutError, ClientError, BotoCoreError) as problem:
        progress(f"after {phase}: the API records could not be read: {problem}")
        return {"phase": phase, "error": str(problem)}
    for answer in answers:
        progress(f"after {phase}: {answer_text(answer)}")
    return {"phase": phase, "answers": answers}


def run_sandbox_preflight(sandbox: Sandbox, progress: Progress) -> PreflightReport:
    """`turnout preflight --env both` against the running sandbox, printed before the cutover.
    Its verdict is not enforced here: the engine's gate refuses a transition on it."""
    progress("=== preflight (turnout preflight --env both) ===")
    report = run_preflight(sandbox.spec(), ("old", "new"), sandbox.client_aws())
    for line in report.text().splitlines():
        progress(line)
    return report


def data_store_results(engine) -> list[dict]:
    """Each data store copy's result, as the engine journaled it."""
    return [
        entry["details"]["outcome"]
        for entry in engine.store.read_journal(newest_first=False)
        if (entry["kind"], entry["action"]) == ("step", "completed")
        and str(entry["details"].get("step", "")).startswith("copy-")
    ]


def show_decommission_plan(engine, progress: Progress) -> str:
    """What `turnout decommission` would remove now (read-only: plans, no apply)."""
    progress("the decommission plan (turnout decommission --dry-run) ...")
    try:
        return decommission_text(decommission_plan(engine))
    except TurnoutError as problem:
        return f"decommission plan not made: {problem}"


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


def demo_text(result: DemoResult) -> str:
    from turnout.sandbox.pipeline.report import format_report

    lines = [f"migration path: {result.path}", ""]
    if result.preflight_table:
        lines += ["preflight before the cutover (turnout preflight --env both):"]
        lines += [f"  {line}" for line in result.preflight_table.splitlines()]
        lines.append("")
    lines += [
        format_report(result.report),
        "",
        "time per phase:",
    ]
    lines += [f"  {name}: {seconds} s" for name, seconds in result.timings.items()]
    lines += data_store_lines(result.data_stores)
    lines += api_lines(result.apis)
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
    if result.decommission_plan:
        lines += ["", result.decommission_plan]
    verdict = "nothing lost" if result.nothing_lost else "EVENTS LOST (see above)"
    lines += ["", f"result: {verdict}"]
    return "\n".join(lines)


def api_lines(entries: list[dict]) -> list[str]:
    lines = ["what the API records answered (Route 53 weights, then a call):"] if entries else []
    for entry in entries:
        if "error" in entry:
            lines.append(f"  after {entry['phase']}: not read: {entry['error']}")
        lines += [f"  after {entry['phase']}: {answer_text(a)}" for a in entry.get("answers", [])]
    return lines


def data_store_lines(results: list[dict]) -> list[str]:
    lines = ["data stores copied and verified (old -> new):"] if results else []
    for result in results:
        check = result.get("verification", {})
        copy = result.get("copy", {})
        if result.get("kind") == "s3":
            lines.append(
                f"  {result['store']} (s3 {result['source']} -> {result['target']}): "
                f"{copy.get('copied', 0):,} objects copied ({copy.get('copied_bytes', 0):,} bytes), "
                f"verified {check.get('matched', 0):,}/{check.get('source_objects', 0):,} objects "
                f"identical, {check.get('differences', 0)} differences, {result['seconds']} s"
            )
        else:
            lines.append(
                f"  {result['store']} (dynamodb {result['source']} -> {result['target']}): "
                f"{copy.get('items_written', 0):,} items written, verified "
                f"{check.get('target_items', 0):,}/{check.get('source_items', 0):,} items, "
                f"checksum {check.get('target_checksum', '?')[:12]} = "
                f"{check.get('source_checksum', '?')[:12]}, {result['seconds']} s"
            )
    return lines
