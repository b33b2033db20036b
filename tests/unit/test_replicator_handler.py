"""handler() end to end with real boto3 clients against moto's in-process mocks.

Two accounts: the source (moto's default) and the target, reached through
sts:AssumeRole as the writer role. Kinesis (PutRecords, ListShards), SSM and
DynamoDB are moto's; the metrics are the EMF line on stdout. This checks the
real request shapes, not fault handling.
"""

from __future__ import annotations

import json

import pytest
from fakes_kinesis import PARAMETER, SourceRecord, make_event

moto = pytest.importorskip("moto")
import boto3  # noqa: E402

from turnout.lambdas import replicator as replicator_module  # noqa: E402

TARGET_ACCOUNT = "222222222222"
ROLE_ARN = f"arn:aws:iam::{TARGET_ACCOUNT}:role/turnout-writer-from-old"


class Context:
    aws_request_id = "moto-request"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "TURNOUT_DIRECTION": "old_to_new",
        "TURNOUT_DIRECTION_PARAMETER": PARAMETER,
        "TURNOUT_TARGET_ROLE_ARN": ROLE_ARN,
        "TURNOUT_EXTERNAL_ID": "ext",
        "TURNOUT_TARGET_REGION": "eu-central-1",
        "TURNOUT_STREAM_MAP": json.dumps({"clicks": "clicks-new"}),
        "TURNOUT_LEDGER_TABLE": "ledger",
        "TURNOUT_METRIC_NAMESPACE": "Turnout/Replication",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(replicator_module, "_REPLICATOR", None)
    with moto.mock_aws():
        creds = boto3.client("sts").assume_role(
            RoleArn=ROLE_ARN, RoleSessionName="setup", ExternalId="ext"
        )["Credentials"]
        target = {
            "region_name": "eu-central-1",
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }
        kinesis = boto3.client("kinesis", **target)
        kinesis.create_stream(StreamName="clicks-new", ShardCount=1)
        boto3.client("ssm", **target).put_parameter(
            Name=PARAMETER, Value="old_to_new", Type="String"
        )
        boto3.client("ssm").put_parameter(Name=PARAMETER, Value="old_to_new", Type="String")
        boto3.client("dynamodb").create_table(
            TableName="ledger",
            KeySchema=[{"AttributeName": "shard_key", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "shard_key", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield {"kinesis": kinesis, "target": target}


def read_target(kinesis) -> list[tuple[str, bytes]]:
    shard = kinesis.list_shards(StreamName="clicks-new")["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName="clicks-new", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    out = kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]
    return [(r["PartitionKey"], r["Data"]) for r in out]


def test_handler_replicates_a_batch_through_the_writer_role(aws, capsys):
    records = [
        SourceRecord(i, str(10**20 + i), f"k{i % 7}", f"payload-{i}".encode(), 1_700_000_000.0)
        for i in range(60)
    ]
    response = replicator_module.handler(make_event(records), Context())

    assert response == {"batchItemFailures": []}
    assert read_target(aws["kinesis"]) == [(r.partition_key, r.data) for r in records]
    ledger = boto3.client("dynamodb").get_item(
        TableName="ledger", Key={"shard_key": {"S": "clicks/shardId-000000000007"}}
    )["Item"]
    assert ledger["last_sequence_number"]["S"] == records[-1].sequence_number
    assert ledger["record_count"]["N"] == "60"
    assert boto3.client("cloudwatch").list_metrics()["Metrics"] == []  # no PutMetricData
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["message"] == "batch_done"
    emf = [line for line in lines if "_aws" in line]
    assert len(emf) == 1 and emf[0]["ReplicatedRecords"] == 60
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Turnout/Replication"
    # the Replicator (clients, credentials) is kept for the next invocation
    kept = replicator_module._REPLICATOR
    replicator_module.handler(make_event(records[:1]), Context())
    assert replicator_module._REPLICATOR is kept


def test_handler_refuses_when_the_target_account_parameter_says_none(aws):
    boto3.client("ssm", **aws["target"]).put_parameter(
        Name=PARAMETER, Value="none", Type="String", Overwrite=True
    )
    # two accounts really: the source account's parameter still names us
    source_value = boto3.client("ssm").get_parameter(Name=PARAMETER)["Parameter"]["Value"]
    assert source_value == "old_to_new"
    records = [SourceRecord(0, "5", "k", b"x", 1.0), SourceRecord(1, "6", "k", b"y", 1.0)]
    response = replicator_module.handler(make_event(records), Context())
    assert response == {"batchItemFailures": [{"itemIdentifier": "5"}]}
    assert read_target(aws["kinesis"]) == []
