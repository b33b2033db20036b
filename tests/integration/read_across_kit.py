"""Shared by the read-across sandbox tests (test_read_across_sandbox*.py): the example spec in
read-across mode, a sandbox per path with live traffic, the mappings' state and the report.

The two paths run in two test files so that the test runner's workers (`--dist loadfile`) take
them side by side: the engine allows no new attempt after rolled-back (steps.path), so each path
needs a sandbox of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from state_kit import SANDBOX_LIFETIME_SECONDS

from turnout.consumers import read_across_mapping_states
from turnout.hooks import HookContext
from turnout.project import Project
from turnout.sandbox.box import Sandbox
from turnout.sandbox.names import consumer_role_name, processed_table_name
from turnout.sandbox.pipeline.create import MAPPING_SETTINGS
from turnout.sandbox.pipeline.report import assert_nothing_lost, format_report
from turnout.spec.loader import load_spec
from turnout.spec.names import names, role_arn

REPO = Path(__file__).resolve().parents[2]
RATE = 50  # events/s: as the kill tests (cutover_kit.RATE says why)
# An old KCL application beside the Lambda functions: it reads `orders` (as
# legacy-clicks-processor does) with the sandbox's KCL-style worker, on the old stream from
# baseline on (its main instance: the spec's resume and pause commands) and on the new stream
# through its read-across instance (the spec's read_across commands), each a process of
# turnout.sandbox.pipeline.kcl_instance. Its commands name the emulator through this variable,
# set once the sandbox is up.
KCL_APPLICATION = "sandbox-orders-kcl"
ENDPOINT_VARIABLE = "TURNOUT_SANDBOX_KCL_ENDPOINT"
KCL_INSTANCE = f"{sys.executable} -m turnout.sandbox.pipeline.kcl_instance"


def read_across_spec(root: Path, change: Callable[[dict], object]) -> Path:
    """The example spec in read-across mode: the old consumers' execution role (the sandbox's
    consumer role) and mapping settings named, every stream under a key the old account may
    use; without its data stores (their copy at switched->mirrored is the same in both modes and
    runs on the sandbox in test_whole_move_sandbox.py); then `change`."""
    document = yaml.safe_load((REPO / "terraform" / "migration.yaml").read_text())
    document["replication"]["mode"] = "read-across"
    document["data_stores"] = []
    for stream in document["streams"]:
        stream["encryption"] = "customer_managed"
    spec = load_spec(REPO / "terraform" / "migration.yaml")
    role = role_arn(spec.environments.old.account_id, consumer_role_name(spec, "old"))
    for consumer in document["consumers"]["old"]:
        consumer["execution_role_arn"] = role
        # As the sandbox's own consumer mappings (pipeline.create.MAPPING_SETTINGS).
        consumer["read_across_mapping"] = {
            "batch_size": MAPPING_SETTINGS["BatchSize"],
            "batching_window_seconds": MAPPING_SETTINGS["MaximumBatchingWindowInSeconds"],
            "report_batch_item_failures": True,
        }
    document["consumers"]["old"].append(kcl_application(spec, root / "kcl"))
    change(document)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "migration.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def kcl_application(spec, state_dir: Path) -> dict:
    """The old KCL application's spec entry (KCL_APPLICATION above)."""
    old = spec.environments.old
    common = (
        f'--state-dir {state_dir} --endpoint "${ENDPOINT_VARIABLE}" '
        f"--processed-table {processed_table_name(spec, 'old')} "
        f"--markers-table {names(spec, 'old').markers_table} "
        f"--interval 1 --lifetime {SANDBOX_LIFETIME_SECONDS}"
    )
    itself = (
        f"--instance main --application {KCL_APPLICATION} "
        f"--stream-arns {names(spec, 'old').stream_arn('orders')} --region {old.region} "
        f"--role-arn {role_arn(old.account_id, consumer_role_name(spec, 'old'))} "
        f"--lease-table {KCL_APPLICATION}-leases"
    )
    return {
        "kind": "kcl",
        "application": KCL_APPLICATION,
        "lease_table": f"{KCL_APPLICATION}-leases",
        "streams": ["orders"],
        "resume_command": f"{KCL_INSTANCE} start {common} {itself}",
        "pause_command": (
            f"{KCL_INSTANCE} stop --state-dir {state_dir} --instance main "
            f"--application {KCL_APPLICATION}"
        ),
        "read_across": {
            "role_arn": role_arn(old.account_id, f"{KCL_APPLICATION}-reader"),
            "lease_table": f"{KCL_APPLICATION}-read-across",
            "start_command": f"{KCL_INSTANCE} start {common}",
            "stop_command": f"{KCL_INSTANCE} stop --state-dir {state_dir}",
        },
    }


