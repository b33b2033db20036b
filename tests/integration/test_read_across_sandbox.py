"""Replication mode read-across on the sandbox (real Terraform, the emulator, the local Lambda
runtime, live traffic): no replicator; from mirrored on the old consumers read the new streams
through their cross-account mappings (docs/read-across.md). A full cutover to committed, and a
rollback from new-live, each with nothing lost and no duplicate in either environment.

One sandbox per path, taken down before the next one starts.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import yaml

from turnout.consumers import read_across_mapping_states
from turnout.hooks import HookContext
from turnout.project import Project
from turnout.sandbox.box import Sandbox
from turnout.sandbox.names import consumer_role_name
from turnout.sandbox.pipeline.create import MAPPING_SETTINGS
from turnout.sandbox.pipeline.report import assert_nothing_lost, format_report
from turnout.spec.loader import load_spec
from turnout.spec.names import role_arn
from turnout.targets import build_engine

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]
REPO = Path(__file__).resolve().parents[2]
RATE = 100


def read_across_spec(root: Path) -> Path:
    """The example spec in read-across mode: the old consumers' execution role (the sandbox's
    consumer role) and mapping settings named, every stream under a key the old account may
    use."""
    document = yaml.safe_load((REPO / "terraform" / "migration.yaml").read_text())
    document["replication"]["mode"] = "read-across"
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
    root.mkdir(parents=True, exist_ok=True)
    path = root / "migration.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def sandbox_for(tmp_path_factory, terraform_ready):
    running: list[Sandbox] = []

    def start(name: str) -> tuple[Project, Sandbox]:
        root = tmp_path_factory.mktemp(name)
        project = Project(REPO, read_across_spec(root / "spec"), root / "work")
        sandbox = Sandbox(project)
        running.append(sandbox)
        sandbox.up(progress=print, rate=RATE, lifetime_seconds=2400)
        return project, sandbox

    yield start
    for sandbox in running:
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


def test_read_across_commits_with_nothing_lost_and_no_duplicate(sandbox_for):
    project, sandbox = sandbox_for("read-across-commit")
    engine = build_engine(project, sandbox=True, progress=print)
    engine.run("mirrored")
    enabled = mapping_states(engine, "Enabled")
    assert enabled["wrong"] == [] and len(enabled["mappings"]) == 3
    engine.run("new-live")
    new_live_at = time.time()
    # Until the commit the old consumers read the new streams: what was written before new-live
    # reaches them (the report waits for it) while producers keep writing.
    before = sandbox.wait_for_report(
        timeout=300, new_required=False, old_reads_new_until=new_live_at
    )
    assert before["environments"]["old"]["lost"] == 0, format_report(before)
    engine.run("committed")
    assert engine.store.load().phase == "committed"
    assert mapping_states(engine, "Disabled")["wrong"] == []
    report = assert_nothing_lost_and_no_duplicate(sandbox, True, new_live_at)
    assert report["environments"]["old"]["order_violations"] == 0


def test_read_across_rolls_back_from_new_live_with_nothing_lost_and_no_duplicate(sandbox_for):
    project, sandbox = sandbox_for("read-across-rollback")
    engine = build_engine(project, sandbox=True, progress=print)
    engine.run("new-live")
    engine.run("rolled-back")
    assert engine.store.load().phase == "rolled-back"
    assert mapping_states(engine, "Disabled")["wrong"] == []
    drained = [
        entry["details"]
        for entry in engine.store.read_journal(newest_first=False)
        if entry["kind"] == "step"
        and entry["action"] == "completed"
        and entry["details"].get("step") == "new-tail-read-across"
    ]
    assert drained, "the rollback proved the new streams' tail read by the old consumers"
    # Every event written to new, whenever: the old consumers read the whole tail.
    assert_nothing_lost_and_no_duplicate(sandbox, False, math.inf)
