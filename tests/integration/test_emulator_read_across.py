"""A function of the old account reads a stream of the new account through a cross-account event
source mapping, as AWS allows it (docs/emulator.md, "Read-across mappings"): the mapping is
refused while the stream's resource policy does not let the function's execution role read,
created once it does, and the local runtime then reads with that role and delivers every record."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from turnout.sandbox.emulator.read_across import READ_ACTIONS

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
