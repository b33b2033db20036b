"""Shared by the sandbox cutover kill tests (test_cutover_sandbox*.py): a sandbox per path, the
CLI driven and SIGKILLed once in every step that changes something, and the report at the end
of a path.

The two paths run in two test files so that the test runner's workers take them side by side.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest
from state_kit import (
    SANDBOX_LIFETIME_SECONDS,
    engine_without_plan_after_apply,
    sandbox_project,
)

from turnout.engine.state import now_iso
from turnout.engine.steps import transition
from turnout.project import Project
from turnout.sandbox.box import Sandbox
from turnout.sandbox.chaos.cutover_runs import (
    cli_command,
    cli_env,
    side_effects_completed,
    started_steps,
)
from turnout.sandbox.pipeline.report import assert_nothing_lost, format_report
from turnout.spec.loader import load_spec
from turnout.spec.names import names
from turnout.targets import build_engine

# 50 events/s over 1,000 keys and 3 streams (the demo keeps 200): the kills are about time
# windows (a step killed mid-way, resumed), not volume; every second still puts records in
# flight across each step. A running sandbox spends CPU per record written, read and reported
# (measured at 100 events/s: emulator 8.1, Lambda runtime 6.5, producer 2.1 CPU-s per minute),
# beside the Terraform of the other CI worker.
RATE = 50

ROLLBACK_PATH = [
    ("baseline", "switched"),
    ("switched", "mirrored"),
    ("mirrored", "new-live"),
    ("new-live", "rolled-back"),
]
COMMIT_PATH = [("new-live", "committed")]  # reached new-live in one clean run first
COMMIT_TRANSITION = "new-live->committed"


def without_apis_and_data_stores(document: dict) -> None:
    """The example spec without its API and its data stores: the API's switch adds seven steps
    to new-live->committed (two of them applies) and the copies three to switched->mirrored,
    each of which the kill tests would kill and run again. Both run on the sandbox in
    test_whole_move_sandbox.py (a copy killed mid-way and resumed included) and `make demo`;
    here the kills are about the streams, the consumers, the replication and Terraform."""
    document["apis"] = []
    document["data_stores"] = []


class Sandboxes:
    """One sandbox at a time: asking for another takes the previous one down first."""

    def __init__(self, root: Path):
        self.root = root
        self.spec_path = sandbox_project(root / "project", without_apis_and_data_stores)
        self.current: tuple[str, Project, Sandbox] | None = None
        self.finished: dict[str, dict] = {}

    def get(self, name: str) -> tuple[Project, Sandbox]:
        if self.current and self.current[0] == name:
            return self.current[1], self.current[2]
        self.close()
        project = Project(self.root / "project", self.spec_path, self.root / name)
        sandbox = Sandbox(project)
        sandbox.up(progress=print, rate=RATE, lifetime_seconds=SANDBOX_LIFETIME_SECONDS)
        self.current = (name, project, sandbox)
        return project, sandbox

    def close(self) -> None:
        if self.current:
            self.current[2].down(progress=print)
            self.current = None


def side_effect_steps(steps) -> list:
    """The steps that change something (actions and applies). A check only measures, and the
    engine re-measures every fact since the last side effect on resume whatever step was
    killed (test_engine_journal_lock_resume.py proves that); killing each check here too would
    double the sandbox time of these tests for no new failure mode."""
    return [step for step in steps if step.kind != "check"]


def drive_with_a_kill_in_every_side_effect_step(
    project: Project, from_phase: str, to_phase: str, logs: Path
) -> list[str]:
    """Start the CLI, SIGKILL it (with its terraform children) once side-effect step k has
    started, for every k; then run it to completion. Returns the steps it was killed in."""
    spec = load_spec(project.spec_path)
    current = transition(from_phase, to_phase, spec)
    engine = build_engine(project, sandbox=True, progress=lambda message: None)
    killed = []
    for step in side_effect_steps(current.steps):
        since = now_iso()
        log = (logs / f"{current.name.replace('>', '')}-{step.id}.log").open("w")
        process = subprocess.Popen(
            cli_command(project.spec_path, to_phase),
            env=cli_env(project),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and process.poll() is None:
            if step.id in started_steps(engine, current.name, since):
                break
            time.sleep(0.05)  # each look is a journal query; the killed steps last seconds
        if process.poll() == 0 and step is current.steps[-1]:
            # The last step can be quick; the run can finish it between two polls.
            assert step.id in started_steps(engine, current.name, since)
            print(f"{current.name}: {step.id} completed before the kill landed")
            break
        if process.poll() is not None:
            log.close()
            tail = "\n".join(Path(log.name).read_text().splitlines()[-25:])
            pytest.fail(
                f"the cutover exited (rc {process.returncode}) before step {step.id}:\n{tail}"
            )
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        killed.append(step.id)
        print(f"killed {current.name} during {step.id}")
    completed = subprocess.run(
        cli_command(project.spec_path, to_phase),
        env=cli_env(project),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    print(completed.stdout[-3000:], completed.stderr[-3000:])
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert engine.store.load().phase == to_phase
    return killed


PATH_END = {"rollback-path": "rolled-back", "commit-path": "committed"}
# CI (`make test`) kills the CLI in the last transition of each path only: the rollback's action
# and three applies (the compensation path) and the commit's apply and action; the transitions
# before them run clean. On CI's two cores each killed transition costs minutes of Terraform and
# of a live sandbox. `make test-full` (TURNOUT_TEST_SCOPE=full) kills in every transition.
FULL_SCOPE = os.environ.get("TURNOUT_TEST_SCOPE") == "full"


def killed_in_this_scope(to_phase: str) -> bool:
    return FULL_SCOPE or to_phase in PATH_END.values()


def kill_through(sandboxes: Sandboxes, path_name: str, from_phase: str, to_phase: str, logs):
    """One transition of a path, killed in every step that changes something; at the path's end,
    the report."""
    project, sandbox = sandboxes.get(path_name)
    engine = build_engine(project, sandbox=True, progress=print)
    if engine.store.load().phase != from_phase:
        # The commit path reaches new-live in one clean run, through the postures the rollback
        # path's applies prove converge.
        engine_without_plan_after_apply(project).run(from_phase)
    if killed_in_this_scope(to_phase):
        killed = drive_with_a_kill_in_every_side_effect_step(project, from_phase, to_phase, logs)
        steps = transition(from_phase, to_phase, load_spec(project.spec_path)).steps
        expected = [step.id for step in side_effect_steps(steps)]
        assert killed == expected[: len(killed)] and len(killed) >= len(expected) - 1
    else:
        print(f"{from_phase}->{to_phase}: run clean (TURNOUT_TEST_SCOPE=full kills it too)")
        engine.run(to_phase)
        assert engine.store.load().phase == to_phase
    side_effects = side_effects_completed(engine)
    assert len(side_effects) == len(set(side_effects)), (
        f"a side effect was repeated: {side_effects}"
    )
    assert_reminders_follow_the_buffering_window(engine, sandbox, to_phase)
    if to_phase == PATH_END[path_name]:
        assert_nothing_lost_through_the_path(path_name, engine, sandbox)


def assert_reminders_follow_the_buffering_window(engine, sandbox: Sandbox, phase: str) -> None:
    """From the switch until new-live the new environment holds the buffered-retention reminders
    (modules/monitoring), starting at the switch's start (the journal's) + 50 % and + 80 % of the
    new streams' shortest live retention; in every other phase neither environment holds one."""
    emulator, spec = sandbox.require_emulator(), engine.spec
    held = {}
    for environment in ("old", "new"):
        account = getattr(spec.environments, environment).account_id
        scheduler = emulator.client("scheduler", account)
        held[environment] = sorted(
            scheduler.get_schedule(Name=summary["Name"])["StartDate"].timestamp()
            for summary in scheduler.list_schedules()["Schedules"]
        )
    if phase not in ("switched", "mirrored"):
        assert held == {"old": [], "new": []}, f"reminders left in {phase}: {held}"
        return
    kinesis = emulator.client("kinesis", spec.environments.new.account_id)
    retention_hours = min(
        kinesis.describe_stream_summary(StreamName=names(spec, "new").stream(stream.name))[
            "StreamDescriptionSummary"
        ]["RetentionPeriodHours"]
        for stream in spec.streams
    )
    switched = datetime.fromisoformat(
        engine.store.transition_first_started_at("baseline->switched")
    ).timestamp()
    expected = [int(switched) + percent * retention_hours * 36 for percent in (50, 80)]
    assert held["old"] == [] and held["new"] == expected, (held, expected)


