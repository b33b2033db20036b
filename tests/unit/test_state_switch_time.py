"""The switch time the preflight compares AT_TIMESTAMP with: when baseline->switched first
started, read from the journal (an in-process stand-in for the state table's Query)."""

from __future__ import annotations

import itertools

from turnout.engine.state import StateStore


class JournalTable:
    """put_item and a paged Query over one partition, ordered by sort key."""

    def __init__(self, page_size: int = 2) -> None:
        self.items: list[dict] = []
        self.page_size = page_size

    def put_item(self, TableName: str, Item: dict) -> None:
        self.items.append(Item)

    def query(self, ScanIndexForward: bool = True, ExclusiveStartKey=None, **_) -> dict:
        ordered = sorted(self.items, key=lambda item: item["sk"]["S"])
        if not ScanIndexForward:
            ordered.reverse()
        start = 0 if ExclusiveStartKey is None else ExclusiveStartKey["at"]
        page = ordered[start : start + self.page_size]
        answer: dict = {"Items": page}
        if start + self.page_size < len(ordered):
            answer["LastEvaluatedKey"] = {"at": start + self.page_size}
        return answer


def journal_with(*events: tuple[str, str, dict]) -> StateStore:
    store = StateStore(JournalTable(), "state", "demo")
    times = (f"2026-03-02T10:0{minute}:00.000+00:00" for minute in itertools.count())
    for kind, action, details in events:
        store.journal("run-1", kind, action, **details)
        store.dynamodb.items[-1]["at"] = {"S": next(times)}
        store.dynamodb.items[-1]["sk"]["S"] = f"journal#{store.dynamodb.items[-1]['at']['S']}"
    return store


def test_the_switch_time_is_the_first_start_of_baseline_to_switched_not_a_resumed_one():
    store = journal_with(
        ("gate", "passed", {"transition": "baseline->switched"}),
        ("transition", "started", {"transition": "baseline->switched"}),  # 10:01
        ("transition", "abandoned", {"transition": "baseline->switched"}),
        ("transition", "started", {"transition": "baseline->switched"}),  # 10:03, again
        ("transition", "completed", {"transition": "baseline->switched", "phase": "switched"}),
        ("transition", "started", {"transition": "switched->mirrored"}),
    )
    assert store.transition_first_started_at("baseline->switched") == (
        "2026-03-02T10:01:00.000+00:00"
    )
    assert store.phase_reached_at("switched") == "2026-03-02T10:04:00.000+00:00"
    assert store.transition_first_started_at("mirrored->new-live") is None
