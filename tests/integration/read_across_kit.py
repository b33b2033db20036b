"""Shared by the read-across sandbox tests (test_read_across_sandbox*.py): the example spec in
read-across mode, a sandbox per path with live traffic, the mappings' state and the report.

The two paths run in two test files so that the test runner's workers (`--dist loadfile`) take
them side by side: the engine allows no new attempt after rolled-back (steps.path), so each path
needs a sandbox of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from state_kit import SANDBOX_LIFETIME_SECONDS

from turnout.consumers import read_across_mapping_states
from turnout.hooks import HookContext
from turnout.project import Project
from turnout.sandbox.box import Sandbox
from turnout.sandbox.names import consumer_role_name
from turnout.sandbox.pipeline.create import MAPPING_SETTINGS
from turnout.sandbox.pipeline.report import assert_nothing_lost, format_report
from turnout.spec.loader import load_spec
from turnout.spec.names import role_arn

REPO = Path(__file__).resolve().parents[2]
RATE = 50  # events/s: as the kill tests (cutover_kit.RATE says why)


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
    change(document)
    root.mkdir(parents=True, exist_ok=True)
    path = root / "migration.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@contextmanager
def read_across_sandbox(
    root: Path, change: Callable[[dict], object]
) -> Iterator[tuple[Project, Sandbox]]:
    """A running sandbox of the read-across spec with traffic at RATE, taken down at the end."""
    project = Project(REPO, read_across_spec(root / "spec", change), root / "work")
    sandbox = Sandbox(project)
    try:
        sandbox.up(progress=print, rate=RATE, lifetime_seconds=SANDBOX_LIFETIME_SECONDS)
        yield project, sandbox
    finally:
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
    return report
