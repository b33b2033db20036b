"""The sandbox report waits for the processed tables to stop moving, or 15 s since the last
report while they keep moving: one report reads every processed item (tens of seconds at
100,000), so building it every second while the consumers finished the tail cost minutes of
emulator CPU per test."""

from __future__ import annotations

import pytest

from turnout.sandbox.pipeline import report as report_module
from turnout.sandbox.pipeline.report import wait_for_report


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(report_module, "time", fake)
    return fake


class Pipeline:
    """Consumers that process `tail` more events, one per marker reading."""

    def __init__(self, tail: int, lost_at_end: int = 0):
        self.processed = 0
        self.tail = tail
        self.lost_at_end = lost_at_end
        self.builds = 0

    def marker(self) -> int:
        if self.tail:
            self.tail -= 1
            self.processed += 1
        return self.processed

    def build(self) -> dict:
        self.builds += 1
        return {"lost": self.tail + self.lost_at_end, "processed": self.processed}


def test_the_report_waits_for_the_consumers_to_finish_the_tail_then_is_built_once():
    pipeline = Pipeline(tail=10)

    report = wait_for_report(
        pipeline.build, timeout=60, interval=1, progress_marker=pipeline.marker
    )

    assert report["settled"] and report["lost"] == 0 and report["processed"] == 10
    assert pipeline.builds == 1


def test_while_traffic_flows_the_report_is_built_every_rebuild_interval_until_nothing_is_lost(
    clock,
):
    pipeline = Pipeline(tail=1000)  # the marker never stops moving
    built = []

    def build() -> dict:
        built.append(clock.now)
        return {"lost": max(0, 40 - pipeline.processed)}

    report = wait_for_report(
        build, timeout=300, interval=1, progress_marker=pipeline.marker, rebuild_after=15
    )

    assert report["settled"]
    assert built == [15, 30, 45]  # seconds: not every second, not only once it settles


def test_a_loss_that_stays_is_reported_again_only_after_the_rebuild_interval():
    pipeline = Pipeline(tail=3, lost_at_end=2)

    report = wait_for_report(
        pipeline.build,
        timeout=60,
        interval=1,
        progress_marker=pipeline.marker,
        rebuild_after=15,
    )

    assert not report["settled"] and report["lost"] == 2
    assert pipeline.builds == 5  # once settled (4 s), then 15 s after each (19, 34, 49, 60 s)


def test_without_a_marker_the_report_is_built_every_interval_until_nothing_is_lost():
    pipeline = Pipeline(tail=3)

    def build() -> dict:
        pipeline.marker()
        return pipeline.build()

    report = wait_for_report(build, timeout=60, interval=1)

    assert report["settled"] and pipeline.builds == 3
