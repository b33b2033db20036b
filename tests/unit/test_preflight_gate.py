"""The preflight gate before each cutover transition (docs/preflight.md, "Before every
transition"): a fail refuses it, a warning or unknown too unless accepted with a reason, an
acceptance is journaled, bad --accept input is one paragraph.

The engine runs here with in-process fakes for its state table, lock, Terraform and the
transitions' own hooks; the gate itself is the real built-in hook `check_preflight` running the
real checks, reading the consumers' mappings from a fake Lambda client.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from botocore.exceptions import ConnectionClosedError

from turnout.aws.credentials import WrongAccount
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
        self.switch_started: str | None = None  # the journal's first start of the switch

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

    def transition_first_started_at(self, transition: str) -> str | None:
        return self.switch_started if transition == "baseline->switched" else None

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

    def get_account_settings(self) -> dict:  # Lambda's default quota, nothing reserved
        limits = {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000}
        return {"AccountLimit": limits}

    def get_function(self, FunctionName: str) -> dict:
        return {"Concurrency": {}}

    def list_event_source_mappings(self, FunctionName: str, **_) -> dict:
        self.calls += 1
        if self.calls <= self.failing_calls:
            raise ConnectionClosedError(endpoint_url="https://lambda.eu-west-1.amazonaws.com")
        return {"EventSourceMappings": self.mappings.get(FunctionName, [])}


class FakeKinesis:
    """Each stream one shard; `oldest[stream]` = (age in seconds, shards behind its tip) or
    absent for an empty stream. Retention 24 h."""

    def __init__(self) -> None:
        self.oldest: dict[str, float] = {}

    def describe_stream_summary(self, StreamName: str) -> dict:
        return {"StreamDescriptionSummary": {"RetentionPeriodHours": 24}}

    def list_shards(self, StreamName: str = "", **_) -> dict:
        return {"Shards": [{"ShardId": "shardId-000000000000"}]}

    def get_shard_iterator(self, StreamName: str, **_) -> dict:
        return {"ShardIterator": StreamName}

    def get_records(self, ShardIterator: str, Limit: int) -> dict:
        age = self.oldest.get(ShardIterator)
        if age is None:
            return {"Records": [], "MillisBehindLatest": 0}
        record = {"SequenceNumber": "1", "ApproximateArrivalTimestamp": 1e9}
        return {"Records": [record], "MillisBehindLatest": int(age * 1000)}


class NoMetrics:
    """CloudWatch without a PutRecords.Latency datapoint: hot-keys times ListShards instead."""

    def get_metric_data(self, **_) -> dict:
        return {"MetricDataResults": []}


class FakeAws:
    """Lambda clients with canned mappings, one Kinesis of the new streams; DynamoDB is never
    reached (the store is fake)."""

    def __init__(self, lambdas: dict[str, FakeLambda]) -> None:
        self.lambdas = lambdas
        self.kinesis = FakeKinesis()

    def caller(self, environment: str) -> str:
        return f"arn:aws:sts::{environment}:assumed-role/deploy/turnout"

    def client(self, environment: str, service: str):
        if service == "kinesis":
            return self.kinesis
        if service == "cloudwatch":
            return NoMetrics()
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
    engine.service_clock = time.time  # the journal's
    aws.clock = lambda: 0.0  # the services', which the checks compare with
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
    assert "retention-clock" in guarded["switched->mirrored"].args(spec)["checks"]
    for step in (guarded["baseline->switched"], guarded["switched->mirrored"]):
        assert step.args(spec)["checks"][0] == "account-identity"
        assert "lambda-concurrency" in step.args(spec)["checks"]
    # the rollback gate reads no environment: no live check is listed that would not run
    assert rollback.args(spec)["environments"] == []
    assert not {"account-identity", "lambda-concurrency"} & set(rollback.args(spec)["checks"])
    assert guarded["mirrored->new-live"].args(spec) == {
        "transition": "mirrored->new-live",
        "checks": ["account-identity", "starting-positions", "consumer-retries", "retention-clock"],
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
        (
            ["retention-windw"],
            ["r"],
            "no preflight check has that name; valid: account-identity, aggregated-records, consumer-",
        ),
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
    assert "lambda-concurrency, retention-clock (reads the spec + the new environment)" in gates[1]


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


def at_timestamp_mappings(spec, stamp: float) -> FakeLambda:
    lam = mappings_of(spec, "new")
    for found in lam.mappings.values():
        for one in found:
            one.update(StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=stamp)
    return lam


SWITCH = "2026-03-02T10:00:00+00:00"  # 1772445600.0
SWITCH_EPOCH = 1772445600.0


def test_a_new_consumer_starting_after_the_journaled_switch_is_refused_naming_both_times():
    spec = example_spec()
    engine = engine_for(spec)
    engine.store.state.phase, engine.store.switch_started = "mirrored", SWITCH
    engine.aws.lambdas["new"] = at_timestamp_mappings(spec, SWITCH_EPOCH + 90)
    with pytest.raises(CutoverFailed) as refused:
        engine.run("new-live")
    message = str(refused.value)
    assert "starting-positions failed" in message
    assert "starts AT_TIMESTAMP 2026-03-02T10:01:30+00:00, later than the switch, which " in (
        message
    )
    assert "started at 2026-03-02T10:00:00+00:00" in message
    assert engine.store.state.phase == "mirrored" and engine.store.saves == 0


def test_a_new_consumer_starting_no_later_than_the_journaled_switch_passes_the_gate():
    spec = example_spec()
    engine = engine_for(spec)
    engine.store.state.phase, engine.store.switch_started = "mirrored", SWITCH
    engine.aws.lambdas["new"] = at_timestamp_mappings(spec, SWITCH_EPOCH - 1)
    engine.run("new-live")
    assert engine.store.state.phase == "new-live"
    assert "resume-new-consumers" in engine.hooks.ran


def test_a_new_consumer_starting_in_the_future_is_refused_before_the_switch():
    spec = example_spec()
    engine = engine_for(spec)
    engine.aws.clock = lambda: SWITCH_EPOCH
    engine.aws.lambdas["new"] = at_timestamp_mappings(spec, SWITCH_EPOCH + 3600)
    with pytest.raises(CutoverFailed, match=r"later than now .* the switch has not started"):
        engine.run("switched")
    assert engine.store.state.phase == "baseline" and engine.store.saves == 0


# ---------------------------------------------------------------- the retention clock
def test_a_paused_new_stream_whose_oldest_record_reached_retention_refuses_new_live():
    spec = example_spec()
    engine = engine_for(spec)
    engine.store.state.phase = "mirrored"
    orders = names(spec, "new").stream("orders")
    engine.aws.kinesis.oldest[orders] = 24 * 3600 - 60  # a minute before retention
    with pytest.raises(CutoverFailed) as refused:
        engine.run("new-live", accepted={"retention-clock": "a fail cannot be accepted"})
    message = str(refused.value)
    assert "retention-clock failed (a fail cannot be accepted)" in message
    assert "orders: its oldest record (shardId-000000000000) is 24.0 h old, 100% of its " in (
        message
    )
    assert "records written to it before this one are gone (how many is unknown: " in message
    assert "its paused consumers would start after that gap" in message
    assert "resume-new-consumers" not in engine.hooks.ran
    assert engine.store.state.phase == "mirrored" and engine.store.saves == 0


def test_a_paused_new_stream_above_80_percent_of_retention_is_refused_unless_accepted():
    spec = example_spec()
    engine = engine_for(spec)
    engine.store.state.phase = "mirrored"
    engine.aws.kinesis.oldest[names(spec, "new").stream("clicks")] = 20 * 3600
    with pytest.raises(CutoverFailed) as refused:
        engine.run("new-live")
    assert "retention-clock is warn: clicks: its oldest record" in str(refused.value)
    assert "83% of its 24.0 h retention" in str(refused.value)
    assert "4.0 h left before Kinesis trims it" in str(refused.value)
    engine.run("new-live", accepted={"retention-clock": "consumers enabled now, 4 h to spare"})
    assert engine.store.state.phase == "new-live"
    accepted = [e for e in engine.store.entries if (e["kind"], e["action"]) == ("gate", "accepted")]
    assert accepted[0]["details"]["check"] == "retention-clock"


def test_credentials_of_the_wrong_account_refuse_the_switch_even_with_every_row_accepted():
    engine = engine_for(example_spec())
    old = engine.spec.environments.old.account_id

    def caller(environment: str) -> str:
        expected = getattr(engine.spec.environments, environment).account_id
        if expected == old:
            return f"arn:aws:sts::{old}:assumed-role/deploy/turnout"
        raise WrongAccount("wrong", old, expected, f"arn:aws:sts::{old}:assumed-role/deploy/x")

    engine.aws.caller = caller
    accepted = {name: "accepted" for name in CHECKS}
    with pytest.raises(
        CutoverFailed, match=r"account-identity failed \(a fail cannot be accepted\)"
    ):
        engine.run("switched", accepted=accepted)
    assert engine.store.saves == 0, "the migration state is as it was"
