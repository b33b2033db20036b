"""No credentials and no record payloads reach the replicator's logs or the engine's journal,
on the happy path and on every failure path that logs."""

from __future__ import annotations

import base64
import json

import pytest
from fakes_kinesis import FakeAws, FakeClock, FakeContext, make_event, make_replicator, make_shard

from turnout.engine.state import MigrationState, StateStore, TransitionProgress

PAYLOAD_MARKER = b"SECRET-PAYLOAD-7f3a9"
FORBIDDEN_IN_LOGS = [
    PAYLOAD_MARKER.decode(),
    base64.b64encode(PAYLOAD_MARKER).decode()[:16],  # the payload as the event carries it
    "secret-ASIA",  # SecretAccessKey the fake STS issues
    "token-ASIA",  # SessionToken
]

FAULTS = {
    "happy_path": {},
    "entry_failures_and_retries": {"entry_failure_rate": 0.4, "seed": 5},
    "sts_denied": {"sts_error": "AccessDenied"},
    "ledger_unavailable": {"ledger_error": "ProvisionedThroughputExceededException"},
    "target_shards_unreadable": {"list_shards_error": "AccessDeniedException"},
    "record_too_large": {"max_record_bytes": 64},
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_replicator_logs_hold_no_payload_and_no_credentials(fault):
    settings = FAULTS[fault]
    aws = FakeAws(FakeClock(), **settings)
    tunables = (
        {"max_record_bytes": settings["max_record_bytes"]} if "max_record_bytes" in settings else {}
    )
    replicator, logs = make_replicator(aws, **tunables)
    records = make_shard(40, keys=4, payload_bytes=32)
    for record in records[::7]:
        record.data = PAYLOAD_MARKER + record.data
    aws.revoke_all()
    replicator.handle(make_event(records), FakeContext(aws.clock, request_id="req-1"))
    assert logs, "the invocation logged nothing, so this test would prove nothing"
    text = "\n".join(logs)
    for forbidden in FORBIDDEN_IN_LOGS:
        assert forbidden not in text, f"{fault}: {forbidden!r} appears in the logs"
    for key in aws.issued:
        assert f"secret-{key}" not in text and f"token-{key}" not in text


class RecordingDynamoDb:
    """Keeps what the store writes; the journal and state writes are unconditional here."""

    def __init__(self) -> None:
        self.items: list[dict] = []

    def put_item(self, TableName: str, Item: dict, **conditions) -> dict:
        self.items.append(Item)
        return {}


def test_the_journal_and_the_state_withhold_payloads_and_credentials_a_hook_returns():
    dynamodb = RecordingDynamoDb()
    store = StateStore(dynamodb, "turnout-state", "clickstream")
    leaked = {
        "records": [{"Data": PAYLOAD_MARKER, "PartitionKey": "user-1"}],
        "sample": PAYLOAD_MARKER,
        "credentials": {
            "AccessKeyId": "ASIAEXAMPLE",
            "SecretAccessKey": "secret-ASIAEXAMPLE",
            "SessionToken": "token-ASIAEXAMPLE",
        },
        "SecretAccessKey": "secret-ASIAEXAMPLE",
        "payload_preview": PAYLOAD_MARKER.decode(),
        "counted": 40,
        "payload_bytes": 1234,
    }
    store.journal("run-1", "step", "completed", step="copy-table", outcome=leaked)
    progress = TransitionProgress("baseline", "switched", "run-1", "now")
    progress.step_results["copy-table"] = leaked
    store.save(MigrationState("baseline", 0, transition=progress), 0)

    stored = json.dumps(dynamodb.items, default=str)
    for forbidden in [*FORBIDDEN_IN_LOGS, "ASIAEXAMPLE"]:
        assert forbidden not in stored, f"{forbidden!r} reached the state table"
    journal_details = json.loads(dynamodb.items[0]["details"]["S"])
    assert journal_details["outcome"]["counted"] == 40, "what is not sensitive is kept"
    assert journal_details["outcome"]["payload_bytes"] == 1234, "a count is not a payload"
    assert journal_details["outcome"]["records"][0]["PartitionKey"] == "user-1"
    assert progress.step_results["copy-table"]["sample"] == PAYLOAD_MARKER, (
        "the running engine keeps the hook's results; only what is stored is withheld"
    )
