"""Replication mode read-across (docs/read-across.md): the spec's checks, the step table (no
replicator, the old consumers' mappings on the new streams enabled at mirrored and disabled only
after a rollback proved the new streams' tail read), and the tfvars it renders."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from turnout.deploy.posture import expected_destroys
from turnout.deploy.render import render_environments
from turnout.engine.compensation import compensation
from turnout.engine.state import TransitionProgress
from turnout.engine.status import read_across_status, status_text
from turnout.engine.steps import ApplyStep, HookStep, path, transition
from turnout.errors import SpecError
from turnout.spec.loader import load_spec
from turnout.spec.names import names
from turnout.spec.phases import posture_of
from turnout.verify.run import VerifyError, VerifyOptions, check_mode, since_window, verify

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "terraform" / "migration.yaml"
ROLE = "arn:aws:iam::111111111111:role/legacy-consumers"


KCL = {
    "kind": "kcl",
    "application": "app",
    "lease_table": "leases",
    "streams": ["clicks"],
    "read_across": {
        "role_arn": "arn:aws:iam::111111111111:role/app-reader",
        "lease_table": "app-leases-new-streams",
        "start_command": "app start --read-across",
        "stop_command": "app stop --read-across",
    },
}


def document(**replication) -> dict:
    doc = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    doc["replication"].update(mode="read-across", **replication)
    for consumer in doc["consumers"]["old"]:
        consumer["execution_role_arn"] = ROLE
        consumer["read_across_mapping"] = {"report_batch_item_failures": True}
    for stream in doc["streams"]:
        stream["encryption"] = "customer_managed"
    return doc


def write(tmp_path: Path, doc: dict) -> Path:
    spec = tmp_path / "migration.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    return spec


def refusal(tmp_path: Path, doc: dict) -> str:
    with pytest.raises(SpecError) as refused:
        load_spec(write(tmp_path, doc))
    message = str(refused.value)
    assert "Traceback" not in message and "\n" not in message.strip()
    return message


def test_copy_is_the_default_mode_and_an_unknown_mode_is_one_paragraph_naming_both(tmp_path):
    assert load_spec(EXAMPLE).replication.mode == "copy"
    doc = document()
    doc["replication"]["mode"] = "mirror"
    message = refusal(tmp_path, doc)
    assert "'replication.mode'" in message and "'mirror'" in message
    assert "'copy'" in message and "'read-across'" in message


@pytest.mark.parametrize(
    ("change", "field", "says"),
    [
        (
            lambda d: d["consumers"]["old"][0].pop("execution_role_arn"),
            "execution_role_arn",
            "required",
        ),
        (
            lambda d: d["consumers"]["old"][1].update(
                execution_role_arn="arn:aws:iam::222222222222:role/x"
            ),
            "execution_role_arn",
            "account 222222222222",
        ),
        (
            lambda d: d["streams"][2].update(encryption="aws_managed"),
            "encryption",
            "another account",
        ),
        (
            lambda d: d["consumers"]["old"][0].update(drain_evidence="metrics"),
            "drain_evidence",
            "markers",
        ),
        (
            lambda d: d["consumers"]["old"].append({**KCL, "read_across": None}),
            "read_across",
            "is required for the KCL application app",
        ),
        (
            lambda d: d["consumers"]["old"].append(
                {**KCL, "read_across": {**KCL["read_across"], "lease_table": "leases"}}
            ),
            "read_across.lease_table",
            "a table of its own",
        ),
        (
            lambda d: d["consumers"]["old"].append(
                {
                    **KCL,
                    "read_across": {
                        **KCL["read_across"],
                        "role_arn": "arn:aws:iam::222222222222:role/app-reader",
                    },
                }
            ),
            "read_across.role_arn",
            "account 222222222222",
        ),
        (
            lambda d: d["consumers"]["old"].append(
                {"kind": "custom", "name": "c", "hook": "c.py", "streams": ["clicks"]}
            ),
            "kind",
            "a custom consumer would miss every record",
        ),
        (
            lambda d: d["replication"].update(enabled_directions=["new_to_old"]),
            "enabled_directions",
            "runs none",
        ),
    ],
)
def test_what_read_across_cannot_serve_is_refused_naming_the_field(tmp_path, change, field, says):
    doc = document()
    if field == "enabled_directions":
        doc["phase"] = "mirrored"
    change(doc)
    message = refusal(tmp_path, doc)
    assert field in message and says in message


def test_read_across_transitions_run_no_replicator_and_toggle_the_mappings(tmp_path):
    spec = load_spec(write(tmp_path, document()))
    steps = {
        pair: transition(*pair, spec).steps
        for pair in [*path("baseline", "committed"), ("new-live", "rolled-back")]
    }
    hooks = {step.hook for chain in steps.values() for step in chain if isinstance(step, HookStep)}
    assert not hooks & {
        "verify_replication_flowing",
        "verify_replication_complete",
        "verify_replicator_drained",
    }
    applies = [step for chain in steps.values() for step in chain if isinstance(step, ApplyStep)]
    assert {step.posture.active_direction for step in applies} == {"none"}
    mirrored = [step.id for step in steps[("switched", "mirrored")]]
    assert mirrored.index("old-consumers-drained") < mirrored.index("old-consumers-read-new")
    commit = [step for step in steps[("new-live", "committed")] if not step.id.startswith("api-")]
    assert [step.id for step in commit] == [
        "new-consumers-running",
        "stop-read-across",
        "read-across-disabled",
        "stop-old-consumers",
    ]
    assert commit[1].posture.read_across == "disabled" and commit[1].posture.route_target == "new"


def test_the_read_across_switch_is_the_copy_switch_with_its_own_route_apply_and_no_step_twice(
    tmp_path,
):
    """The read-across tables reuse the copy-mode steps: a step added to the copy-mode switch
    (discard-baselines) must not push another one out, nor leave the copy route apply in."""
    spec = load_spec(write(tmp_path, document()))
    copy_ids = [step.id for step in transition("baseline", "switched", load_spec(EXAMPLE)).steps]
    switch = transition("baseline", "switched", spec).steps
    assert [step.id for step in switch] == copy_ids
    assert "discard-baselines" in copy_ids
    (route,) = [step for step in switch if step.id == "route-to-new"]
    assert (route.posture.route_target, route.posture.active_direction) == ("new", "none")
    assert route.posture.read_across == "absent"  # the mappings come at mirrored
    for pair in [*path("baseline", "committed"), ("new-live", "rolled-back")]:
        ids = [step.id for step in transition(*pair, spec).steps]
        assert len(ids) == len(set(ids)), pair


def test_an_api_switch_in_read_across_mode_keeps_the_mappings_enabled_and_no_replicator(tmp_path):
    """The example's API moves its weight at new-live->committed, before the mappings are
    disabled: its applies carry the read-across posture of new-live. With copy mode's posture
    they would start the replicator new->old (the old consumers would process every new record
    twice) and remove the old consumers' mappings on the new streams before the commit."""
    spec = load_spec(write(tmp_path, document()))
    commit = transition("new-live", "committed", spec).steps
    weights = [step for step in commit if isinstance(step, ApplyStep) and step.api_weight]
    assert [step.api_weight for step in weights] == [("orders", 50), ("orders", 100)]
    for step in weights:
        assert step.posture.active_direction == "none"
        assert step.posture.read_across == "enabled"
        assert step.posture.route_target == "new"


