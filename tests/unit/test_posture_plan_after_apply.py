"""The plan after an apply (the drift check): run by default, and with it a plan that still shows
changes fails the step; `cutover.plan_after_apply: false` leaves it out and the step's outcome
says so. Terraform itself is replaced here (fault injection): the real plans run in
tests/integration/test_cutover_sandbox.py."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from turnout.deploy import workflow
from turnout.deploy.plan_summary import PlanSummary
from turnout.deploy.posture import PostureApplier
from turnout.engine import factory
from turnout.engine.runner import CutoverEngine
from turnout.engine.steps import transition
from turnout.errors import TerraformError
from turnout.project import Project
from turnout.spec.loader import load_spec
from turnout.spec.phases import posture_of

REPO = Path(__file__).resolve().parents[2]


def changed(environment: str) -> PlanSummary:
    return PlanSummary(environment, counts={"aws_kinesis_stream": Counter(change=1)})


@pytest.fixture
def terraform(monkeypatch):
    """Stand-ins for plan+apply (always one change) and the plan after it (as `drift_plan` says);
    returns the environments the drift plan ran for."""
    drift_runs: list[str] = []
    drift_plan: dict[str, PlanSummary | None] = {"result": None}

    def plan_and_apply(project, environment, *args, **kwargs):
        return changed(environment)

    def drift(project, environment, *args, **kwargs):
        drift_runs.append(environment)
        return drift_plan["result"]

    monkeypatch.setattr(workflow, "plan_and_apply", plan_and_apply)
    monkeypatch.setattr(workflow, "drift", drift)
    return drift_runs, drift_plan


def applier(tmp_path: Path, drift_check: bool) -> PostureApplier:
    spec = load_spec(REPO / "terraform" / "migration.yaml")
    project = Project(REPO, REPO / "terraform" / "migration.yaml", tmp_path)
    return PostureApplier(spec, project, tmp_path / "vars", drift_check=drift_check)


def test_by_default_each_applied_environment_is_planned_again_and_shows_no_drift(
    tmp_path, terraform
):
    drift_runs, _ = terraform
    outcome = applier(tmp_path, True)._apply_one(
        "old", tmp_path / "old.json", posture_of("switched")
    )
    assert drift_runs == ["old"]
    assert outcome["drift"] == "none"


def test_a_plan_that_still_shows_changes_after_the_apply_fails_the_step(tmp_path, terraform):
    _, drift_plan = terraform
    drift_plan["result"] = changed("new")
    with pytest.raises(TerraformError, match="still shows changes"):
        applier(tmp_path, True)._apply_one("new", tmp_path / "new.json", posture_of("switched"))


def test_without_plan_after_apply_no_plan_runs_and_the_outcome_says_drift_was_not_checked(
    tmp_path, terraform
):
    drift_runs, drift_plan = terraform
    drift_plan["result"] = changed("old")  # would fail the step if it were planned
    outcome = applier(tmp_path, False)._apply_one(
        "old", tmp_path / "old.json", posture_of("switched")
    )
    assert drift_runs == []
    assert outcome["drift"] == "not checked (cutover.plan_after_apply is false)"


def test_the_spec_setting_reaches_the_engines_applier_and_its_step_text(tmp_path, monkeypatch):
    spec = load_spec(REPO / "terraform" / "migration.yaml")
    assert spec.cutover.plan_after_apply is True
    off = spec.model_copy(
        update={"cutover": spec.cutover.model_copy(update={"plan_after_apply": False})}
    )
    built: dict = {}
    monkeypatch.setattr(  # the real constructor reaches DynamoDB
        factory, "CutoverEngine", lambda spec, aws, applier, *rest: built.update(applier=applier)
    )
    project = Project(REPO, REPO / "terraform" / "migration.yaml", tmp_path)
    factory.assemble_engine(off, None, project, tmp_path / "hooks", print, work_dir=tmp_path)
    assert built["applier"].drift_check is False

    engine = CutoverEngine.__new__(CutoverEngine)
    (apply_step,) = [s for s in transition("baseline", "switched", off).steps if s.kind == "apply"]
    engine.spec = off
    assert "no plan after it: cutover.plan_after_apply is false" in engine.step_text(apply_step)
    engine.spec = spec
    assert engine.step_text(apply_step).endswith("then plan: no changes")