def expected_distinct_keys(draws: int, keys: int = 1000) -> float:
    """How many of the producer's keys uniform draws reach on average: 3,000 events cover ~950."""
    return keys * (1 - (1 - 1 / keys) ** draws)


def assert_nothing_lost_through_the_path(path_name: str, engine, sandbox: Sandbox) -> None:
    sandbox.stop_traffic(progress=print)
    report = sandbox.wait_for_report(timeout=240, new_required=path_name == "commit-path")
    print(format_report(report))
    assert report["produced"]["total"] >= RATE * 60, "the traffic ran for the whole cutover"
    assert report["produced"]["keys"] >= 0.9 * expected_distinct_keys(report["produced"]["total"])
    assert len(report["produced"]["by_stream"]) >= 3
    assert_nothing_lost(report, allow_pending=False)
    old, new = report["environments"]["old"], report["environments"]["new"]
    print(
        f"duplicates: old {old['duplicates']}, new {new['duplicates']}; "
        f"flip inversions in old: {old['flip_inversions']}"
    )
    if path_name == "commit-path":
        assert old["order_violations"] == 0 and new["order_violations"] == 0
    applied = [
        entry["details"]["outcome"]
        for entry in engine.store.read_journal(newest_first=False)
        if entry["kind"] == "step"
        and entry["action"] == "completed"
        and entry["details"].get("step_kind") == "apply"
        and (path_name == "rollback-path" or entry["details"]["transition"] == COMMIT_TRANSITION)
    ]
    assert applied and all(
        outcome[environment]["drift"].startswith("none")
        for outcome in applied
        for environment in ("old", "new")
    ), "every apply ends with a plan of both environments showing no changes"
