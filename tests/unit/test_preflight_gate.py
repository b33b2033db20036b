"""The preflight gate before each cutover transition (docs/preflight.md, "Before every
transition"): a fail refuses it, a warning or unknown too unless accepted with a reason, an
acceptance is journaled, bad --accept input is one paragraph.

The engine runs here with in-process fakes for its state table, lock, Terraform and the
transitions' own hooks; the gate itself is the real built-in hook `check_preflight` running the
real checks, reading the consumers' mappings from a fake Lambda client.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from botocore.exceptions import ConnectionClosedError

from turnout.engine.hook_runner import HookRunner
from turnout.engine.runner import CutoverEngine, CutoverFailed
from turnout.engine.state import MigrationState
from turnout.engine.status import status_text
from turnout.engine.steps import CHECKS_BEFORE, FORWARD, gate, path, transition
from turnout.preflight.gate import AcceptanceInvalid, decide, parse_acceptances
from turnout.preflight.registry import CHECKS
from turnout.preflight.result import Check, Verdict
from turnout.preflight.runner import PreflightReport
from turnout.spec.loader import load_spec
from turnout.spec.names import names

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "terraform" / "migration.yaml"


# ---------------------------------------------------------------- fakes
class FakeStore:
    def __init__(self) -> None:
        self.state = MigrationState("baseline", 1)
        self.entries: list[dict] = []
        self.saves = 0

    def load(self) -> MigrationState:
        return self.state

    def save(self, state: MigrationState, expected_version: int) -> MigrationState:
        self.saves += 1
        state.version = expected_version + 1
        self.state = state
        return state

    def journal(self, run_id: str, kind: str, action: str, **details) -> None:
        self.entries.append({"kind": kind, "action": action, "details": details})

    def read_journal(self, limit=None, newest_first=True) -> list[dict]:
        return list(reversed(self.entries)) if newest_first else list(self.entries)

    def phase_reached_at(self, phase: str) -> None:
        return None

    def kinds(self) -> list[tuple[str, str]]:
        return [(entry["kind"], entry["action"]) for entry in self.entries]


class FakeLock:
    owner = "tester"
    takeover_reason = None

    def acquire(self, run_id):
        return None

    def start_heartbeat(self):
        pass

    def check(self):
        pass

    def release(self):
        pass


class FakeApplier:
    def __init__(self) -> None:
        self.applied: list[str] = []

    def apply(self, phase, posture, label, environments=("old", "new")):
        self.applied.append(label)
        return {}

    def plan_texts(self, phase, posture, label):
        return []


class StepHooks:
    """The transitions' hooks pass and are recorded; the gate is the real built-in hook."""

    def __init__(self) -> None:
        self.real = HookRunner(REPO / "hooks")
        self.ran: list[str] = []
        self.project_root = REPO

    def run(self, step, spec, context) -> dict:
        if step.hook == "check_preflight":
            quick = replace(step, args=lambda spec, args=step.args: {**args(spec), **REREAD_FAST})
            return self.real.run(quick, spec, context)
        self.ran.append(step.id)
        return {}


REREAD_FAST = {"reread_seconds": 0.01, "unknown_wait_seconds": 0.05}  # 5 reads again


class FakeLambda:
    def __init__(self, mappings: dict[str, list[dict]], failing_calls: int = 0) -> None:
        self.mappings = mappings
        self.failing_calls = failing_calls  # the first calls fail as a dropped connection does
        self.calls = 0

    def list_event_source_mappings(self, FunctionName: str, **_) -> dict:
        self.calls += 1
        if self.calls <= self.failing_calls:
            raise ConnectionClosedError(endpoint_url="https://lambda.eu-west-1.amazonaws.com")
        return {"EventSourceMappings": self.mappings.get(FunctionName, [])}


class FakeAws:
    """Lambda clients with canned mappings; DynamoDB is never reached (the store is fake)."""

    def __init__(self, lambdas: dict[str, FakeLambda]) -> None:
        self.lambdas = lambdas

    def client(self, environment: str, service: str):
        return self.lambdas[environment] if service == "lambda" else object()


def mappings_of(spec, environment: str, position: str = "TRIM_HORIZON") -> FakeLambda:
    place = names(spec, environment)
    return FakeLambda(
        {
            consumer.function_name: [
                {
                    "UUID": f"uuid-{consumer.function_name}-{stream}",
                    "EventSourceArn": place.stream_arn(stream),
                    "StartingPosition": position,
                    "MaximumRetryAttempts": -1,
                    "MaximumRecordAgeInSeconds": -1,
                }
                for stream in consumer.streams
            ]
            for consumer in getattr(spec.consumers, environment)
        }
    )


def example_spec(**cutover):
    spec = load_spec(EXAMPLE).model_copy(update={"data_stores": []})
    if cutover:
        spec = spec.model_copy(update={"cutover": spec.cutover.model_copy(update=cutover)})
    return spec


