"""Which transitions take the live phase to the desired one, and which requests are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from turnout.engine.steps import ApplyStep, PathError, path, transition
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def spec() -> MigrationSpec:
    return load_spec(REPO / "terraform" / "migration.yaml")


def test_forward_path_visits_every_phase_in_order():
    assert path("baseline", "committed") == [
        ("baseline", "switched"),
        ("switched", "mirrored"),
        ("mirrored", "new-live"),
        ("new-live", "committed"),
    ]
    assert path("mirrored", "new-live") == [("mirrored", "new-live")]
    assert path("new-live", "new-live") == []


@pytest.mark.parametrize("live", ["switched", "mirrored", "new-live"])
def test_rollback_is_one_transition_from_any_phase_that_moved_producers(live):
    assert path(live, "rolled-back") == [(live, "rolled-back")]


@pytest.mark.parametrize(
    ("live", "desired", "reason"),
    [
        ("baseline", "rolled-back", "nothing moved yet"),
        ("committed", "rolled-back", "no longer receives events after commit"),
        ("mirrored", "switched", "Phases only move forward"),
        ("rolled-back", "switched", "reset the new environment's streams"),
        ("committed", "new-live", "committed"),
    ],
)
def test_unsafe_requests_are_refused_with_the_reason(live, desired, reason):
    with pytest.raises(PathError, match=reason):
        path(live, desired)


def test_every_transition_applies_terraform_and_measures_before_it(spec):
    for from_phase, to_phase in [*path("baseline", "committed"), ("new-live", "rolled-back")]:
        steps = transition(from_phase, to_phase, spec).steps
        first_apply = next(index for index, step in enumerate(steps) if isinstance(step, ApplyStep))
        assert first_apply > 0, f"{from_phase}->{to_phase} applies before checking anything"
        assert all(step.kind == "check" or step.kind == "action" for step in steps[:first_apply])
        assert len({step.id for step in steps}) == len(steps), (
            "step ids must be unique within a transition"
        )


def test_rollback_stops_replication_only_after_the_new_tail_is_replicated(spec):
    ids = [step.id for step in transition("mirrored", "rolled-back", spec).steps]
    assert (
        ids.index("route-back-to-old")
        < ids.index("new-streams-quiet")
        < ids.index("new-tail-replicated")
    )
    assert ids.index("new-tail-replicated") < ids.index("stop-replication")
    assert ids.index("replication-caught-up") < ids.index("route-back-to-old"), (
        "flip only once caught up"
    )


def test_switch_happens_only_with_new_consumers_paused_and_replication_off(spec):
    ids = [step.id for step in transition("baseline", "switched", spec).steps]
    assert ids.index("new-consumers-paused") < ids.index("route-to-new")
    assert ids.index("replication-off") < ids.index("route-to-new")


def test_user_hooks_run_at_the_declared_point(spec):
    document = spec.model_dump(mode="json", exclude_none=True)
    document["hooks"] = [
        {
            "transition": "switched->mirrored",
            "when": "pre",
            "hook": "copy_tables",
            "args": {"table": "x"},
        },
        {"transition": "any", "when": "post", "hook": "notify"},
    ]
    with_hooks = MigrationSpec.model_validate(document)
    ids = [step.id for step in transition("switched", "mirrored", with_hooks).steps]
    assert (
        ids.index("old-consumers-drained")
        < ids.index("user-pre-0-copy_tables")
        < ids.index("replicate-new-to-old")
    )
    assert ids[-1] == "user-post-1-notify"
