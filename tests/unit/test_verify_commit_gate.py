"""The commit gate: new-live->committed verifies the replica before it turns replication off."""

from __future__ import annotations

from pathlib import Path

import pytest

from turnout.engine.steps import HookStep, transition
from turnout.hooks import HookError, load_hook
from turnout.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def spec():
    return load_spec(REPO / "terraform" / "migration.yaml")


def test_commit_verifies_the_replica_after_it_caught_up_and_before_replication_stops(spec):
    steps = transition("new-live", "committed", spec).steps
    ids = [step.id for step in steps]
    assert (
        ids.index("replication-caught-up")
        < ids.index("replication-verified")
        < ids.index("stop-replication")
    )
    gate = steps[ids.index("replication-verified")]
    assert isinstance(gate, HookStep) and gate.kind == "check" and gate.blocking
    assert gate.hook == "verify_replication_complete"


def test_the_gate_allows_in_flight_records_and_duplicates_but_reads_every_key(spec):
    steps = transition("new-live", "committed", spec).steps
    gate = next(step for step in steps if step.id == "replication-verified")
    arguments = gate.args(spec)
    assert arguments == {
        "grace_seconds": spec.cutover.max_replication_lag_seconds,
        "allow_duplicates": True,
    }
    hook = load_hook(REPO / "hooks", gate.hook, arguments)
    assert hook.args.allow_duplicates is True and hook.args.sample == 1.0


def test_the_gate_is_in_no_other_transition(spec):
    for pair in [
        ("baseline", "switched"),
        ("switched", "mirrored"),
        ("mirrored", "new-live"),
        ("new-live", "rolled-back"),
    ]:
        assert "replication-verified" not in [step.id for step in transition(*pair, spec).steps]


@pytest.mark.parametrize(
    "arguments", [{"sample": 0}, {"reads_per_second": 6}, {"grace_seconds": -1}, {"nope": 1}]
)
def test_bad_gate_arguments_are_refused_before_running(arguments):
    with pytest.raises(HookError, match="verify_replication_complete"):
        load_hook(REPO / "hooks", "verify_replication_complete", arguments)


def test_the_gates_journal_copy_keeps_each_streams_order_rule_for_its_message():
    import importlib.util

    from turnout.verify.run import problems_text

    path = REPO / "hooks" / "verify_replication_complete.py"
    hook_spec = importlib.util.spec_from_file_location("gate_module", path)
    module = importlib.util.module_from_spec(hook_spec)
    hook_spec.loader.exec_module(module)
    counts = {"missing": 0, "extra": 0, "duplicated": 4, "reordered": 1}
    stream = {
        "ordering": "relaxed",
        "failing_kinds": ["missing", "extra", "reordered"],
        "keys": 3,
        "keys_with_problems": 1,
        "records": {**counts, "inversions": 4},
        "findings": [
            {
                "kind": "reordered",
                "key": "k",
                "stream_side": "old",
                "shard": "s",
                "sequence_number": "9",
            }
        ],
    }
    document = {
        "passed": False,
        "window": {},
        "sample": {},
        "totals": {},
        "seconds": 1.0,
        "records_per_second": 1.0,
        "streams": {"clicks": stream},
    }
    data = module.compact(document)
    assert data["streams"]["clicks"]["ordering"] == "relaxed"
    text = problems_text(data)
    assert "1 reordered" in text and "duplicated" not in text  # a relaxed stream's duplicates pass
