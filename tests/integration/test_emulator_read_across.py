"""A function of the old account reads a stream of the new account through a cross-account event
source mapping, as AWS allows it (docs/emulator.md, "Read-across mappings"): the mapping is
refused while the stream's resource policy does not let the function's execution role read,
created once it does, and the local runtime then reads with that role and delivers every record.
`turnout verify`'s read-across proof runs here on those real calls: markers into the new
account's stream, acknowledgements read from the old account's markers table."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError
from hooks_kit import MARKER_CONSUMER, create_streams, create_table, make_spec

from turnout.drain.read_across_proof import prove_read_across
from turnout.sandbox.emulator.read_across import READ_ACTIONS
from turnout.spec.names import names

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


def _policy(stream_arn: str, principal: str, actions: tuple[str, ...]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OldConsumersReadAcross",
                    "Effect": "Allow",
                    "Principal": {"AWS": principal},
                    "Action": list(actions),
                    "Resource": stream_arn,
                }
            ],
        }
    )


def test_a_mapping_on_another_accounts_stream_needs_its_policy_and_then_delivers_every_record(
    lambda_kit,
):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream(account="new")
    function = kit.function(table=table)
    kinesis_new = kit.client("kinesis", "new")

    with pytest.raises(ClientError) as no_policy:
        kit.mapping("old", function, stream, settle=False, StartingPosition="TRIM_HORIZON")
    assert no_policy.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "kinesis:GetRecords" in no_policy.value.response["Error"]["Message"]

    # A policy naming another role, or lacking a read action, does not let this one map it.
    someone_else = "arn:aws:iam::111111111111:role/someone-else"
    kinesis_new.put_resource_policy(
        ResourceARN=stream, Policy=_policy(stream, someone_else, READ_ACTIONS)
    )
    with pytest.raises(ClientError):
        kit.mapping("old", function, stream, settle=False, StartingPosition="TRIM_HORIZON")
    kinesis_new.put_resource_policy(
        ResourceARN=stream, Policy=_policy(stream, kit.role("old"), READ_ACTIONS[:-1])
    )
    with pytest.raises(ClientError) as partial:
        kit.mapping("old", function, stream, settle=False, StartingPosition="TRIM_HORIZON")
    assert "kinesis:ListShards" in partial.value.response["Error"]["Message"]

    kinesis_new.put_resource_policy(
        ResourceARN=stream, Policy=_policy(stream, kit.role("old"), READ_ACTIONS)
    )
    kit.put(stream, [f"r{i}" for i in range(5)], account="new")
    kit.mapping("old", function, stream, StartingPosition="TRIM_HORIZON", BatchSize=2)
    with kit.runtime():
        kit.wait_for(lambda: len(kit.processed(table)) == 5)
        kit.put(stream, ["r5", "r6"], account="new")
        kit.wait_for(lambda: len(kit.processed(table)) == 7)
    assert kit.processed(table) == [f"r{i}" for i in range(7)]
    assert {invocation["first"]["eventSourceARN"] for invocation in kit.invocations(table)} == {
        stream
    }


def test_a_read_across_mapping_stops_reading_when_the_policy_is_withdrawn(lambda_kit):
    kit = lambda_kit
    table = kit.table()
    stream = kit.stream(account="new")
    function = kit.function(table=table)
    kinesis_new = kit.client("kinesis", "new")
    kinesis_new.put_resource_policy(
        ResourceARN=stream, Policy=_policy(stream, kit.role("old"), READ_ACTIONS)
    )
    kit.mapping("old", function, stream, StartingPosition="TRIM_HORIZON")
    kit.put(stream, ["a0"], account="new")
    with kit.runtime():
        kit.wait_for(lambda: kit.processed(table) == ["a0"])
        kinesis_new.delete_resource_policy(ResourceARN=stream)
        kit.put(stream, ["a1"], account="new")
        with pytest.raises(AssertionError):
            kit.wait_for(lambda: len(kit.processed(table)) > 1, timeout=4)
    # Without the policy the runtime cannot read, as Lambda cannot: the record stays in the stream.
    assert kit.processed(table) == ["a0"]


class EmulatorAccounts:
    """`aws.client(environment, service)` on the emulator (what the proof asks of AwsAccess)."""

    def __init__(self, emulator) -> None:
        self.emulator = emulator

    def client(self, environment: str, service: str):
        return self.emulator.client(service, environment)


def test_verify_proves_the_old_consumer_read_the_new_stream_up_to_the_cut(emulator, lambda_kit):
    kit = lambda_kit
    function_name = kit.name("legacy")
    consumer = {"kind": "lambda", "function_name": function_name, "streams": ["events"]}
    spec = make_spec(emulator, consumers_old=[{**consumer, "drain_evidence": "markers"}])
    stream = create_streams(emulator, spec, "new")["events"]
    markers = create_table(emulator, "old", names(spec, "old").markers_table, "marker_id")
    table = kit.table()
    function = kit.function(
        table=table, name=function_name, env={"MARKERS_TABLE": markers}, source=MARKER_CONSUMER
    )
    kit.client("kinesis", "new").put_resource_policy(
        ResourceARN=stream, Policy=_policy(stream, kit.role("old"), READ_ACTIONS)
    )
    for key in ("a", "b", "c", "d"):  # spread over both shards
        kit.put(stream, [f"{key}{index}" for index in range(3)], account="new", key=key)
    kit.mapping("old", function, stream, StartingPosition="TRIM_HORIZON")
    accounts = EmulatorAccounts(emulator)

    # The old consumer is not running: its markers stay unacknowledged, no proof.
    idle = prove_read_across(spec, accounts, time.time() - 60, timeout_seconds=1, poll_seconds=0.5)
    assert not idle["passed"] and idle["consumers"][0]["verdict"] == "not_drained"
    with kit.runtime():
        document = prove_read_across(
            spec, accounts, time.time() - 60, timeout_seconds=30, poll_seconds=0.5
        )
        items = kit.client("dynamodb").scan(TableName=table)["Items"]  # one page: 12 items
    processed = [item["data"]["S"] for item in items if item["pk"]["S"].startswith("rec#")]
    assert document["passed"], document
    assert document["retention"]["events"]["retention_hours"] == 24  # the stream's, from AWS
    (verdict,) = document["consumers"]
    assert verdict["verdict"] == "drained" and verdict["drained_shards"] == 2
    # Every record before the cut was processed by then: the markers are behind them.
    assert sorted(processed) == sorted(f"{key}{index}" for key in "abcd" for index in range(3))
