"""The read-across drain (docs/read-across.md) on in-memory fakes: markers go into the NEW
streams, the old consumer's acknowledgements are read from the OLD markers table, and the
mapping that counts is the old function's mapping on the new stream."""

from __future__ import annotations

import json

from fakes_drain import (
    PHYSICAL,
    STREAM,
    FakeClock,
    FakeDynamoDB,
    FakeKinesis,
    FakeLambda,
    make_spec,
)

from turnout.aws.kinesis import ShardReader
from turnout.drain.read_across import ReadAcrossScope, read_across_predicates
from turnout.drain.verdicts import Verdict

NEW_NAME = "clicks-new"
NEW_ARN = f"arn:aws:kinesis:eu-west-1:222222222222:stream/{NEW_NAME}"
OLD_ARN = f"arn:aws:kinesis:eu-west-1:111111111111:stream/{PHYSICAL}"
CONSUMER = {
    "kind": "lambda",
    "function_name": "fn",
    "streams": [STREAM],
    "drain_evidence": "markers",
}


def world(state_on_new: str = "Enabled"):
    clock = FakeClock()
    old_kinesis, new_kinesis = FakeKinesis(clock), FakeKinesis(clock, account="222222222222")
    old_kinesis.create(PHYSICAL, 1)
    new_kinesis.create(NEW_NAME, 2)
    old_ddb = FakeDynamoDB()
    old_ddb.create("o-turnout-markers", "marker_id")
    old_lambda = FakeLambda()
    old_lambda.add("own", "fn", OLD_ARN, "Disabled")  # its own mapping on the old stream
    old_lambda.add("across", "fn", NEW_ARN, state_on_new)
    clients = {"kinesis": new_kinesis, "dynamodb": old_ddb, "lambda": old_lambda}
    scope = ReadAcrossScope(
        spec=make_spec([CONSUMER]),
        environment="old",
        client=clients.__getitem__,
        reader=ShardReader(new_kinesis, clock=clock.time, sleep=clock.sleep),
        clock=clock.time,
    )
    return old_kinesis, new_kinesis, old_ddb, scope


def acknowledge(kinesis: FakeKinesis, ddb: FakeDynamoDB, name: str) -> int:
    count = 0
    for shard in kinesis.streams[name]:
        for record in shard.records:
            marker = json.loads(record["Data"]).get("turnout_marker")
            if marker:
                ddb.put("o-turnout-markers", {"marker_id": marker["id"], "consumer": "fn"})
                count += 1
    return count


def test_markers_go_into_the_new_streams_and_are_acknowledged_in_the_old_table():
    old_kinesis, new_kinesis, old_ddb, scope = world()
    (predicate,) = read_across_predicates(scope)
    prepared = predicate.prepare()
    assert len(prepared["markers"]) == 2
    assert all(not shard.records for shard in old_kinesis.streams[PHYSICAL])
    assert all(len(shard.records) == 1 for shard in new_kinesis.streams[NEW_NAME])
    assert predicate.check().verdict is Verdict.NOT_DRAINED
    assert acknowledge(new_kinesis, old_ddb, NEW_NAME) == 2
    assert predicate.check().verdict is Verdict.DRAINED


def test_a_disabled_read_across_mapping_cannot_drain_so_the_verdict_is_unknown():
    _old, _new, _ddb, scope = world(state_on_new="Disabled")
    (predicate,) = read_across_predicates(scope)
    predicate.prepare()
    assert predicate.check().verdict is Verdict.UNKNOWN