def test_a_read_across_rollback_disables_the_mappings_only_after_the_new_tail_was_read(tmp_path):
    spec = load_spec(write(tmp_path, document()))
    for live in ("switched", "mirrored", "new-live"):
        steps = transition(live, "rolled-back", spec).steps
        ids = [step.id for step in steps]
        postures = {step.id: step.posture for step in steps if isinstance(step, ApplyStep)}
        assert postures["read-across-before-flip"].read_across == "enabled"
        assert postures["route-back-to-old"].route_target == "old"
        assert postures["route-back-to-old"].read_across == "enabled"
        assert postures["stop-read-across"].read_across == "disabled"
        assert ids.index("old-consumers-drained") < ids.index("read-across-before-flip")
        assert (
            ids.index("route-back-to-old")
            < ids.index("new-streams-quiet")
            < ids.index("new-tail-read-across")
            < ids.index("stop-read-across")
            < ids.index("read-across-disabled")
        )


def test_the_old_tfvars_carry_each_consumers_mapping_on_the_new_streams_and_the_new_its_readers(
    tmp_path,
):
    spec = load_spec(write(tmp_path, document()))
    states = {}
    for phase in ("baseline", "switched", "mirrored", "new-live", "committed", "rolled-back"):
        rendered = render_environments(spec, REPO / "terraform", phase=phase, output_dir=tmp_path)
        old, new = (json.loads(file.content) for file in rendered)
        states[phase] = old["read_across"]["state"]
        assert old["replication"]["active_direction"] == "none"
        assert new["read_across"] == {"state": "absent", "mappings": {}, "reader_role_arns": [ROLE]}
        if states[phase] != "absent":
            assert old["read_across"]["mappings"]["legacy-audit-archiver/audit"] == {
                "function_name": "legacy-audit-archiver",
                "stream_arn": "arn:aws:kinesis:eu-west-1:222222222222:stream/audit",
                "batch_size": 100,
                "batching_window_seconds": 0,
                "report_batch_item_failures": True,
                "bisect_on_error": False,
            }
            assert len(old["read_across"]["mappings"]) == 3
    assert states == {
        "baseline": "absent",
        "switched": "absent",
        "mirrored": "enabled",
        "new-live": "enabled",
        "committed": "disabled",
        "rolled-back": "disabled",
    }