def engine_for(spec, new_position: str = "TRIM_HORIZON"):
    aws = FakeAws({"old": mappings_of(spec, "old"), "new": mappings_of(spec, "new", new_position)})
    engine = CutoverEngine.__new__(CutoverEngine)  # the real constructor reaches DynamoDB
    engine.spec, engine.aws, engine.applier = spec, aws, FakeApplier()
    engine.hooks, engine.progress = StepHooks(), lambda message: None
    engine.allow_destroy, engine.accepted = False, {}
    engine.clock = lambda: 0.0
    engine.store, engine.lock = FakeStore(), FakeLock()
    return engine


# ---------------------------------------------------------------- the table
def test_every_check_in_the_table_is_a_registered_check_and_every_transition_exists():
    spec = example_spec()
    names_known = {transition(a, b, spec).name for a, b in path("baseline", "committed")}
    for name, (checks, environments) in CHECKS_BEFORE.items():
        assert name in names_known | {"rollback"}
        assert set(checks) <= set(CHECKS), checks
        assert set(environments) <= {"old", "new"}


def test_the_transitions_that_enable_replication_or_resume_consumers_are_guarded():
    spec = example_spec()
    guarded = {
        transition(a, b, spec).name: gate(transition(a, b, spec), {})
        for a, b in path("baseline", FORWARD[-1])
    }
    rollback = gate(transition("mirrored", "rolled-back", spec), {})
    assert guarded["new-live->committed"] is None and guarded["committed->decommissioned"] is None
    before_switch = guarded["baseline->switched"].args(spec)["checks"]
    assert {"starting-positions", "consumer-retries", "retention-window"} <= set(before_switch)
    for step in (guarded["switched->mirrored"], rollback, guarded["baseline->switched"]):
        assert {"replicator-retries", "direction-flag-rate"} <= set(step.args(spec)["checks"])
    assert guarded["mirrored->new-live"].args(spec) == {
        "transition": "mirrored->new-live",
        "checks": ["starting-positions", "consumer-retries"],
        "environments": ["new"],
        "accepted": {},
    }


# ---------------------------------------------------------------- the decision
def row(name: str, verdict: Verdict) -> Check:
    return Check(name, verdict, f"{name} measured something", f"fix {name}")


def test_a_fail_refuses_even_when_accepted():
    report = PreflightReport((), [row("retention-window", Verdict.FAIL)])
    with pytest.raises(Exception) as refused:
        decide(report, {"retention-window": "we are brave"}, "baseline->switched")
    message = str(refused.value)
    assert "refused before baseline->switched" in message
    assert "retention-window failed (a fail cannot be accepted)" in message
    assert "fix retention-window" in message and "\n" not in message


@pytest.mark.parametrize("verdict", [Verdict.WARN, Verdict.UNKNOWN])
def test_a_warning_or_unknown_refuses_unless_accepted(verdict):
    report = PreflightReport(("new",), [row("consumer-retries", verdict)])
    with pytest.raises(Exception) as refused:
        decide(report, {}, "mirrored->new-live")
    assert f"consumer-retries is {verdict.value}" in str(refused.value)
    assert '--accept consumer-retries --reason "why it is safe"' in str(refused.value)
    outcome = decide(report, {"consumer-retries": "DLQ replayed"}, "mirrored->new-live")
    assert outcome["accepted"] == [
        {
            "check": "consumer-retries",
            "verdict": verdict.value,
            "fact": "consumer-retries measured something",
            "reason": "DLQ replayed",
        }
    ]


def test_an_acceptance_of_a_passing_check_is_not_recorded_as_used():
    report = PreflightReport((), [row("retention-window", Verdict.PASS)])
    assert decide(report, {"retention-window": "x"}, "baseline->switched")["accepted"] == []


# ---------------------------------------------------------------- bad --accept input
@pytest.mark.parametrize(
    ("accept", "reasons", "says"),
    [
        (["retention-windw"], ["r"], "no preflight check has that name; valid: consumer-retries"),
        (["retention-window"], [], "needs --reason"),
        (["retention-window"], ["   "], "--reason is empty"),
        ([], ["why"], "--reason was given without --accept"),
        (["retention-window", "consumer-retries", "starting-positions"], ["a", "b"], "3 --accept"),
    ],
)
def test_bad_accept_input_is_one_paragraph(accept, reasons, says):
    with pytest.raises(AcceptanceInvalid) as refused:
        parse_acceptances(accept, reasons)
    message = str(refused.value)
    assert says in message and "Nothing was changed" in message and "\n" not in message


def test_acceptances_pair_in_order_or_share_one_reason():
    assert parse_acceptances(["consumer-retries", "retention-window"], ["a", "b"]) == {
        "consumer-retries": "a",
        "retention-window": "b",
    }
    assert parse_acceptances(["consumer-retries", "retention-window"], [" c "]) == {
        "consumer-retries": "c",
        "retention-window": "c",
    }


