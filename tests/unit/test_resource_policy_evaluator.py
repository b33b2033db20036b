"""The small resource-policy evaluator (turnout.sandbox.emulator.resource_policy): it allows
exactly what a matching Allow statement names and denies everything else, an explicit Deny
first; what it does not model it refuses instead of guessing."""

from __future__ import annotations

import json

import pytest

from turnout.sandbox.emulator.resource_policy import UnsupportedPolicy, allows

STREAM = "arn:aws:kinesis:eu-west-1:222222222222:stream/clicks"
PRODUCER = "arn:aws:iam::333333333333:role/clickstream-producer"
WRITE = [
    "kinesis:DescribeStreamSummary",
    "kinesis:ListShards",
    "kinesis:PutRecord",
    "kinesis:PutRecords",
]


def stream_policy(principals, actions=WRITE, effect="Allow", **extra) -> str:
    statement = {
        "Sid": "ProducersWrite",
        "Effect": effect,
        "Principal": {"AWS": principals},
        "Action": actions,
        "Resource": STREAM,
        **extra,
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def test_the_declared_producer_may_put_records_on_the_stream():
    policy = stream_policy(PRODUCER)
    for action in WRITE:
        assert allows(policy, principal=PRODUCER, action=action, resource=STREAM)


def test_a_principal_that_is_not_declared_is_denied():
    policy = stream_policy([PRODUCER])
    other_role = "arn:aws:iam::333333333333:role/someone-else"
    other_account = "arn:aws:iam::444444444444:role/clickstream-producer"
    assert not allows(policy, principal=other_role, action="kinesis:PutRecords", resource=STREAM)
    assert not allows(policy, principal=other_account, action="kinesis:PutRecords", resource=STREAM)


def test_an_action_or_a_resource_the_policy_does_not_name_is_denied():
    policy = stream_policy(PRODUCER)
    assert not allows(policy, principal=PRODUCER, action="kinesis:GetRecords", resource=STREAM)
    assert not allows(
        policy, principal=PRODUCER, action="kinesis:PutRecords", resource=STREAM + "-other"
    )


def test_no_policy_denies_everything():
    for policy in (None, "", {}, json.dumps({"Version": "2012-10-17", "Statement": []})):
        assert not allows(policy, principal=PRODUCER, action="kinesis:PutRecords", resource=STREAM)


def test_an_account_principal_admits_every_principal_of_that_account_only():
    for principal in ("333333333333", "arn:aws:iam::333333333333:root"):
        policy = stream_policy(principal)
        assert allows(policy, principal=PRODUCER, action="kinesis:PutRecords", resource=STREAM)
        assert not allows(
            policy,
            principal="arn:aws:iam::444444444444:role/x",
            action="kinesis:PutRecords",
            resource=STREAM,
        )


def test_an_explicit_deny_wins_over_an_allow():
    document = json.loads(stream_policy(PRODUCER))
    document["Statement"].append(
        {"Effect": "Deny", "Principal": "*", "Action": "kinesis:Put*", "Resource": "*"}
    )
    assert not allows(document, principal=PRODUCER, action="kinesis:PutRecords", resource=STREAM)
    assert allows(document, principal=PRODUCER, action="kinesis:ListShards", resource=STREAM)


def test_wildcards_match_actions_case_insensitively_and_resources_exactly():
    policy = stream_policy(PRODUCER, actions="Kinesis:Put*")
    assert allows(policy, principal=PRODUCER, action="kinesis:PutRecords", resource=STREAM)
    assert not allows(policy, principal=PRODUCER, action="kinesis:ListShards", resource=STREAM)


def test_conditions_need_their_keys_in_the_context():
    key_policy = {
        "Statement": [
            {
                "Sid": "ProducersEncryptThroughKinesis",
                "Effect": "Allow",
                "Principal": {"AWS": PRODUCER},
                "Action": "kms:GenerateDataKey",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": "kinesis.eu-west-1.amazonaws.com",
                        "kms:EncryptionContext:aws:kinesis:arn": STREAM,
                    }
                },
            }
        ]
    }
    key = "arn:aws:kms:eu-west-1:222222222222:key/0f0f0f0f-0000-4000-8000-000000000000"
    through_kinesis = {
        "kms:ViaService": "kinesis.eu-west-1.amazonaws.com",
        "kms:EncryptionContext:aws:kinesis:arn": STREAM,
    }
    assert allows(
        key_policy,
        principal=PRODUCER,
        action="kms:GenerateDataKey",
        resource=key,
        context=through_kinesis,
    )
    assert not allows(key_policy, principal=PRODUCER, action="kms:GenerateDataKey", resource=key)
    other_stream = {**through_kinesis, "kms:EncryptionContext:aws:kinesis:arn": STREAM + "2"}
    assert not allows(
        key_policy,
        principal=PRODUCER,
        action="kms:GenerateDataKey",
        resource=key,
        context=other_stream,
    )


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "NotPrincipal": {"AWS": PRODUCER}, "Action": "*", "Resource": "*"},
        {
            "Effect": "Allow",
            "Principal": {"Service": "logs.amazonaws.com"},
            "Action": "*",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "*",
            "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        },
    ],
)
def test_what_the_evaluator_does_not_model_is_refused_not_guessed(statement):
    with pytest.raises(UnsupportedPolicy):
        allows(
            {"Statement": [statement]},
            principal=PRODUCER,
            action="kinesis:PutRecords",
            resource=STREAM,
            context={"aws:SourceIp": "10.1.1.1"},
        )
