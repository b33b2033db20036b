"""The engine's bookkeeping on a real DynamoDB (the emulator): atomic state, journal, lock, resume.

Hooks here are small files in a temporary hooks folder and Terraform is replaced by a recorder
(unit-level fault injection); the sandbox tests run the real hooks and the real Terraform.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from engine_kit import create_lock_table, stand_in_hooks
from hooks_kit import create_state_table

from turnout.aws.access import AwsAccess
from turnout.engine.hook_runner import HookRunner
from turnout.engine.lock import CutoverLock, LockHeld, LockLost
from turnout.engine.runner import CutoverEngine, CutoverFailed
from turnout.engine.state import ConcurrentWriteError, StateError, StateStore
from turnout.engine.steps import HookStep, transition
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec
from turnout.spec.names import control_plane

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

HOOK_NAMES = {
    step.hook
    for pair in [
        ("baseline", "switched"),
        ("switched", "mirrored"),
        ("mirrored", "new-live"),
        ("new-live", "committed"),
        ("mirrored", "rolled-back"),
    ]
    for step in transition(*pair, load_spec(REPO / "terraform" / "migration.yaml")).steps
    if isinstance(step, HookStep)
} | {"check_data_stores", "check_apis"}  # the preflights of data stores and APIs


@pytest.fixture
def spec(emulator) -> MigrationSpec:
    document = load_spec(REPO / "terraform" / "migration.yaml").model_dump(
        mode="json", exclude_none=True
    )
    document["migration"] = f"engine-{int(time.time() * 1000) % 10**9}"
    document["apis"] = []  # the API switch's steps have their own tests (test_api_switch.py)
    # Own control-plane table names: the session's emulator also holds the example spec's
    # tables, applied by Terraform in test_terraform_apply.py.
    document["environments"]["old"]["name_prefix"] = "engine-old-"
    document["environments"]["new"]["name_prefix"] = "engine-new-"
    return MigrationSpec.model_validate(document)


@pytest.fixture
def tables(spec, emulator):
    control = control_plane(spec)
    state_table = control.state_table
    lock_table = control.lock_table
    dynamodb = emulator.client("dynamodb", spec.environments.old.account_id)
    existing = dynamodb.list_tables()["TableNames"]
    if state_table not in existing:
        create_state_table(dynamodb, state_table)
    if lock_table not in existing:
        create_lock_table(dynamodb, spec)
    return dynamodb, state_table, lock_table


@pytest.fixture
def harness(spec, emulator, tables, tmp_path, monkeypatch):
    hooks_dir = stand_in_hooks(tmp_path / "hooks", HOOK_NAMES, monkeypatch)
    log = tmp_path / "hooks.log"
    fail = tmp_path / "fail"
    applied: list[str] = []

    class FakeApplier:
        """Stands in for Terraform: records each apply and fails the one named in `fail`."""

        def apply(self, phase, posture, label, environments=("old", "new")):
            applied.append(label.replace("/", ":"))
            step_id = label.rsplit("/", 1)[-1]
            if fail.exists() and fail.read_text().strip() == step_id:
                raise CutoverFailed(f"{step_id}: injected terraform failure")
            return {"posture": posture.describe()}

        def plan_texts(self, phase, posture, label):
            return []

    def engine() -> CutoverEngine:
        return CutoverEngine(
            spec,
            AwsAccess.for_emulator(spec, emulator),
            FakeApplier(),
            HookRunner(hooks_dir),
            progress=lambda message: None,
        )

    class Harness:
        pass

    harness = Harness()
    harness.engine = engine
    harness.applied = applied
    harness.fail = fail
    harness.hook_calls = lambda: (
        [json.loads(line)["hook"] for line in log.read_text().splitlines()] if log.exists() else []
    )
    return harness


def completed_side_effects(store: StateStore) -> list[tuple[str, str]]:
    entries = store.read_journal(newest_first=False)
    return [
        (entry["details"]["transition"], entry["details"]["step"])
        for entry in entries
        if entry["kind"] == "step"
        and entry["action"] == "completed"
        and entry["details"]["step_kind"] in ("action", "apply")
    ]


def test_a_full_run_moves_the_live_phase_and_journals_every_step(harness):
    engine = harness.engine()
    report = engine.run("committed")
    assert report.end_phase == "committed"
    assert engine.store.load().phase == "committed"
    assert engine.store.load().transition is None
    assert len(harness.applied) == 4
    journal = engine.store.read_journal(newest_first=False)
    started = [
        e["details"]["step"] for e in journal if e["action"] == "started" and e["kind"] == "step"
    ]
    completed = [
        e["details"]["step"] for e in journal if e["action"] == "completed" and e["kind"] == "step"
    ]
    assert started == completed, "every step that started completed, in order"
    assert all(entry["who"] and entry["at"] for entry in journal)
    assert engine.lock.holder() is None, "the lock is released at the end"


def test_a_failed_check_blocks_the_apply_and_says_nothing_was_applied(harness):
    harness.fail.write_text("verify_new_streams_empty")
    engine = harness.engine()
    with pytest.raises(CutoverFailed, match="Nothing was applied in this transition"):
        engine.run("switched")
    assert harness.applied == []
    state = engine.store.load()
    assert state.phase == "baseline"
    assert state.transition is not None and state.transition.to_phase == "switched"
    assert engine.lock.holder() is None


def test_resume_remeasures_facts_since_the_last_side_effect_and_never_repeats_one(harness):
    harness.fail.write_text("detect_unrouted_producers")
    with pytest.raises(CutoverFailed, match="Run `turnout cutover` again to resume"):
        harness.engine().run("switched")
    engine = harness.engine()
    assert engine.store.load().phase == "baseline"
    calls_before = harness.hook_calls()
    harness.fail.unlink()
    report = harness.engine().run("switched")
    assert report.end_phase == "switched"
    resumed = harness.hook_calls()[len(calls_before) :]
    assert resumed == ["verify_route", "detect_unrouted_producers"], (
        "the route check done after the apply is measured again; the preconditions of the "
        f"apply are not (they may rightly be false after the switch): {resumed}"
    )
    assert harness.applied == ["baseline->switched:route-to-new"], "the apply was not repeated"
    side_effects = completed_side_effects(engine.store)
    assert len(side_effects) == len(set(side_effects)), (
        f"a side effect completed twice: {side_effects}"
    )


def test_resume_never_repeats_a_done_action(harness):
    harness.engine().run("mirrored")
    harness.fail.write_text("verify_consumers_running")
    with pytest.raises(CutoverFailed):
        harness.engine().run("new-live")
    harness.fail.unlink()
    calls_before = harness.hook_calls()
    assert harness.engine().run("new-live").end_phase == "new-live"
    resumed = harness.hook_calls()[len(calls_before) :]
    assert "resume_consumers" not in resumed and resumed == ["verify_consumers_running"]


def test_a_second_operator_is_refused_naming_the_holder(harness, spec, tables):
    dynamodb, _, lock_table = tables
    other = CutoverLock(dynamodb, lock_table, spec.migration, ttl_seconds=300)
    other.acquire("other-run")
    try:
        with pytest.raises(LockHeld, match=r"other-run.*turnout unlock --force"):
            harness.engine().run("switched")
    finally:
        other.release()


def test_a_stale_lock_of_a_dead_holder_is_taken_over(harness, spec, tables):
    dynamodb, _, lock_table = tables
    dead = CutoverLock(
        dynamodb, lock_table, spec.migration, ttl_seconds=30, clock=lambda: time.time() - 3600
    )
    dead.acquire("dead-run")
    report = harness.engine().run("switched")
    assert report.end_phase == "switched"
    with pytest.raises(LockLost):
        dead.renew()


def test_unknown_phase_or_newer_format_in_the_state_table_is_refused_and_changes_nothing(
    harness, tables, spec
):
    dynamodb, state_table, _ = tables
    key = {"pk": {"S": f"migration#{spec.migration}"}, "sk": {"S": "state"}}
    for item, message in (
        (
            {"phase": {"S": "half-way"}, "format_version": {"N": "1"}, "version": {"N": "3"}},
            "unknown phase 'half-way'",
        ),
        (
            {"phase": {"S": "mirrored"}, "format_version": {"N": "2"}, "version": {"N": "3"}},
            "written by a newer turnout",
        ),
        ({"phase": {"S": "mirrored"}, "format_version": {"N": "1"}}, "no integer version"),
    ):
        dynamodb.put_item(TableName=state_table, Item={**key, **item})
        with pytest.raises(StateError, match=message):
            harness.engine().run("committed")
        assert dynamodb.get_item(TableName=state_table, Key=key)["Item"] == {**key, **item}
        assert harness.applied == []


def test_a_concurrent_state_write_is_detected(harness):
    engine = harness.engine()
    state = engine.store.load()
    engine.store.save(state, state.version)
    stale = engine.store.load()
    engine.store.save(engine.store.load(), stale.version)
    with pytest.raises(ConcurrentWriteError):
        engine.store.save(stale, stale.version)


def test_the_lock_of_a_killed_run_on_this_host_is_taken_over_and_journaled(harness, spec, tables):
    import subprocess
    import sys

    dynamodb, _, lock_table = tables
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(gone.stdout)
    dynamodb.put_item(
        TableName=lock_table,
        Item={
            "lock_id": {"S": f"migration#{spec.migration}"},
            "owner": {"S": "someone@here:1"},
            "host": {"S": __import__("socket").gethostname()},
            "pid": {"N": str(dead_pid)},
            "run_id": {"S": "killed-run"},
            "started_at": {"N": str(time.time())},
            "expires_at": {"N": str(time.time() + 3600)},
        },
    )
    engine = harness.engine()
    assert engine.run("switched").end_phase == "switched"
    taken = [e for e in engine.store.read_journal() if e["action"] == "taken-over"]
    assert taken and taken[0]["details"]["previous_holder"]["run_id"] == "killed-run"


def test_an_apply_killed_after_its_effect_landed_resumes_at_the_apply(harness):
    """Found by the chaos suite: the CLI SIGKILLed during route-to-new after Terraform had moved
    the producers. The new streams then fill with live traffic, so re-measuring the apply's
    precondition (new streams empty) failed on every resume: the cutover was stuck in baseline
    with the producers writing to new. A started apply is run again (Terraform converges);
    the checks before it are its preconditions, not facts to measure again."""
    harness.fail.write_text("route-to-new")  # the apply ends without completing, as if killed
    with pytest.raises(CutoverFailed):
        harness.engine().run("switched")
    harness.fail.write_text("verify_new_streams_empty")  # false from now on: producers on new
    calls_before = harness.hook_calls()
    assert harness.engine().run("switched").end_phase == "switched"
    resumed = harness.hook_calls()[len(calls_before) :]
    assert "verify_new_streams_empty" not in resumed
    assert resumed == ["verify_route", "detect_unrouted_producers"]
    assert harness.applied == ["baseline->switched:route-to-new"] * 2, "the apply ran again"