def test_a_kcl_applications_read_across_instance_is_let_read_the_new_streams_and_no_mapping_made(
    tmp_path,
):
    """The new streams' policy lets the instance's role read; the old environment gets no
    event source mapping for a KCL application (its instance is started by command)."""
    doc = document()
    doc["consumers"]["old"].append(KCL)
    spec = load_spec(write(tmp_path, doc))
    rendered = render_environments(spec, REPO / "terraform", phase="mirrored", output_dir=tmp_path)
    old, new = (json.loads(file.content) for file in rendered)
    assert new["read_across"]["reader_role_arns"] == sorted([ROLE, KCL["read_across"]["role_arn"]])
    assert not any(key.startswith("app/") for key in old["read_across"]["mappings"])


def test_a_kcl_applications_instance_starts_with_the_mappings_and_stops_after_them(tmp_path):
    """Started right after the apply that creates the Lambda consumers' read-across mappings
    (so the check that everything reads the new streams sees it), stopped after the check that
    they are disabled: at the commit, and at the end of a rollback, after the new tail was read."""
    doc = document()
    doc["consumers"]["old"].append(KCL)
    spec = load_spec(write(tmp_path, doc))

    def ids(from_phase: str, to_phase: str) -> list[str]:
        return [step.id for step in transition(from_phase, to_phase, spec).steps]

    mirror = ids("switched", "mirrored")
    assert mirror.index("old-consumers-read-new") + 1 == mirror.index("start-kcl-read-across")
    assert mirror.index("start-kcl-read-across") < mirror.index("read-across-enabled")
    commit = ids("new-live", "committed")
    assert commit.index("read-across-disabled") + 1 == commit.index("stop-kcl-read-across")
    for live in ("switched", "mirrored", "new-live"):
        back = ids(live, "rolled-back")
        assert (
            back.index("read-across-before-flip")
            < back.index("start-kcl-read-across")
            < back.index("read-across-enabled")
            < back.index("new-tail-read-across")
            < back.index("read-across-disabled")
            < back.index("stop-kcl-read-across")
        )
    assert "start-kcl-read-across" not in ids("mirrored", "new-live")
    without = load_spec(write(tmp_path, document()))
    assert not any(
        "kcl" in step.id
        for pair in (
            ("switched", "mirrored"),
            ("new-live", "committed"),
            ("new-live", "rolled-back"),
        )
        for step in transition(*pair, without).steps
    )


def test_copy_mode_renders_no_read_across():
    spec = load_spec(EXAMPLE)
    for file in render_environments(
        spec, REPO / "terraform", phase="mirrored", output_dir=Path("/tmp")
    ):
        assert json.loads(file.content)["read_across"] == {
            "state": "absent",
            "mappings": {},
            "reader_role_arns": [],
        }


def test_only_the_decommission_may_destroy_the_read_across_mappings():
    mapping = "aws_lambda_event_source_mapping.read_across["
    assert mapping in expected_destroys(posture_of("decommissioned", "read-across"), "old")
    for phase in ("mirrored", "committed", "rolled-back"):
        assert mapping not in expected_destroys(posture_of(phase, "read-across"), "old")


