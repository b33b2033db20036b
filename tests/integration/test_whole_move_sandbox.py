"""The whole move on the sandbox (real Terraform, the emulator, live traffic): the spec's data
stores (a bucket with files above the multipart threshold, a profiles table and the old
consumers' processed table) are copied at the drained point of switched->mirrored by the real
CLI, which is killed with SIGKILL in the middle of a copy and run again; the copy resumes from its
checkpoint and writes only the rest; the cutover commits with nothing lost, switching the
spec's API on the way (its record, resolved after each phase, answers with the old endpoint until
the API's step at new-live->committed, and with the new one after the commit); then the
decommission: its plan, the replication and the old consumers' mappings removed, the old
streams kept until their retention has passed since the commit, and deleted only then and only
with --allow-destroy.

One sandbox for the module, the tests in order (each builds on the previous one). The example
spec's API moves in one step here (weights [100]) instead of the demo's two: the 50 % step is one
more Terraform apply of the old environment and is proven in test_api_switch.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest
from datastores_kit import checkpoint_item, listing, wait_for
from state_kit import SANDBOX_LIFETIME_SECONDS, sandbox_project

from turnout.datastores.dynamodb_verify import key_names, table_digest
from turnout.engine.decommission import decommission_plan, decommission_text
from turnout.engine.runner import CutoverFailed
from turnout.project import Project
from turnout.report.apis import api_switch_rows
from turnout.sandbox.box import Sandbox
from turnout.sandbox.chaos.cutover_runs import cli_command, cli_env
from turnout.sandbox.names import processed_table_name
from turnout.sandbox.pipeline.apis import resolve_apis
from turnout.sandbox.pipeline.create import consumer_mappings
from turnout.sandbox.pipeline.report import assert_nothing_lost, format_report
from turnout.spec.names import names

# The longest scenario (26 min of a CI worker on two cores): `make test-full` runs it, CI does not.
pytestmark = [pytest.mark.integration, pytest.mark.full_scope, pytest.mark.timeout(2400)]
RATE = 100
HOURS = 3600
FOUND: dict = {}  # what an earlier test of the module measured


@pytest.fixture(scope="module")
def move(tmp_path_factory, terraform_ready):
    work_dir = tmp_path_factory.mktemp("whole-move")

    def one_api_step(document: dict) -> None:
        document["apis"][0]["weights"] = [100]  # see the module's docstring

    spec_path = sandbox_project(work_dir / "project", one_api_step)
    project = Project(work_dir / "project", spec_path, work_dir / "work")
    sandbox = Sandbox(project)
    sandbox.up(progress=print, rate=RATE, lifetime_seconds=SANDBOX_LIFETIME_SECONDS)
    FOUND["answers"] = {"baseline": api_answer(sandbox)}
    try:
        yield project, sandbox
    finally:
        sandbox.down(progress=print)


def api_answer(sandbox: Sandbox) -> tuple[dict, str, str | None]:
    """What the API's record answers now: the weights, the environment whose endpoint a
    weighted answer chooses, and the environment whose API answered a call to it."""
    (answer,) = resolve_apis(sandbox.spec(), sandbox.aws(), sandbox.api_dir)
    print(answer)
    return answer["weights"], answer["chosen"], answer["answered_by"]


OLD_ONLY = ({"old": 100, "new": 0}, "old", "old")
NEW_ONLY = ({"old": 0, "new": 100}, "new", "new")


def snapshot_old(sandbox: Sandbox) -> dict:
    """The old environment's data stores as they are (every object, every table's checksum),
    but the processed table: the old consumers rightly write it again from mirrored on."""
    spec, aws = sandbox.spec(), sandbox.aws()
    found = {}
    for store in spec.data_stores:
        if store.source == processed_table_name(spec, "old"):
            continue
        if store.kind == "s3":
            found[store.name] = listing(aws.client("old", "s3"), store.source_bucket)
        else:
            ddb = aws.client("old", "dynamodb")
            digest = table_digest(ddb, store.source, key_names(ddb, store.source), 4)
            found[store.name] = (digest.items, digest.checksum)
    return found


def test_data_stores_are_copied_at_the_drained_point_and_a_killed_copy_resumes(move, tmp_path):
    project, sandbox = move
    spec = sandbox.spec()
    engine = sandbox.engine(print)
    before = snapshot_old(sandbox)
    log = (tmp_path / "cutover.log").open("w")
    process = subprocess.Popen(
        cli_command(project.spec_path, "mirrored"),
        env=cli_env(project),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    control = sandbox.aws().client("old", "dynamodb")

    def processed_written() -> int:
        progress = (checkpoint_item(control, spec, "processed") or {}).get("progress", {})
        return sum(p["items"] for p in progress.get("positions", {}).values())

    try:
        wait_for(
            lambda: processed_written() >= 1000, 900, "the processed table's copy under way", 0.05
        )
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
    at_kill = processed_written()
    state = engine.store.load()
    assert state.phase == "switched" and "copy-processed" in state.transition.started_side_effects
    assert {"copy-assets", "copy-profiles"} <= set(state.transition.completed_steps)

    report = sandbox.engine(print).run("mirrored")  # takes over the dead run's lock
    assert report.end_phase == "mirrored"
    results = {
        entry["details"]["step"]: entry["details"]["outcome"]
        for entry in engine.store.read_journal(newest_first=False)
        if (entry["kind"], entry["action"]) == ("step", "completed")
        and entry["details"]["step"].startswith("copy-")
    }
    processed = results["copy-processed"]
    assert processed["resumed"] is True
    total = processed["verification"]["source_items"]
    assert processed["copy"]["this_run"]["items_written"] == total - at_kill, "only the rest"
    assert (
        processed["verification"]["target_checksum"] == processed["verification"]["source_checksum"]
    )
    assets = results["copy-assets"]["verification"]
    assert assets["matched"] == assets["source_objects"] == 203 and assets["differences"] == 0
    assert results["copy-assets"]["copy"]["this_run"].get("copied") == 203
    assert FOUND["answers"]["baseline"] == OLD_ONLY
    assert api_answer(sandbox) == OLD_ONLY, "mirrored: the API still answers with old"
    profiles = results["copy-profiles"]["verification"]
    assert profiles["source_items"] == profiles["target_items"] == 1000
    assert snapshot_old(sandbox) == before, "the copy only read the old environment"
    FOUND["copied_items"] = total


def test_the_cutover_commits_with_nothing_lost_and_the_copies_in_place(move):
    _, sandbox = move
    spec, aws = sandbox.spec(), sandbox.aws()
    engine = sandbox.engine(print)
    assert engine.run("new-live").end_phase == "new-live"
    assert api_answer(sandbox) == OLD_ONLY, "new-live: the API moves only at the commit"
    assert engine.run("committed").end_phase == "committed"
    assert api_answer(sandbox) == NEW_ONLY, "committed: the API answers with new"
    api_steps = [
        (entry["details"]["step"], entry["details"]["seconds"])
        for entry in engine.store.read_journal(newest_first=False)
        if (entry["kind"], entry["action"]) == ("step", "completed")
        and entry["details"]["step"].startswith("api-")
    ]
    print(f"the API switch's steps: {api_steps}, {sum(s for _, s in api_steps):.1f} s in all")
    assert [step for step, _ in api_steps] == [
        "api-orders-healthy",
        "api-orders-100",
        "api-orders-100-answered",
        "api-orders-100-healthy",
    ]
    journal = engine.store.read_journal(newest_first=False)
    rows = api_switch_rows(journal, datetime.now(UTC) - timedelta(hours=2), datetime.now(UTC))
    assert [(row.step, row.new_percent, row.what) for row in rows] == [
        ("route-to-new", 0, "applied"),
        ("api-orders-100", 100, "applied"),
        ("api-orders-100-answered", 100, "Route 53 answers old 0 / new 100"),
    ], "the report's API switch: 0 from the first apply, then the step and its answer"
    sandbox.stop_traffic(progress=print)
    report = sandbox.wait_for_report(timeout=240, new_required=True)
    print(format_report(report))
    assert_nothing_lost(report)
    assert report["environments"]["new"]["copied_items"] == FOUND["copied_items"]
    store = spec.data_stores[0]
    source = listing(aws.client("old", "s3"), store.source_bucket)
    target = listing(aws.client("new", "s3"), store.target_bucket)
    assert {key: size for key, (size, _) in source.items()} == {
        key: size for key, (size, _) in target.items() if not key.startswith("turnout/")
    }


def test_decommission_removes_the_replication_and_keeps_the_old_streams_until_retention(move):
    _, sandbox = move
    spec, aws = sandbox.spec(), sandbox.aws()
    engine = sandbox.engine(print)
    plan = decommission_plan(engine)
    text = decommission_text(plan)
    print(text)
    assert "destroys module.replicator[0].aws_lambda_function" in text
    assert 'destroys module.stream["clicks"].aws_kinesis_stream.this' in text
    mappings = {m["uuid"] for m in consumer_mappings(spec, aws, "old")}
    assert {m["uuid"] for m in plan["old_consumer_mappings"]["removed"]} == mappings
    with pytest.raises(CutoverFailed, match="kept until their retention has passed"):
        engine.run("decommissioned", allow_destroy=True)
    assert consumer_mappings(spec, aws, "old") == [], "the old consumers' mappings are gone"
    for environment in ("old", "new"):
        replicator = names(spec, environment).replicator
        functions = aws.client(environment, "lambda").list_functions()["Functions"]
        assert replicator not in {f["FunctionName"] for f in functions}
    kinesis = aws.client("old", "kinesis")
    for stream in spec.streams:
        kinesis.describe_stream_summary(StreamName=stream.name_in("old"))  # still there
    assert engine.store.load().phase == "committed"


def test_after_the_retention_the_old_streams_go_only_with_allow_destroy(move):
    _, sandbox = move
    spec, aws = sandbox.spec(), sandbox.aws()
    engine = sandbox.engine(print)
    engine.aws.clock = lambda: time.time() + 169 * HOURS  # a week after the commit
    with pytest.raises(CutoverFailed, match="needs --allow-destroy"):
        engine.run("decommissioned")
    kinesis = aws.client("old", "kinesis")
    assert len(kinesis.list_streams()["StreamNames"]) >= len(spec.streams), "nothing deleted"
    report = engine.run("decommissioned", allow_destroy=True)
    assert report.end_phase == "decommissioned"
    old = set(kinesis.list_streams()["StreamNames"])
    assert not old & {stream.name_in("old") for stream in spec.streams}
    new = set(aws.client("new", "kinesis").list_streams()["StreamNames"])
    assert {stream.name_in("new") for stream in spec.streams} <= new
