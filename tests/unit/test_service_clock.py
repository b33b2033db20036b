"""The services' clock (AwsAccess.clock): the time record arrivals are stamped with. On AWS it is
this machine's; on an emulator that keeps its own (the sandbox, whose clock a rehearsal
accelerates) it is the emulator's. The journal's times, the commit gate's verify tip and the
replication lag run on it, so that they compare with arrivals on one clock."""

from __future__ import annotations

import time
from pathlib import Path

from turnout.aws.access import AwsAccess, service_clock
from turnout.engine.state import StateStore
from turnout.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]
TWENTY_SIX_HOURS_AHEAD = time.time() + 26 * 3600


class EmulatorWithItsOwnClock:
    endpoint_url = "http://127.0.0.1:1"

    def clock(self) -> float:
        return TWENTY_SIX_HOURS_AHEAD


class EmulatorWithout:
    endpoint_url = "http://127.0.0.1:1"


class Table:
    def __init__(self) -> None:
        self.items: list[dict] = []

    def put_item(self, TableName: str, Item: dict, **conditions) -> None:
        self.items.append(Item)


def example_spec():
    return load_spec(REPO / "terraform" / "migration.yaml")


def test_on_an_emulator_with_its_own_clock_the_services_clock_is_the_emulators():
    aws = AwsAccess.for_emulator(example_spec(), EmulatorWithItsOwnClock())
    assert aws.clock() == TWENTY_SIX_HOURS_AHEAD
    assert service_clock(aws)() == TWENTY_SIX_HOURS_AHEAD


def test_on_aws_and_emulators_without_a_clock_the_services_clock_is_this_machines():
    for aws in (
        AwsAccess(example_spec()),
        AwsAccess.for_emulator(example_spec(), EmulatorWithout()),
        object(),  # a unit test's stand-in
    ):
        before = time.time()
        assert before <= service_clock(aws)() <= time.time()


def test_the_journals_times_are_on_the_services_clock():
    table = Table()
    store = StateStore(table, "state", "clickstream", clock=lambda: 1_796_212_800.0)
    store.journal("run-1", "step", "started", transition="baseline->switched", step="x")
    assert table.items[0]["at"] == {"S": "2026-12-02T12:00:00.000+00:00"}
    assert table.items[0]["sk"]["S"].startswith("journal#2026-12-02T12:00:00.000+00:00#run-1#")
