"""cutover.raise_retention_hours applied by real Terraform to the emulator's streams, on a fast
sandbox clock (one simulated hour per real second): the switch's `raise-retention` apply raises
both environments' 24-hour streams to 30 hours (DescribeStreamSummary), every record written
hourly after it over a 26-hour window is still readable at its end (a 24-hour stream would have
trimmed the first ones: nothing is lost), and the commit's `restore-retention` apply returns
every stream to 24 hours. From the switch until the commit the new environment holds the two
buffered-retention reminders (EventBridge Scheduler, at 50 % and 80 % of the raised retention);
the old one never does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from pathlib import Path

import pytest
import yaml
from clock_kit import fast_clock_emulator, records_held

from turnout.aws.access import AwsAccess
from turnout.deploy.posture import PostureApplier
from turnout.deploy.render import phase_posture
from turnout.deploy.state_bootstrap import bootstrap_state_bucket
from turnout.engine.steps import transition
from turnout.project import Project
from turnout.sandbox.emulator.launcher import Emulator
from turnout.spec.loader import load_spec
from turnout.spec.names import names

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CLOCK_RATE = 3600.0  # one simulated hour per real second
RAISED_HOURS = 30
SWITCHED_AT = "2026-12-02T06:00:00Z"
OWN_HOURS = 24


@pytest.fixture(scope="module")
def fast_clock(tmp_path_factory: pytest.TempPathFactory, terraform_ready) -> Iterator[Emulator]:
    with fast_clock_emulator(tmp_path_factory.mktemp("raise-retention"), CLOCK_RATE) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def applier(fast_clock, tmp_path_factory) -> PostureApplier:
    """The example spec cut to its one-shard stream `orders`, keeping 24 h and raised to 30 h
    during the cutover, applied at baseline (no API: this emulator holds no hosted zone; no data
    store: nothing here copies one)."""
    work_dir = tmp_path_factory.mktemp("raise-retention-work")
    document = yaml.safe_load((REPO / "terraform" / "migration.yaml").read_text())
    document["streams"] = [s for s in document["streams"] if s["name"] == "orders"]
    document["streams"][0]["retention_hours"] = OWN_HOURS
    for environment in ("old", "new"):
        document["consumers"][environment] = [
            {**consumer, "streams": ["orders"]}
            for consumer in document["consumers"][environment]
            if "orders" in consumer["streams"]
        ]
    document["cutover"]["raise_retention_hours"] = RAISED_HOURS
    document.pop("apis", None)
    document["data_stores"] = []
    spec_path = work_dir / "migration.yaml"
    spec_path.write_text(yaml.safe_dump(document, sort_keys=False))
    spec = load_spec(spec_path)
    access = AwsAccess.for_emulator(spec, fast_clock)
    bootstrap_state_bucket(spec, access, progress=lambda _: None)
    project = Project(root=REPO, spec_path=spec_path, work_dir=work_dir)
    applier = PostureApplier(
        spec,
        project,
        work_dir / "vars",
        endpoint_url=fast_clock.endpoint_url,
        aws=access,
    )
    applier.apply("baseline", phase_posture(spec, "baseline"), "setup")
    return applier


def retention_hours(emu: Emulator, spec) -> dict[str, set[int]]:
    """Per environment, the streams' live RetentionPeriodHours."""
    found = {}
    for environment in ("old", "new"):
        kinesis = emu.session(environment).client("kinesis", endpoint_url=emu.endpoint_url)
        found[environment] = {
            kinesis.describe_stream_summary(StreamName=names(spec, environment).stream(s.name))[
                "StreamDescriptionSummary"
            ]["RetentionPeriodHours"]
            for s in spec.streams
        }
    return found


def apply_step(
    applier: PostureApplier, live: str, desired: str, step_id: str, since: str | None = None
) -> None:
    """One apply step of the table; `since`: the switch's time, as the engine gives the applies
    of switched and mirrored (turnout.engine.buffering)."""
    steps = transition(live, desired, applier.spec).steps
    step = next(step for step in steps if step.id == step_id)
    posture = replace(step.posture, buffering_since=since)
    applier.apply(desired, posture, f"{live}-{desired}-{step_id}")


def reminders(emu: Emulator) -> dict[str, dict[str, str]]:
    """Per environment, the buffered-retention reminder schedules: name => start (RFC 3339)."""
    found = {}
    for environment in ("old", "new"):
        scheduler = emu.session(environment).client("scheduler", endpoint_url=emu.endpoint_url)
        found[environment] = {}
        for summary in scheduler.list_schedules()["Schedules"]:
            schedule = scheduler.get_schedule(Name=summary["Name"])
            start = schedule["StartDate"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            found[environment][summary["Name"]] = start
    return found


def oldest_sequence(kinesis, stream: str) -> str | None:
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    for _ in range(5):  # empty answers behind the tip are followed, as AWS asks
        answer = kinesis.get_records(ShardIterator=iterator, Limit=1)
        if answer["Records"]:
            return answer["Records"][0]["SequenceNumber"]
        iterator = answer["NextShardIterator"]
    return None


def sequences_held(kinesis, stream: str) -> list[str]:
    """Every sequence number the one-shard stream still holds, from TRIM_HORIZON."""
    return [record["SequenceNumber"] for record in records_held(kinesis, stream)]


def test_the_switch_raises_retention_in_both_environments_and_the_commit_restores_it(
    applier, fast_clock
):
    spec = applier.spec
    assert retention_hours(fast_clock, spec) == {"old": {OWN_HOURS}, "new": {OWN_HOURS}}

    apply_step(applier, "baseline", "switched", "raise-retention", since=SWITCHED_AT)
    assert retention_hours(fast_clock, spec) == {"old": {RAISED_HOURS}, "new": {RAISED_HOURS}}
    # The new streams buffer for the paused new consumers from the switch: reminders at 50 % and
    # 80 % of the raised 30 hours (15 h and 24 h after it), in the new environment only.
    held = reminders(fast_clock)
    assert held["old"] == {}
    assert sorted(held["new"].values()) == ["2026-12-02T21:00:00Z", "2026-12-03T06:00:00Z"]

    kinesis = fast_clock.session("new").client("kinesis", endpoint_url=fast_clock.endpoint_url)
    stream = names(spec, "new").stream("orders")  # one shard
    written = []
    started = time.monotonic()
    for hour in range(26):  # one record per sandbox hour over a 26-hour window
        time.sleep(max(0.0, started + hour * 3600 / CLOCK_RATE - time.monotonic()))
        answer = kinesis.put_record(StreamName=stream, Data=f"h{hour}".encode(), PartitionKey="k")
        written.append(answer["SequenceNumber"])
    time.sleep(max(0.0, started + 26 * 3600 / CLOCK_RATE - time.monotonic()))
    assert oldest_sequence(kinesis, stream) == written[0], (
        "a record 26 sandbox hours old is kept under the raised 30-hour retention"
    )
    assert sequences_held(kinesis, stream) == written, (
        "nothing written during the 26-hour window was lost under the raised retention"
    )

    apply_step(applier, "new-live", "committed", "restore-retention")
    assert retention_hours(fast_clock, spec) == {"old": {OWN_HOURS}, "new": {OWN_HOURS}}
    assert reminders(fast_clock) == {"old": {}, "new": {}}, "nothing buffers after the commit"
