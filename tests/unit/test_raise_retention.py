"""cutover.raise_retention_hours: validated against the streams, rendered raised from the switch
until the commit (or rollback) has finished, applied by the steps that raise and restore it, and
used (with its cost) by the retention-window check."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from turnout.deploy.render import render_environments
from turnout.engine.steps import ApplyStep, transition
from turnout.errors import SpecError
from turnout.preflight.registry import CHECKS, PreflightContext
from turnout.preflight.result import Verdict
from turnout.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "terraform" / "migration.yaml"
PRICING = "https://aws.amazon.com/kinesis/data-streams/pricing/"


def spec_with(tmp_path: Path, raise_to: int | None = None, streams_keep: int = 24, **cutover):
    """The example spec, its streams keeping `streams_keep` hours, raised to `raise_to`."""
    document = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    for stream in document["streams"]:
        stream["retention_hours"] = streams_keep
    document["cutover"].update(cutover)
    if raise_to is not None:
        document["cutover"]["raise_retention_hours"] = raise_to
    path = tmp_path / "terraform" / "migration.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_spec(path)


def retention(spec, tmp_path: Path, phase: str, posture=None) -> dict[str, set[int]]:
    """Per environment, the retention hours rendered into its streams."""
    files = render_environments(
        spec, REPO / "terraform", phase=phase, output_dir=tmp_path, posture=posture
    )
    return {
        rendered.environment: {
            stream["retention_hours"] for stream in json.loads(rendered.content)["streams"].values()
        }
        for rendered in files
    }


def applies(steps) -> list[ApplyStep]:
    return [step for step in steps if isinstance(step, ApplyStep)]


# ------------------------------------------------------------------------------- the spec


@pytest.mark.parametrize("value", [23, 8761])
def test_a_raised_retention_outside_24_to_8760_hours_is_refused_naming_the_field(tmp_path, value):
    with pytest.raises(SpecError) as refused:
        spec_with(tmp_path, raise_to=value)
    assert "cutover.raise_retention_hours" in str(refused.value)
    assert "Traceback" not in str(refused.value)


def test_a_raised_retention_below_a_streams_own_is_refused_saying_what_would_do(tmp_path):
    with pytest.raises(SpecError) as refused:
        spec_with(tmp_path, raise_to=100, streams_keep=168)
    message = str(refused.value)
    assert "cutover.raise_retention_hours" in message
    assert "100 h is less than the 168 h stream clicks keeps (its retention_hours)" in message
    assert "set at least 168" in message


def test_a_raised_retention_equal_to_the_longest_stream_is_accepted(tmp_path):
    assert spec_with(tmp_path, raise_to=168, streams_keep=168).cutover.raise_retention_hours == 168


# ------------------------------------------------------------------------------- rendering


@pytest.mark.parametrize("phase", ["switched", "mirrored", "new-live"])
def test_both_environments_keep_the_raised_retention_from_switched_to_new_live(tmp_path, phase):
    spec = spec_with(tmp_path, raise_to=40)
    assert retention(spec, tmp_path, phase) == {"old": {40}, "new": {40}}


@pytest.mark.parametrize("phase", ["baseline", "committed", "rolled-back"])
def test_each_stream_keeps_its_own_retention_before_the_switch_and_after_the_end(tmp_path, phase):
    spec = spec_with(tmp_path, raise_to=40)
    assert retention(spec, tmp_path, phase) == {"old": {24}, "new": {24}}


def test_without_the_option_the_switched_streams_keep_their_own_retention(tmp_path):
    assert retention(spec_with(tmp_path), tmp_path, "switched") == {"old": {24}, "new": {24}}


# ------------------------------------------------------------------------------- the steps


def test_the_switch_raises_retention_before_anything_is_routed_to_new(tmp_path):
    spec = spec_with(tmp_path, raise_to=40)
    steps = transition("baseline", "switched", spec).steps
    ids = [step.id for step in steps]
    assert ids.index("raise-retention") < ids.index("route-to-new")
    raising = steps[ids.index("raise-retention")]
    assert raising.posture.route_target == "old"
    assert raising.posture.active_direction == "none"
    assert retention(spec, tmp_path, "baseline", raising.posture) == {"old": {40}, "new": {40}}
    assert all(step.posture.retention_raised for step in applies(steps))


def test_the_commit_restores_retention_last_after_its_checks(tmp_path):
    spec = spec_with(tmp_path, raise_to=40)
    steps = transition("new-live", "committed", spec).steps
    ids = [step.id for step in steps]
    restore = ids.index("restore-retention")
    for check in ("replication-verified", "replication-stopped", "stop-old-consumers"):
        assert ids.index(check) < restore
    by_id = {step.id: step for step in applies(steps)}
    assert by_id["stop-replication"].posture.retention_raised
    assert not by_id["restore-retention"].posture.retention_raised
    restored = retention(spec, tmp_path, "committed", by_id["restore-retention"].posture)
    assert restored == {"old": {24}, "new": {24}}
    kept = retention(spec, tmp_path, "committed", by_id["stop-replication"].posture)
    assert kept == {"old": {40}, "new": {40}}


def test_a_rollback_restores_retention_after_the_new_tail_is_replicated(tmp_path):
    spec = spec_with(tmp_path, raise_to=40)
    for live in ("switched", "mirrored", "new-live"):
        steps = transition(live, "rolled-back", spec).steps
        ids = [step.id for step in steps]
        assert ids.index("new-tail-replicated") < ids.index("restore-retention")
        *earlier, last = applies(steps)
        assert last.id == "restore-retention" and not last.posture.retention_raised
        assert last.posture.route_target == "old"
        assert all(step.posture.retention_raised for step in earlier)
        assert retention(spec, tmp_path, "rolled-back", last.posture) == {
            "old": {24},
            "new": {24},
        }


def test_an_api_switched_at_the_switch_moves_only_after_retention_is_raised(tmp_path):
    document = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    for stream in document["streams"]:
        stream["retention_hours"] = 24
    document["cutover"]["raise_retention_hours"] = 40
    document["apis"][0]["at"] = {"transition": "baseline->switched", "when": "pre"}
    path = tmp_path / "terraform" / "migration.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    steps = applies(transition("baseline", "switched", load_spec(path)).steps)
    assert [step.id for step in steps] == [
        "raise-retention",
        "api-orders-50",
        "api-orders-100",
        "route-to-new",
    ]
    assert steps[0].posture.api_weight("orders") == 0
    assert all(step.posture.retention_raised for step in steps)


def test_without_the_option_no_step_raises_or_restores(tmp_path):
    spec = spec_with(tmp_path)
    every = [
        step.id
        for live, desired in (
            ("baseline", "switched"),
            ("new-live", "committed"),
            ("mirrored", "rolled-back"),
        )
        for step in transition(live, desired, spec).steps
    ]
    assert "raise-retention" not in every and "restore-retention" not in every
    assert not any(
        step.posture.retention_raised
        for live, desired in (("baseline", "switched"), ("mirrored", "rolled-back"))
        for step in applies(transition(live, desired, spec).steps)
    ), "no apply says it raises retention when the spec raises none"


def test_the_raising_and_restoring_applies_say_so_in_their_description(tmp_path):
    spec = spec_with(tmp_path, raise_to=40)
    switch = {step.id: step for step in applies(transition("baseline", "switched", spec).steps)}
    assert (
        switch["raise-retention"]
        .posture.describe()
        .startswith("producers -> old, replication off, streams' retention raised")
    )
    commit = {step.id: step for step in applies(transition("new-live", "committed", spec).steps)}
    assert "retention raised" not in commit["restore-retention"].posture.describe()


# ------------------------------------------------------------------------------- the check


def window_row(spec):
    return CHECKS["retention-window"].run(PreflightContext(spec, (), aws=object()))


def test_a_26_hour_window_against_24_hour_streams_fails_without_the_option(tmp_path):
    row = window_row(spec_with(tmp_path, planned_window_hours=26, retention_margin_hours=6))
    assert row.verdict is Verdict.FAIL
    assert "stream clicks keeps records 24 h" in row.fact
    assert "set cutover.raise_retention_hours to at least 32" in row.change


def test_a_26_hour_window_passes_with_retention_raised_to_window_plus_margin(tmp_path):
    spec = spec_with(tmp_path, raise_to=32, planned_window_hours=26, retention_margin_hours=6)
    row = window_row(spec)
    assert row.verdict is Verdict.PASS, row.fact
    assert "the shortest is 32 h, raised by cutover.raise_retention_hours = 32" in row.fact


def test_a_raise_short_of_window_plus_margin_still_fails_saying_it_was_raised(tmp_path):
    spec = spec_with(tmp_path, raise_to=30, planned_window_hours=26, retention_margin_hours=6)
    row = window_row(spec)
    assert row.verdict is Verdict.FAIL
    assert "keeps records 30 h during the cutover (cutover.raise_retention_hours)" in row.fact


def test_the_row_states_the_extra_shard_hours_and_the_pricing_page(tmp_path):
    spec = spec_with(tmp_path, raise_to=32, planned_window_hours=26, retention_margin_hours=6)
    fact = window_row(spec).fact
    # clicks 2 + orders 1 provisioned shards, in both environments, for the 26 h window
    assert "6 shards (clicks, orders, both environments)" in fact
    assert "over the planned window of 26 h that is 156 shard-hours" in fact
    assert "on-demand stream(s) audit: billed for it too" in fact
    assert PRICING in fact
    assert "long-term" not in fact


def test_a_raise_beyond_seven_days_mentions_long_term_retention(tmp_path):
    spec = spec_with(tmp_path, raise_to=200, planned_window_hours=26)
    assert "billed as long-term retention" in window_row(spec).fact


def test_streams_already_beyond_24_hours_add_no_extended_retention_cost(tmp_path):
    spec = spec_with(tmp_path, raise_to=168, streams_keep=48, planned_window_hours=26)
    row = window_row(spec)
    assert row.verdict is Verdict.PASS
    assert "adds no extended-retention shard-hours" in row.fact
