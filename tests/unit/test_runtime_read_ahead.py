"""The local Lambda runtime reads a shard's next records while a batch is in the function, and
still runs a lane's batches one at a time, in shard order (lanes.LaneSet)."""

import threading

import pytest

from turnout.sandbox.lambda_runtime import lanes
from turnout.sandbox.lambda_runtime.config import MappingConfig


def mapping(batch_size: int = 2) -> MappingConfig:
    return MappingConfig(
        uuid="u",
        account_id="111111111111",
        region="eu-west-1",
        function_arn="arn:aws:lambda:eu-west-1:111111111111:function:f",
        event_source_arn="arn:aws:kinesis:eu-west-1:111111111111:stream/s",
        enabled=True,
        batch_size=batch_size,
        batching_window=0.0,
        starting_position="TRIM_HORIZON",
        starting_timestamp=None,
        bisect=False,
        max_retry_attempts=-1,
        max_record_age=-1,
        on_failure=None,
        report_item_failures=False,
    )


def records(first: int, count: int) -> list[dict]:
    return [
        {"SequenceNumber": str(n), "PartitionKey": f"k{n % 3}", "Data": b"x"}
        for n in range(first, first + count)
    ]


class HeldFunction:
    """Stands in for BatchRun: each batch stays in the 'function' until released."""

    def __init__(self) -> None:
        self.started: list[list[str]] = []
        self.release = threading.Semaphore(0)
        self.entered = threading.Semaphore(0)

    def __call__(self, poller, batch, finished):
        held = self

        class Run:
            def run(self) -> None:
                held.started.append([r["SequenceNumber"] for r in batch])
                held.entered.release()
                assert held.release.acquire(timeout=10)
                finished(batch)

        return Run()


class Poller:
    name = "poller-test"
    stop_event = threading.Event()

    def fields(self, **extra):
        return extra


@pytest.fixture
def held(monkeypatch):
    function = HeldFunction()
    monkeypatch.setattr(lanes, "BatchRun", function)
    return function


def test_the_poller_gets_control_back_while_a_batch_is_in_the_function(held):
    saved: list[str] = []
    lane_set = lanes.LaneSet(poller=Poller(), progress=lanes.ShardProgress(saved.append), factor=1)
    cfg = mapping(batch_size=2)
    first = records(1, 2)
    lane_set.progress.read(first)
    lane_set.add(first)

    started, _ = lane_set.dispatch(cfg, at_end=False)

    assert started and held.entered.acquire(timeout=5)
    assert lane_set.room(cfg), "the poller may read the next records now"
    ahead = records(3, 2)
    lane_set.progress.read(ahead)
    lane_set.add(ahead)
    assert lane_set.dispatch(cfg, at_end=False) == (False, None), "one batch per lane at a time"
    held.release.release()
    assert lane_set.changed.wait(5)
    assert lane_set.dispatch(cfg, at_end=False)[0] and held.entered.acquire(timeout=5)
    held.release.release()
    lane_set.join()
    assert held.started == [["1", "2"], ["3", "4"]]
    assert saved == ["2", "4"], "the checkpoint covers finished records only, in order"


def test_reading_ahead_stops_at_two_batches_buffered(held):
    progress = lanes.ShardProgress(lambda _: None)
    lane_set = lanes.LaneSet(poller=Poller(), progress=progress, factor=1)
    cfg = mapping(batch_size=50)
    lane_set.add(records(1, 50))
    lane_set.dispatch(cfg, at_end=False)
    assert held.entered.acquire(timeout=5)
    lane_set.add(records(51, 99))
    assert lane_set.room(cfg)
    lane_set.add(records(150, 1))
    assert not lane_set.room(cfg)
    held.release.release()
    lane_set.join()
