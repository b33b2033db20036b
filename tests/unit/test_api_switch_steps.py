"""The API switch in the spec, the step table and the rendered tfvars: the weight moves at the
declared point in steps, each gated by the new endpoint's health check; every later apply keeps
it; a rollback puts it back on the old endpoint; the preflight checks every API the path will
switch; a bad `apis:` entry is one paragraph naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from turnout.deploy.render import render_environments
from turnout.engine.steps import ApplyStep, HookStep, path, preflight, transition
from turnout.errors import TurnoutError
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "terraform" / "migration.yaml"


def api(**changes) -> dict:
    return {
        "name": "orders",
        "zone_id": "Z0123456789ABC",
        "record": "orders.example.com",
        "endpoints": {"old": "orders-old.example.com", "new": "orders-new.example.com"},
        **changes,
    }


def example(**changes) -> MigrationSpec:
    document = load_spec(EXAMPLE).model_dump(mode="json", exclude_none=True)
    document.update(changes)
    return MigrationSpec.model_validate(document)


def applies(steps) -> list[tuple[str, int | None]]:
    return [(s.id, s.posture.api_weight("orders")) for s in steps if isinstance(s, ApplyStep)]


def test_the_weight_moves_in_steps_each_gated_by_the_health_check_at_the_declared_point():
    spec = example(
        apis=[api(weights=[10, 50, 100], at={"transition": "mirrored->new-live", "when": "post"})]
    )
    steps = transition("mirrored", "new-live", spec).steps
    tail = [(s.id, s.kind) for s in steps][-10:]
    assert tail == [
        ("api-orders-healthy", "check"),
        ("api-orders-10", "apply"),
        ("api-orders-10-answered", "check"),
        ("api-orders-10-healthy", "check"),
        ("api-orders-50", "apply"),
        ("api-orders-50-answered", "check"),
        ("api-orders-50-healthy", "check"),
        ("api-orders-100", "apply"),
        ("api-orders-100-answered", "check"),
        ("api-orders-100-healthy", "check"),
    ]
    assert applies(steps) == [
        ("new-live-vars", 0),
        ("api-orders-10", 10),
        ("api-orders-50", 50),
        ("api-orders-100", 100),
    ]
    gate = next(s for s in steps if s.id == "api-orders-50-healthy")
    assert gate.args(spec) == {"api": "orders", "healthy_seconds": 120}
    assert gate.timeout_seconds == 900 + 120 + 60, "the wait is bounded"
    first = next(s for s in steps if s.id == "api-orders-healthy")
    assert first.args(spec)["healthy_seconds"] == 0, "healthy once before any weight moves"
    moved = next(s for s in steps if s.id == "api-orders-10")
    assert moved.posture.route_target == "new" and moved.posture.active_direction == "new_to_old"


def test_later_applies_keep_the_weight_and_a_rollback_puts_it_back_with_the_producers():
    spec = example(apis=[api(at={"transition": "mirrored->new-live", "when": "post"})])
    assert applies(transition("new-live", "committed", spec).steps) == [("stop-replication", 100)]
    assert applies(transition("switched", "mirrored", spec).steps) == [("replicate-new-to-old", 0)]
    rollback = transition("new-live", "rolled-back", spec).steps
    assert applies(rollback) == [
        ("replicate-before-flip", 100),
        ("route-back-to-old", 0),
        ("stop-replication", 0),
    ]
    assert applies(transition("mirrored", "rolled-back", spec).steps)[0] == (
        "replicate-before-flip",
        0,
    ), "from a phase before the switch the API was never moved"
    decommission = transition("committed", "decommissioned", spec).steps
    assert {weight for _, weight in applies(decommission)} == {100}


def test_the_default_point_is_before_the_commit_applies_while_rollback_is_possible():
    spec = example(apis=[api()])
    steps = [s.id for s in transition("new-live", "committed", spec).steps]
    assert steps.index("replication-verified") < steps.index("api-orders-100")
    assert steps.index("api-orders-100-healthy") < steps.index("stop-replication")


def test_the_preflight_checks_every_api_the_path_will_switch_and_not_one_already_switched():
    spec = example(apis=[api(), api(name="billing", record="billing.example.com")])
    transitions = [transition(a, b, spec) for a, b in path("baseline", "committed")]
    checks = [c for c in preflight(spec, transitions, []) if c.id == "apis-ready"]
    assert [(c.id, c.hook, c.args(spec)) for c in checks] == [
        ("apis-ready", "check_apis", {"apis": ["orders", "billing"]})
    ]
    done = ["api-orders-100-answered"]
    assert preflight(spec, transitions[-1:], done)[-1].args(spec) == {"apis": ["billing"]}
    assert preflight(spec, [transition("new-live", "rolled-back", spec)], []) == []


def test_the_rendered_tfvars_hold_the_api_in_its_zones_environment_with_the_phase_weight(tmp_path):
    spec = example(apis=[api(environment="new")])
    for phase, weight in (("new-live", 0), ("committed", 100), ("rolled-back", 0)):
        files = render_environments(spec, REPO / "terraform", phase=phase, output_dir=tmp_path)
        tfvars = {f.environment: json.loads(f.content) for f in files}
        assert tfvars["old"]["apis"] == {}
        rendered = tfvars["new"]["apis"]["orders"]
        assert rendered["new_weight"] == weight
        assert rendered["endpoints"]["new"] == {
            "target": "orders-new.example.com",
            "set_identifier": "turnout-new",
        }
        assert rendered["health_check"]["name"].endswith("turnout-api-orders-new")


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"weights": [50, 10, 100]}, "apis[0].weights", "must rise strictly and end at 100"),
        ({"weights": [10, 50]}, "apis[0].weights", "end at 100"),
        ({"zone_id": "not a zone"}, "apis[0].zone_id", "is not a Route 53 hosted zone id"),
        ({"record": "orders"}, "apis[0].record", "is not a DNS name"),
        ({"endpoints": {"old": "a.example.com", "new": "a.example.com"}}, "apis[0]", "the same"),
        ({"at": {"transition": "rollback"}}, "apis[0].at.transition", "new-live->committed"),
        ({"health_check": {"ip_address": "300.1.1.1"}}, "apis[0].health_check.ip_address", "IPv4"),
        (
            {"health_check": {"ip_address": "10.0.0.\u00b2"}},
            "apis[0].health_check.ip_address",
            "IPv4",
        ),
        ({"zone": "example.com"}, "apis[0]", "give exactly one of zone_id"),
        ({"zone_id": None}, "apis[0]", "neither is set"),
        ({"zone_id": None, "zone": "other.com"}, "apis[0]", "is not inside zone 'other.com'"),
        ({"zone_id": None, "zone": "not a zone"}, "apis[0].zone", "is not a DNS name"),
    ],
)
def test_a_bad_api_entry_is_one_paragraph_naming_the_field(change, field, words, tmp_path):
    document = load_spec(EXAMPLE).model_dump(mode="json", exclude_none=True)
    document["apis"] = [api(**change)]
    spec_file = tmp_path / "migration.yaml"
    spec_file.write_text(json.dumps(document))
    with pytest.raises(TurnoutError) as refused:
        load_spec(spec_file)
    message = str(refused.value)
    assert field in message and words in message, message
    assert "Traceback" not in message


def test_a_zone_named_by_dns_name_renders_as_zone_name_and_the_id_as_before(tmp_path):
    by_name = api(zone_id=None, zone="Example.com.")
    spec = example(apis=[by_name, api(name="billing", record="billing.example.com")])
    files = render_environments(spec, REPO / "terraform", phase="baseline", output_dir=tmp_path)
    rendered = json.loads(next(f.content for f in files if f.environment == "old"))["apis"]
    assert (rendered["orders"]["zone_id"], rendered["orders"]["zone_name"]) == (None, "example.com")
    assert (rendered["billing"]["zone_id"], rendered["billing"]["zone_name"]) == (
        "Z0123456789ABC",
        None,
    )


def test_the_example_spec_switches_the_sandbox_api_at_commit_in_two_steps():
    (orders,) = load_spec(EXAMPLE).apis
    assert (orders.zone, orders.zone_id) == ("sandbox.turnout.test", None)
    assert (orders.at.transition, orders.at.when, orders.weights) == (
        "new-live->committed",
        "pre",
        [50, 100],
    )
    steps = [s.id for s in transition("new-live", "committed", load_spec(EXAMPLE)).steps]
    assert steps.index("api-orders-100-healthy") < steps.index("stop-replication"), (
        "the API moves while a rollback is still possible"
    )


def test_two_apis_on_one_record_are_refused():
    with pytest.raises(ValueError, match="two APIs would fight over one record"):
        example(apis=[api(), api(name="again")])


def test_the_api_steps_are_hooks_of_the_built_in_folder():
    spec = example(apis=[api()])
    hooks = {
        s.hook for s in transition("new-live", "committed", spec).steps if isinstance(s, HookStep)
    }
    for name in ("verify_api_weights", "verify_api_healthy"):
        assert name in hooks and (REPO / "hooks" / f"{name}.py").is_file()
    assert (REPO / "hooks" / "check_apis.py").is_file()


@pytest.mark.parametrize("when", ["pre", "post"])
@pytest.mark.parametrize("zone_environment", ["old", "new"])
def test_a_weight_step_applies_only_the_zones_environment_whose_other_vars_stay_as_applied(
    tmp_path, when, zone_environment
):
    """The other environment is left out of an API step's apply because its tfvars are exactly
    those of the apply before: applying it could change nothing."""
    spec = example(
        apis=[
            api(
                environment=zone_environment,
                weights=[50, 100],
                at={"transition": "new-live->committed", "when": when},
            )
        ]
    )
    other = "new" if zone_environment == "old" else "old"
    current = transition("new-live", "committed", spec)
    previous = render_environments(
        spec,
        REPO / "terraform",
        phase="new-live",
        output_dir=tmp_path / "phase",
    )
    last_vars = {f.environment: json.loads(f.content) for f in previous}
    weight_steps = 0
    for index, step in enumerate(s for s in current.steps if isinstance(s, ApplyStep)):
        files = render_environments(
            spec,
            REPO / "terraform",
            phase="committed",
            output_dir=tmp_path / str(index),
            posture=step.posture,
        )
        rendered = {f.environment: json.loads(f.content) for f in files}
        if step.api_weight is not None:
            weight_steps += 1
            assert step.environments == (zone_environment,)
            assert _without_phase(rendered[other]) == _without_phase(last_vars[other])
        else:
            assert step.environments == ("old", "new")
        last_vars = {env: rendered[env] for env in step.environments} | {
            env: last_vars[env] for env in ("old", "new") if env not in step.environments
        }
    assert weight_steps == 2


def _without_phase(tfvars: dict) -> dict:
    """The tfvars but `migration.phase`, a label that no resource reads (only a validation)."""
    return {**tfvars, "migration": {**tfvars["migration"], "phase": None}}
