"""The buffering window the cutover engine hands Terraform: the applies of switched and mirrored
carry the switch's time, the new environment's tfvars render it with the earliest start of a
reminder, and outside the window (or in the old environment) nothing is rendered. What the
monitoring module makes of it is proven by its `terraform test` (modules/monitoring/tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from turnout.deploy.package import LambdaPackage
from turnout.deploy.render import buffering_context, render_environments
from turnout.engine.buffering import applied_posture
from turnout.spec.loader import load_spec
from turnout.spec.phases import posture_of

REPO = Path(__file__).resolve().parents[2]
SWITCH_STARTED = "2026-12-02T06:33:04.512+00:00"
NOON = 1_796_212_800.0  # 2026-12-02T12:00:00Z


class JournalWithASwitch:
    def __init__(self, started: str | None):
        self.started = started
        self.asked: list[str] = []

    def transition_first_started_at(self, transition: str) -> str | None:
        self.asked.append(transition)
        return self.started


@pytest.mark.parametrize("phase", ["switched", "mirrored"])
def test_the_applies_of_switched_and_mirrored_carry_the_switchs_time(phase):
    journal = JournalWithASwitch(SWITCH_STARTED)
    posture = applied_posture(posture_of(phase), phase, journal, lambda: NOON)
    assert posture.buffering_since == "2026-12-02T06:33:04Z"
    assert journal.asked == ["baseline->switched"]
    assert "retention reminders from 2026-12-02T06:33:04Z" in posture.describe()


@pytest.mark.parametrize("phase", ["new-live", "committed", "rolled-back", "decommissioned"])
def test_once_the_new_consumers_resume_or_the_route_is_back_no_apply_carries_it(phase):
    journal = JournalWithASwitch(SWITCH_STARTED)
    assert applied_posture(posture_of(phase), phase, journal, lambda: NOON).buffering_since is None
    assert journal.asked == []


def test_a_dry_run_before_the_switch_plans_as_if_it_started_now():
    posture = applied_posture(
        posture_of("switched"), "switched", JournalWithASwitch(None), lambda: NOON
    )
    assert posture.buffering_since == "2026-12-02T12:00:00Z"


def test_only_the_new_environment_renders_the_window_and_reminders_start_two_minutes_out():
    posture = applied_posture(
        posture_of("mirrored"), "mirrored", JournalWithASwitch(SWITCH_STARTED), lambda: NOON
    )
    assert buffering_context("old", posture, now=NOON) == {}
    assert buffering_context("new", posture, now=NOON) == {
        "since": "2026-12-02T06:33:04Z",
        "not_before": "2026-12-02T12:02:00Z",
    }
    assert buffering_context("new", posture_of("mirrored"), now=NOON) == {}


def test_the_rendered_tfvars_carry_the_window_in_new_only(tmp_path):
    spec = load_spec(REPO / "terraform" / "migration.yaml")
    posture = applied_posture(
        posture_of("switched"), "switched", JournalWithASwitch(SWITCH_STARTED), lambda: NOON
    )
    package = LambdaPackage("build/replicator.zip", b"zip")
    files = render_environments(
        spec,
        REPO / "terraform",
        phase="switched",
        output_dir=tmp_path,
        posture=posture,
        package=package,
    )
    rendered = {f.environment: json.loads(f.content) for f in files}
    assert rendered["old"]["buffering"] == {}
    assert rendered["new"]["buffering"]["since"] == "2026-12-02T06:33:04Z"
    assert rendered["new"]["buffering"]["not_before"].endswith("Z")