def run_kcl_command(project: Project, which: str, check: bool = True) -> None:
    """One of the KCL application's commands from the spec (`resume_command`, `pause_command`,
    `read_across.stop_command`, ...), as turnout runs them."""
    (holder,) = [c for c in load_spec(project.spec_path).consumers.old if c.kind == "kcl"]
    if which.startswith("read_across."):
        holder, which = holder.read_across, which.split(".", 1)[1]
    command = getattr(holder, which)
    # What turnout gives the read_across commands (turnout.kcl_read_across); the application's
    # own commands carry their settings.
    env = {**os.environ, "TURNOUT_READ_ACROSS_APPLICATION": KCL_APPLICATION}
    done = subprocess.run(
        command, shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    print(done.stdout, done.stderr)
    assert done.returncode == 0 or not check, f"`{command}` failed: {done.stderr[-2000:]}"


@contextmanager
def read_across_sandbox(
    root: Path, change: Callable[[dict], object]
) -> Iterator[tuple[Project, Sandbox]]:
    """A running sandbox of the read-across spec with traffic at RATE, taken down at the end."""
    project = Project(REPO, read_across_spec(root / "spec", change), root / "work")
    sandbox = Sandbox(project)
    try:
        sandbox.up(progress=print, rate=RATE, lifetime_seconds=SANDBOX_LIFETIME_SECONDS)
        os.environ[ENDPOINT_VARIABLE] = sandbox.require_emulator().endpoint_url
        run_kcl_command(project, "resume_command")  # the application runs from baseline on
        yield project, sandbox
    finally:
        if ENDPOINT_VARIABLE in os.environ:
            for which in ("pause_command", "read_across.stop_command"):
                run_kcl_command(project, which, check=False)
        os.environ.pop(ENDPOINT_VARIABLE, None)
        sandbox.down(progress=print)


def mapping_states(engine, wanted: str) -> dict:
    context = HookContext(
        spec=engine.spec, aws=engine.aws, phase_from="", phase_to="", project_root=REPO
    )
    return read_across_mapping_states(context, wanted)


def assert_nothing_lost_and_no_duplicate(
    sandbox: Sandbox, new_required: bool, old_reads_new_until: float
) -> dict:
    """Old: every event written to old, and every event written to new up to
    `old_reads_new_until` (read across); new (when required): every event written to new."""
    sandbox.stop_traffic(progress=print)
    report = sandbox.wait_for_report(
        timeout=300, new_required=new_required, old_reads_new_until=old_reads_new_until
    )
    print(format_report(report))
    assert report["produced"]["total"] >= RATE * 30, "the traffic ran through the cutover"
    assert report["produced"]["new"] >= RATE * 10, "producers wrote to new for a while"
    assert len(report["produced"]["by_stream"]) == 3
    assert_nothing_lost(report, allow_pending=False)
    old, new = report["environments"]["old"], report["environments"]["new"]
    assert old["duplicates"] == 0 and new["duplicates"] == 0, "no replicator, no copies"
    kcl = old["by_consumer"][KCL_APPLICATION]
    assert kcl["lost"] == 0 and kcl["processed"] >= RATE * 10, kcl
    return report
