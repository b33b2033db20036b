"""Pausing and resuming consumers without AWS: asynchronous mapping states (AWS's Disabling /
Enabling / Updating, which the emulator never shows), KCL commands and custom consumers' hooks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from fakes_drain import PHYSICAL, FakeClock, FakeKinesis, FakeLambda, make_spec

from turnout.aws.mappings import settle_mapping
from turnout.hooks import HookContext, HookError, HookFailed, load_hook

REPO = Path(__file__).resolve().parents[2]
ARN = f"arn:aws:kinesis:eu-west-1:111111111111:stream/{PHYSICAL}"


class FakeAws:
    def __init__(self, clients: dict[str, object]) -> None:
        self.clients = clients

    def client(self, environment: str, service: str) -> object:
        return self.clients[service]


def make_context(consumers: list[dict], tmp_path: Path, **kwargs) -> tuple[HookContext, dict]:
    clock = FakeClock()
    kinesis = FakeKinesis(clock)
    kinesis.create(PHYSICAL)
    lambda_ = FakeLambda()
    clients = {"kinesis": kinesis, "lambda": lambda_}
    messages: list[str] = []
    context = HookContext(
        spec=make_spec(consumers),
        aws=FakeAws(clients),
        phase_from="baseline",
        phase_to="switched",
        project_root=tmp_path,
        progress=messages.append,
        sleep=clock.sleep,
        clock=clock.time,
        **kwargs,
    )
    return context, {**clients, "clock": clock, "messages": messages}


def hook(name: str, args: dict):
    return load_hook(REPO / "hooks", name, args)


LAMBDA = {"kind": "lambda", "function_name": "fn", "streams": ["clicks"]}


def test_disabling_waits_through_aws_asynchronous_states():
    clock = FakeClock()
    lambda_ = FakeLambda()
    lambda_.add("m-1", "fn", ARN)
    lambda_.busy["m-1"] = 1  # ResourceInUseException once (an update in progress)
    lambda_.transitions["m-1"] = ["Disabling", "Disabling", "Disabled"]
    messages: list[str] = []
    outcome = settle_mapping(
        lambda_,
        "m-1",
        False,
        timeout_seconds=60,
        clock=clock.time,
        sleep=clock.sleep,
        progress=messages.append,
        poll_seconds=2,
    )
    assert outcome["before"] == "Enabled" and outcome["after"] == "Disabled"
    assert outcome["changed"] is True
    assert lambda_.updates == [("m-1", False)]  # disabled in place, never recreated
    assert any("Disabling" in message for message in messages)


def test_a_consumers_mappings_are_changed_together_and_waited_for_together(tmp_path):
    """AWS takes a while per mapping (Enabling); resuming three mappings waits that while
    once, not three times."""
    two_streams = {"kind": "lambda", "function_name": "fn", "streams": ["clicks"]}
    context, fakes = make_context([two_streams, {**two_streams, "function_name": "fn2"}], tmp_path)
    for uuid, function in (("m-1", "fn"), ("m-2", "fn"), ("m-3", "fn2")):
        fakes["lambda"].add(uuid, function, ARN, state="Disabled")
        fakes["lambda"].transitions[uuid] = ["Enabling", "Enabled"]
    data = hook("resume_consumers", {"environment": "old", "poll_seconds": 2}).run(context)
    assert [m["after"] for c in data["consumers"] for m in c["mappings"]] == ["Enabled"] * 3
    assert [u for u, _ in fakes["lambda"].updates] == ["m-1", "m-2", "m-3"]
    assert fakes["clock"].sleeps == [2, 2]  # one wait for all, not one per mapping


def test_a_mapping_that_never_settles_times_out():
    clock = FakeClock()
    lambda_ = FakeLambda()
    lambda_.add("m-1", "fn", ARN)
    lambda_.transitions["m-1"] = ["Enabling"] * 1000
    lambda_.mappings["m-1"]["State"] = "Disabled"
    with pytest.raises(TimeoutError, match="still Enabling after 10 s"):
        settle_mapping(
            lambda_, "m-1", True, timeout_seconds=10, clock=clock.time, sleep=clock.sleep
        )


def test_pause_hook_reports_a_mapping_stuck_in_disabling_and_fails(tmp_path):
    context, fakes = make_context([LAMBDA], tmp_path)
    fakes["lambda"].add("m-1", "fn", ARN)
    fakes["lambda"].transitions["m-1"] = ["Disabling"] * 1000
    with pytest.raises(HookFailed, match="still Disabling") as failure:
        hook("pause_consumers", {"environment": "old", "settle_timeout_seconds": 30}).run(context)
    assert failure.value.data["consumers"][0]["mappings"][0]["uuid"] == "m-1"
    assert "waiting for mapping m-1 to become Disabled" in fakes["messages"][0]


def test_a_mapping_still_disabling_is_not_paused(tmp_path):
    context, fakes = make_context([LAMBDA], tmp_path)
    fakes["lambda"].add("m-1", "fn", ARN, state="Disabling")
    with pytest.raises(HookFailed, match=r"m-1 on .* is Disabling"):
        hook("verify_consumers_paused", {"environment": "old"}).run(context)


def test_enhanced_fan_out_mappings_count_as_reading_the_stream(tmp_path):
    context, fakes = make_context([LAMBDA], tmp_path)
    fakes["lambda"].add("m-1", "fn", f"{ARN}/consumer/efo:1700000000", state="Disabled")
    fakes["lambda"].add("m-2", "fn", f"{ARN}-other", state="Enabled")
    data = hook("verify_consumers_paused", {"environment": "old"}).run(context)
    assert [m["uuid"] for m in data["consumers"][0]["mappings"]] == ["m-1"]


def kcl(pause: str | None, resume: str | None) -> dict:
    return {
        "kind": "kcl",
        "application": "app",
        "lease_table": "app-leases",
        "streams": ["clicks"],
        "pause_command": pause,
        "resume_command": resume,
    }


def test_kcl_pause_command_runs_and_a_failing_resume_command_is_named(tmp_path):
    context, _ = make_context([kcl("echo paused > state.txt", "echo oops >&2; exit 3")], tmp_path)
    data = hook("pause_consumers", {"environment": "old"}).run(context)
    assert data["consumers"][0]["exit_code"] == 0
    assert (tmp_path / "state.txt").read_text() == "paused\n"
    with pytest.raises(HookFailed, match=r"`echo oops >&2; exit 3` exited with 3 \(oops\)"):
        hook("resume_consumers", {"environment": "old"}).run(context)


def test_kcl_without_a_pause_command_cannot_be_paused(tmp_path):
    context, _ = make_context([kcl(None, None)], tmp_path)
    with pytest.raises(HookFailed, match="declares no pause_command"):
        hook("pause_consumers", {"environment": "old"}).run(context)


def test_kcl_command_that_hangs_is_stopped_at_its_timeout(tmp_path):
    context, _ = make_context([kcl("sleep 30", None)], tmp_path)
    with pytest.raises(HookFailed, match="did not finish within 1 s"):
        hook("pause_consumers", {"environment": "old", "command_timeout_seconds": 1}).run(context)


def test_kcl_dry_run_runs_nothing(tmp_path):
    context, _ = make_context([kcl("touch ran", None)], tmp_path, dry_run=True)
    data = hook("pause_consumers", {"environment": "old"}).run(context)
    assert data["consumers"][0]["would_run"] is True
    assert not (tmp_path / "ran").exists()


CUSTOM_HOOK = textwrap.dedent(
    """
    from typing import Literal

    from turnout.hooks import Hook, HookArgs


    class Flink(Hook):
        class Args(HookArgs):
            job: str
            action: Literal["pause", "resume"]

        def run(self, context):
            return {"job": self.args.job, "did": self.args.action, "dry_run": context.dry_run}
    """
)


def test_custom_consumer_hook_runs_with_its_args_and_the_action(tmp_path):
    (tmp_path / "hooks" / "consumers").mkdir(parents=True)
    (tmp_path / "hooks" / "consumers" / "flink.py").write_text(CUSTOM_HOOK)
    custom = {
        "kind": "custom",
        "name": "flink",
        "hook": "consumers/flink.py",
        "args": {"job": "sessions"},
        "streams": ["clicks"],
    }
    context, _ = make_context([custom], tmp_path)
    data = hook("resume_consumers", {"environment": "old"}).run(context)
    assert data["consumers"][0]["result"] == {"job": "sessions", "did": "resume", "dry_run": False}


def test_custom_consumer_hook_outside_the_hooks_folder_is_refused(tmp_path):
    (tmp_path / "hooks").mkdir()
    (tmp_path / "evil.py").write_text(CUSTOM_HOOK)
    custom = {"kind": "custom", "name": "x", "hook": "../evil.py", "streams": ["clicks"]}
    context, _ = make_context([custom], tmp_path)
    with pytest.raises(HookFailed, match="outside the project's hooks/ folder"):
        hook("pause_consumers", {"environment": "old"}).run(context)


def test_hook_arguments_are_validated():
    with pytest.raises(HookError, match="environment"):
        hook("pause_consumers", {"environment": "staging"})
    with pytest.raises(HookError, match="timeout_seconds"):
        hook("verify_consumers_drained", {"environment": "old"})


@pytest.mark.parametrize(
    "name",
    [
        "pause_consumers",
        "resume_consumers",
        "verify_consumers_paused",
        "verify_consumers_running",
        "verify_replication_off",
        "verify_route",
        "detect_unrouted_producers",
        "verify_new_streams_empty",
        "verify_consumers_drained",
        "verify_replicator_drained",
        "verify_replication_flowing",
    ],
)
def test_every_built_in_hook_loads_under_its_file_name(name):
    from turnout.hooks import load_hook_class

    assert load_hook_class(REPO / "hooks" / f"{name}.py").hook_name() == name