# ---------------------------------------------------------------- the engine
def test_a_failing_check_refuses_the_transition_and_changes_nothing():
    engine = engine_for(example_spec(), new_position="LATEST")
    with pytest.raises(CutoverFailed) as refused:
        engine.run("switched")
    message = str(refused.value)
    assert "starting-positions failed" in message and "LATEST" in message
    assert "baseline->switched did not start, the live phase is still 'baseline'" in message
    assert "\n" not in message
    assert engine.store.saves == 0 and engine.store.state.phase == "baseline"
    assert engine.hooks.ran == [] and engine.applier.applied == [], "nothing ran"
    assert ("gate", "refused") in engine.store.kinds()


def test_a_warning_is_refused_then_accepted_journaled_and_shown_by_status():
    engine = engine_for(example_spec(planned_window_hours=None))  # retention-window warns
    with pytest.raises(CutoverFailed, match="retention-window is warn"):
        engine.run("switched")
    assert engine.store.saves == 0 and engine.hooks.ran == []

    reason = "window agreed with the on-call: 12 h at most"
    report = engine.run("switched", accepted={"retention-window": reason})
    assert report.end_phase == "switched" and engine.store.state.phase == "switched"
    [accepted] = [
        e for e in engine.store.entries if (e["kind"], e["action"]) == ("gate", "accepted")
    ]
    assert accepted["details"]["check"] == "retention-window"
    assert accepted["details"]["verdict"] == "warn" and accepted["details"]["reason"] == reason
    document = {
        "migration": "m",
        "live_phase": "switched",
        "desired_phase": "switched",
        "in_progress": None,
        "lock": None,
        "route": {},
        "replication": {},
        "consumers": {},
        "journal": [
            {
                "at": "t",
                "kind": "gate",
                "action": "accepted",
                "who": "tester",
                **accepted["details"],
            }
        ],
    }
    assert f'retention-window (warn) because "{reason}"' in status_text(document)


def test_an_unreadable_environment_is_unknown_and_refused_unless_accepted():
    spec = example_spec()
    engine = engine_for(spec)
    engine.aws.lambdas["new"] = FakeLambda({})  # no mapping shows where the consumers start
    with pytest.raises(CutoverFailed, match="starting-positions is unknown"):
        engine.run("switched")
    assert engine.store.saves == 0
    accepted = {"starting-positions": "checked by hand", "consumer-retries": "checked by hand"}
    assert engine.run("switched", accepted=accepted).end_phase == "switched"


def test_a_read_that_fails_for_a_moment_is_read_again_and_the_gate_passes():
    spec = example_spec()
    engine = engine_for(spec)
    flaky = mappings_of(spec, "new")
    flaky.failing_calls = 2
    engine.aws.lambdas["new"] = flaky
    assert engine.run("switched").end_phase == "switched"
    assert flaky.calls > 2


def test_a_read_that_keeps_failing_is_unknown_and_refused_after_the_rereads():
    spec = example_spec()
    engine = engine_for(spec)
    down = mappings_of(spec, "new")
    down.failing_calls = 10_000
    engine.aws.lambdas["new"] = down
    with pytest.raises(CutoverFailed, match="starting-positions is unknown"):
        engine.run("switched")
    assert engine.store.saves == 0
    consumers = len(spec.consumers.new)
    assert down.calls == 6 * consumers  # 1 read and 5 again, of each Lambda consumer


def test_the_gate_runs_before_each_transition_of_a_longer_run():
    engine = engine_for(example_spec())
    engine.run("new-live")
    passed = [
        e["details"]["transition"]
        for e in engine.store.entries
        if (e["kind"], e["action"]) == ("gate", "passed")
    ]
    assert passed == ["baseline->switched", "switched->mirrored", "mirrored->new-live"]


def test_the_dry_run_lists_the_checks_of_each_transition():
    engine = engine_for(example_spec())
    engine.accepted = {"consumer-retries": "why"}
    lines = engine.describe("mirrored")
    gates = [line for line in lines if "preflight-checks (before it starts)" in line]
    assert len(gates) == 2
    assert "starting-positions, consumer-retries, retention-window" in gates[0]
    assert "(accepted: consumer-retries)" in gates[0]
    assert "replicator-retries, direction-flag-rate (reads the spec)" in gates[1]


def test_a_refusal_after_earlier_transitions_of_the_run_says_where_the_run_took_the_phase():
    engine = engine_for(example_spec(), new_position="LATEST")
    accepted = {"starting-positions": "no: a fail cannot be accepted"}
    engine.store.state.phase = "switched"  # the LATEST mapping was made after the switch
    with pytest.raises(CutoverFailed) as refused:
        engine.run("new-live", accepted=accepted)
    message = str(refused.value)
    assert "starting-positions failed (a fail cannot be accepted)" in message
    assert "this run first took the live phase from 'switched' to 'mirrored'" in message
    assert "mirrored->new-live did not start, the live phase is still 'mirrored'" in message
    assert engine.store.state.phase == "mirrored" and engine.store.state.transition is None
    assert "resume-new-consumers" not in engine.hooks.ran
