"""The emulator's fault mode against the real server with boto3, as AWS would answer."""

from __future__ import annotations

import urllib.error
import uuid
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from turnout.sandbox.chaos.api_faults import fault_status, set_faults, totals
from turnout.sandbox.chaos.faults import LAMBDA_USER_AGENT

NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@pytest.fixture
def faults(emulator) -> Iterator:
    """Set fault rules on the session's emulator; always switched off afterwards."""

    def switch_on(rules: list[dict], seed: int = 7) -> None:
        set_faults(emulator.endpoint_url, rules, seed=seed)

    yield switch_on
    set_faults(emulator.endpoint_url, [])


@pytest.fixture
def stream(emulator) -> str:
    name = f"chaos-{uuid.uuid4().hex[:8]}"
    kinesis = emulator.client("kinesis", "old")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=name)
    return name


def kinesis_client(emulator, user_agent_extra: str | None = None):
    session: boto3.Session = emulator.session("old")
    config = NO_RETRIES.merge(Config(user_agent_extra=user_agent_extra or ""))
    return session.client("kinesis", endpoint_url=emulator.endpoint_url, config=config)


def entries(n: int) -> list[dict]:
    return [{"Data": f"event-{i}".encode(), "PartitionKey": f"key-{i % 7}"} for i in range(n)]


def stored(emulator, stream: str) -> list[bytes]:
    kinesis = emulator.client("kinesis", "old")
    shard = kinesis.list_shards(StreamName=stream)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName=stream, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return [record["Data"] for record in kinesis.get_records(ShardIterator=iterator)["Records"]]


def test_without_rules_nothing_is_touched(emulator, stream):
    answer = kinesis_client(emulator).put_records(StreamName=stream, Records=entries(20))
    assert answer["FailedRecordCount"] == 0
    assert fault_status(emulator.endpoint_url)["rules"] == []


def test_entry_failures_fail_a_seeded_share_and_store_only_the_others(emulator, stream, faults):
    faults([{"operation": "kinesis PutRecords", "entry_failure_rate": 0.3}], seed=11)
    answer = kinesis_client(emulator).put_records(StreamName=stream, Records=entries(200))
    failed = [i for i, r in enumerate(answer["Records"]) if "ErrorCode" in r]
    assert 30 <= len(failed) <= 90 and answer["FailedRecordCount"] == len(failed)
    codes = {answer["Records"][i]["ErrorCode"] for i in failed}
    assert codes <= {"ProvisionedThroughputExceededException", "InternalFailure"}
    assert all(
        "SequenceNumber" in r and "ShardId" in r
        for i, r in enumerate(answer["Records"])
        if i not in failed
    )
    data = stored(emulator, stream)
    assert data == [f"event-{i}".encode() for i in range(200) if i not in failed]
    counts = totals(fault_status(emulator.endpoint_url))
    assert counts["entries"] == 200 and counts["entries_failed"] == len(failed)
    # The same seed fails the same entries.
    faults([{"operation": "kinesis PutRecords", "entry_failure_rate": 0.3}], seed=11)
    again = kinesis_client(emulator).put_records(StreamName=stream, Records=entries(200))
    assert [i for i, r in enumerate(again["Records"]) if "ErrorCode" in r] == failed


def test_whole_calls_are_throttled_or_fail_and_store_nothing(emulator, stream, faults):
    faults([{"operation": "kinesis PutRecords", "call_failure_rate": 1.0}])
    codes = set()
    for _ in range(12):
        with pytest.raises(ClientError) as problem:
            kinesis_client(emulator).put_records(StreamName=stream, Records=entries(5))
        codes.add(problem.value.response["Error"]["Code"])
    assert codes <= {"ProvisionedThroughputExceededException", "InternalFailure"}
    assert "ProvisionedThroughputExceededException" in codes
    assert stored(emulator, stream) == []
    assert totals(fault_status(emulator.endpoint_url))["calls_failed"] == 12


def test_a_lost_answer_stores_the_records_and_only_hits_lambda_callers(emulator, stream, faults):
    faults(
        [
            {
                "operation": "kinesis PutRecords",
                "user_agent": LAMBDA_USER_AGENT,
                "lost_answer_rate": 1.0,
            }
        ]
    )
    plain = kinesis_client(emulator).put_records(StreamName=stream, Records=entries(3))
    assert plain["FailedRecordCount"] == 0
    lambda_like = kinesis_client(emulator, user_agent_extra="exec-env/AWS_Lambda_python3.12")
    answer = lambda_like.put_records(StreamName=stream, Records=entries(4))
    assert "Records" not in answer  # what makes a caller reading it raise, after the write
    assert len(stored(emulator, stream)) == 7
    assert totals(fault_status(emulator.endpoint_url))["answers_lost"] == 1


def test_bad_rules_are_refused_with_the_field_named(emulator):
    with pytest.raises(urllib.error.HTTPError) as problem:
        set_faults(
            emulator.endpoint_url, [{"operation": "kinesis PutRecords", "entry_failure_rate": 2}]
        )
    assert "400" in str(problem.value)
    with pytest.raises(urllib.error.HTTPError):
        set_faults(
            emulator.endpoint_url, [{"operation": "dynamodb PutItem", "entry_failure_rate": 0.5}]
        )
    assert fault_status(emulator.endpoint_url)["rules"] == []
