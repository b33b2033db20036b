"""The emulator serves a producer of a third account that names another account's stream or
table by ARN, under that resource's policy, as AWS does (turnout.sandbox.emulator.cross_account):
refused without a policy, served once the policy names the producer's role, refused for a role
the policy does not name, and never served from the caller's own account."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from turnout.aws.endpoint import assume_role_credentials, session_from_credentials

pytestmark = pytest.mark.integration

REGION = "eu-west-1"
THIRD = "333333333333"


def role_client(emulator, role_name: str, service: str):
    credentials = assume_role_credentials(
        emulator.endpoint_url, f"arn:aws:iam::{THIRD}:role/{role_name}", "producer", REGION
    )
    return session_from_credentials(credentials, REGION).client(
        service, endpoint_url=emulator.endpoint_url
    )


def error_code(problem: ClientError) -> str:
    return problem.response["Error"]["Code"]


def test_a_third_account_writes_a_stream_only_once_its_policy_names_the_role(emulator, aws_client):
    kinesis = aws_client("kinesis", "new")
    name = f"cross-{uuid.uuid4().hex[:8]}"
    kinesis.create_stream(StreamName=name, ShardCount=1)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    producer = role_client(emulator, "clickstream-producer", "kinesis")
    stranger = role_client(emulator, "someone-else", "kinesis")
    record = [{"Data": b"hello", "PartitionKey": "k"}]

    with pytest.raises(ClientError) as refused:
        producer.put_records(StreamARN=arn, Records=record)
    assert error_code(refused.value) == "AccessDeniedException"

    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ProducersWrite",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{THIRD}:role/clickstream-producer"},
                "Action": ["kinesis:PutRecords", "kinesis:ListShards"],
                "Resource": arn,
            }
        ],
    }
    kinesis.put_resource_policy(ResourceARN=arn, Policy=json.dumps(policy))
    answer = producer.put_records(StreamARN=arn, Records=record)
    assert answer["FailedRecordCount"] == 0
    assert producer.list_shards(StreamARN=arn)["Shards"]
    with pytest.raises(ClientError) as not_granted:
        producer.put_record(StreamARN=arn, Data=b"x", PartitionKey="k")
    assert error_code(not_granted.value) == "AccessDeniedException"
    with pytest.raises(ClientError) as stranger_refused:
        stranger.put_records(StreamARN=arn, Records=record)
    assert error_code(stranger_refused.value) == "AccessDeniedException"

    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=iterator)["Records"]] == [b"hello"]
    # By name, the call stays in the caller's own account, where there is no such stream.
    with pytest.raises(ClientError) as by_name:
        producer.put_records(StreamName=name, Records=record)
    assert error_code(by_name.value) == "ResourceNotFoundException"


def test_a_third_account_reads_a_table_item_only_under_the_tables_policy(emulator, aws_client):
    dynamodb = aws_client("dynamodb", "old")
    name = f"cross-route-{uuid.uuid4().hex[:8]}"
    arn = dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "route_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "route_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    dynamodb.put_item(TableName=name, Item={"route_id": {"S": "m"}, "value": {"S": "{}"}})
    producer = role_client(emulator, "clickstream-producer", "dynamodb")
    key = {"route_id": {"S": "m"}}

    with pytest.raises(ClientError) as refused:
        producer.get_item(TableName=arn, Key=key)
    assert error_code(refused.value) == "AccessDeniedException"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{THIRD}:role/clickstream-producer"},
                "Action": "dynamodb:GetItem",
                "Resource": arn,
            }
        ],
    }
    dynamodb.put_resource_policy(ResourceArn=arn, Policy=json.dumps(policy))
    assert producer.get_item(TableName=arn, Key=key, ConsistentRead=True)["Item"]["value"] == {
        "S": "{}"
    }
    with pytest.raises(ClientError) as write_refused:
        producer.put_item(TableName=arn, Item={"route_id": {"S": "m"}, "value": {"S": "x"}})
    assert error_code(write_refused.value) == "AccessDeniedException"