def test_a_failed_read_across_rollback_says_the_mappings_stay_until_the_tail_is_read(tmp_path):
    spec = load_spec(write(tmp_path, document()))
    current = transition("mirrored", "rolled-back", spec)
    failed = next(step for step in current.steps if step.id == "new-tail-read-across")
    progress = TransitionProgress("mirrored", "rolled-back", "run", "now", ["pause-new-consumers"])
    message = compensation(current, failed, progress, RuntimeError("markers not acknowledged"))
    assert "never disabled before those consumers have processed the new streams' tail" in message
    assert "replication" not in message


class OldLambda:
    """The old account's Lambda: each function's mappings (its own and the read-across ones)."""

    def __init__(self, mappings: dict[str, list[dict]]) -> None:
        self.mappings = mappings

    def list_event_source_mappings(self, FunctionName: str, **_) -> dict:
        return {"EventSourceMappings": self.mappings.get(FunctionName, [])}


class OldOnly:
    def __init__(self, lambda_client) -> None:
        self.lambda_client = lambda_client

    def client(self, environment: str, service: str):
        assert (environment, service) == ("old", "lambda")
        return self.lambda_client


def test_status_shows_each_read_across_mapping_state_and_none_in_copy_mode(tmp_path):
    spec = load_spec(write(tmp_path, document()))
    new, old = names(spec, "new"), names(spec, "old")

    def mapping(stream: str, state: str, side=new) -> dict:
        return {
            "UUID": f"{stream}-{state}",
            "EventSourceArn": side.stream_arn(stream),
            "State": state,
        }

    aws = OldOnly(
        OldLambda(
            {
                "legacy-clicks-processor": [
                    mapping("clicks", "Enabled", old),  # its own mapping: not read-across
                    mapping("clicks", "Disabled"),
                    mapping("orders", "Disabled"),
                ],
                "legacy-audit-archiver": [],
            }
        )
    )
    entries = read_across_status(spec, aws)
    assert entries == [
        {"consumer": "legacy-clicks-processor", "stream": "clicks", "state": "Disabled"},
        {"consumer": "legacy-clicks-processor", "stream": "orders", "state": "Disabled"},
        {"consumer": "legacy-audit-archiver", "stream": "audit", "state": "absent"},
    ]
    document_ = {
        "migration": "m",
        "live_phase": "committed",
        "desired_phase": "committed",
        "in_progress": None,
        "lock": None,
        "route": {},
        "replication": {},
        "consumers": {},
        "read_across": entries,
        "journal": [],
    }
    assert (
        "read-across (the old consumers' mappings on the new streams): legacy-clicks-processor "
        "on new/clicks Disabled, legacy-clicks-processor on new/orders Disabled, "
        "legacy-audit-archiver on new/audit absent"
    ) in status_text(document_)
    copy_spec = load_spec(EXAMPLE)
    assert read_across_status(copy_spec, OldOnly(None)) == []
    assert "read-across" not in status_text({**document_, "read_across": []})


def test_the_copy_comparison_refuses_read_across_mode_before_reading_anything(tmp_path):
    """Its old streams hold no copy of the new ones: every new record would count as missing.
    `turnout verify` runs the read-across proof instead (tests/unit/test_verify_read_across.py)."""
    spec = load_spec(write(tmp_path, document()))
    with pytest.raises(VerifyError) as refused:
        verify(spec, None, since_window(0.0), VerifyOptions())
    message = " ".join(str(refused.value).split())
    assert "replication.mode is read-across" in message and "Nothing was read" in message
    check_mode(load_spec(EXAMPLE))  # copy mode: verified as before


def test_a_raised_retention_keeps_the_read_across_posture_to_its_restore(tmp_path):
    """cutover.raise_retention_hours: the raise, every later apply and the restore at the commit
    or rollback keep the read-across mappings as the phase wants them and run no replicator."""
    doc = document()
    doc["cutover"]["raise_retention_hours"] = 200
    spec = load_spec(write(tmp_path, doc))
    for pair in [*path("baseline", "committed"), ("new-live", "rolled-back")]:
        applies = [s for s in transition(*pair, spec).steps if isinstance(s, ApplyStep)]
        assert {step.posture.active_direction for step in applies} == {"none"}, pair
        if pair[1] in ("committed", "rolled-back"):
            *raised, restore = applies
            assert restore.id == "restore-retention" and not restore.posture.retention_raised
            assert restore.posture.read_across == "disabled"
            assert all(step.posture.retention_raised for step in raised), pair
        elif pair[0] != "baseline":
            assert all(step.posture.retention_raised for step in applies), pair
