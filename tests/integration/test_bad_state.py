"""Bad contents of the state and lock tables, on the emulator's DynamoDB: each is refused with one
paragraph naming the table, the item and what is wrong, and nothing changes (both tables are
compared item by item before and after, and no apply or hook ran)."""

from __future__ import annotations

import pytest
from test_engine_journal_lock_resume import harness, spec, tables  # noqa: F401 (fixtures)

from turnout.errors import TurnoutError

pytestmark = pytest.mark.integration

STATE_KEY_SK = {"sk": {"S": "state"}}

BAD_STATE_ITEMS: dict[str, tuple[dict, str]] = {
    "no_fields_but_the_key": ({}, "format_version"),
    "format_version_as_text": (
        {"format_version": {"S": "one"}, "phase": {"S": "baseline"}, "version": {"N": "2"}},
        "format_version is 'one'",
    ),
    "format_version_from_the_future": (
        {"format_version": {"N": "7"}, "phase": {"S": "baseline"}, "version": {"N": "2"}},
        "written by a newer turnout",
    ),
    "unknown_phase": (
        {"format_version": {"N": "1"}, "phase": {"S": "warp-speed"}, "version": {"N": "2"}},
        "unknown phase 'warp-speed'",
    ),
    "phase_as_a_number": (
        {"format_version": {"N": "1"}, "phase": {"N": "3"}, "version": {"N": "2"}},
        "unknown phase 3",
    ),
    "version_as_text": (
        {"format_version": {"N": "1"}, "phase": {"S": "mirrored"}, "version": {"S": "two"}},
        "no integer version",
    ),
    "transition_missing_its_phases": (
        {
            "format_version": {"N": "1"},
            "phase": {"S": "baseline"},
            "version": {"N": "2"},
            "transition": {"M": {"run_id": {"S": "r"}}},
        },
        "corrupt transition record",
    ),
    "transition_as_text": (
        {
            "format_version": {"N": "1"},
            "phase": {"S": "baseline"},
            "version": {"N": "2"},
            "transition": {"S": "halfway"},
        },
        "corrupt transition record",
    ),
    "transition_results_not_json": (
        {
            "format_version": {"N": "1"},
            "phase": {"S": "baseline"},
            "version": {"N": "2"},
            "transition": {
                "M": {
                    "from_phase": {"S": "baseline"},
                    "to_phase": {"S": "switched"},
                    "run_id": {"S": "r"},
                    "started_at": {"S": "then"},
                    "step_results": {"S": "{not json"},
                }
            },
        },
        "corrupt transition record",
    ),
}


def snapshot(dynamodb, *table_names: str) -> dict[str, list]:
    return {
        name: sorted(dynamodb.scan(TableName=name, ConsistentRead=True)["Items"], key=repr)
        for name in table_names
    }


def assert_clear_refusal(problem: TurnoutError, culprit: str) -> None:
    message = str(problem)
    assert culprit in message, message
    assert "\n" not in message and "Traceback" not in message
    assert "Nothing was changed" in message or "nothing was changed" in message, message


@pytest.mark.parametrize("case", sorted(BAD_STATE_ITEMS))
def test_a_bad_state_item_is_refused_naming_the_item_and_changes_nothing(
    case,
    harness,  # noqa: F811
    tables,  # noqa: F811
    spec,  # noqa: F811
):
    dynamodb, state_table, lock_table = tables
    fields, culprit = BAD_STATE_ITEMS[case]
    key = {"pk": {"S": f"migration#{spec.migration}"}, **STATE_KEY_SK}
    dynamodb.put_item(TableName=state_table, Item={**key, **fields})
    before = snapshot(dynamodb, state_table, lock_table)
    with pytest.raises(TurnoutError) as planning:
        harness.engine().describe("committed")  # what `turnout cutover` does first
    assert_clear_refusal(planning.value, culprit)
    assert snapshot(dynamodb, state_table, lock_table) == before, "planning wrote something"
    with pytest.raises(TurnoutError) as raised:
        harness.engine().run("committed")
    assert_clear_refusal(raised.value, culprit)
    assert f"{state_table}, item migration#{spec.migration}/state" in str(raised.value)
    after = snapshot(dynamodb, state_table, lock_table)
    journal_added = [
        item
        for item in after[state_table]
        if item not in before[state_table] and item["sk"]["S"].startswith("journal#")
    ]
    # The run journals taking and releasing the lock around the refused state read; nothing
    # else is written and the state item itself is untouched.
    assert {item["action"]["S"] for item in journal_added} <= {"acquired", "released"}
    assert [i for i in after[state_table] if i["sk"]["S"] == "state"] == [
        i for i in before[state_table] if i["sk"]["S"] == "state"
    ]
    assert after[lock_table] == before[lock_table], "the lock was left behind"
    assert harness.applied == [] and harness.hook_calls() == []


def test_a_journal_item_that_cannot_be_parsed_is_named_and_changes_nothing(
    harness,  # noqa: F811
    tables,  # noqa: F811
    spec,  # noqa: F811
):
    dynamodb, state_table, lock_table = tables
    engine = harness.engine()
    engine.store.journal("run-ok", "lock", "acquired")
    bad_sk = "journal#2026-01-01T00:00:00.000+00:00#intruder#000001"
    dynamodb.put_item(
        TableName=state_table,
        Item={
            "pk": {"S": f"migration#{spec.migration}"},
            "sk": {"S": bad_sk},
            "details": {"S": "<<binary junk>>"},
        },
    )
    before = snapshot(dynamodb, state_table, lock_table)
    with pytest.raises(TurnoutError) as raised:
        engine.store.read_journal()
    assert_clear_refusal(raised.value, bad_sk)
    assert "JSON object" in str(raised.value)
    assert snapshot(dynamodb, state_table, lock_table) == before


BAD_LOCK_ITEMS: dict[str, tuple[dict, str]] = {
    "only_the_key": ({}, "owner, host, pid, run_id, started_at, expires_at"),
    "expiry_as_text": (
        {
            "owner": {"S": "ops"},
            "host": {"S": "h"},
            "pid": {"N": "1"},
            "run_id": {"S": "r"},
            "started_at": {"N": "1"},
            "expires_at": {"S": "tomorrow"},
        },
        "malformed: expires_at",
    ),
    "owner_as_a_number": (
        {
            "owner": {"N": "7"},
            "host": {"S": "h"},
            "pid": {"N": "1"},
            "run_id": {"S": "r"},
            "started_at": {"N": "1"},
            "expires_at": {"N": "1"},
        },
        "malformed: owner",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_LOCK_ITEMS))
def test_a_garbage_lock_item_is_refused_naming_it_and_changes_nothing(
    case,
    harness,  # noqa: F811
    tables,  # noqa: F811
    spec,  # noqa: F811
):
    dynamodb, state_table, lock_table = tables
    fields, culprit = BAD_LOCK_ITEMS[case]
    lock_id = f"migration#{spec.migration}"
    dynamodb.put_item(TableName=lock_table, Item={"lock_id": {"S": lock_id}, **fields})
    before = snapshot(dynamodb, state_table, lock_table)
    engine = harness.engine()
    with pytest.raises(TurnoutError) as raised:
        engine.run("switched")
    assert_clear_refusal(raised.value, culprit)
    assert f"lock table {lock_table}, item {lock_id}" in str(raised.value)
    assert "turnout unlock --force" in str(raised.value), "says how to get out"
    assert snapshot(dynamodb, state_table, lock_table) == before
    assert harness.applied == [] and harness.hook_calls() == []
    with pytest.raises(TurnoutError):
        engine.lock.holder()  # `turnout status` names the same problem instead of crashing
