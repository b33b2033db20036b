"""docs/cutover.md describes every step of the step table."""

from pathlib import Path

from turnout.engine.steps import path, transition
from turnout.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]


def test_every_step_of_every_transition_is_documented():
    spec = load_spec(REPO / "terraform" / "migration.yaml")
    document = (REPO / "docs" / "cutover.md").read_text()
    for pair in [*path("baseline", "decommissioned"), ("mirrored", "rolled-back")]:
        for step in transition(*pair, spec).steps:
            if step.id.startswith(("user-", "copy-")):
                continue  # the spec's own hooks and data stores: docs/hooks.md, docs/datastores.md
            assert f"`{step.id}`" in document, f"docs/cutover.md does not mention step {step.id}"


def test_every_step_of_the_read_across_mode_is_documented():
    spec = load_spec(REPO / "terraform" / "migration.yaml")
    document = (REPO / "docs" / "read-across.md").read_text()
    spec = spec.model_copy(
        update={"replication": spec.replication.model_copy(update={"mode": "read-across"})}
    )
    for pair in [*path("baseline", "committed"), ("mirrored", "rolled-back")]:
        for step in transition(*pair, spec).steps:
            if step.id.startswith(("user-", "copy-")):
                continue
            assert f"`{step.id}`" in document, (
                f"docs/read-across.md does not mention step {step.id}"
            )
