"""How discovery ties mappings, KCL lease tables and fan-out consumers to streams."""

from __future__ import annotations

import pytest

from turnout.discover.classify import (
    StreamFacts,
    classify_consumers,
    classify_mappings,
    drift_warnings,
    is_kcl_shaped,
    match_leases,
    parse_lease_key,
)
from turnout.discover.output import logical_names

ARN = "arn:aws:kinesis:eu-west-1:111111111111:stream/{}"
KEY_ARN = "arn:aws:kms:eu-west-1:111111111111:key/0f0e0d0c-0b0a-0908-0706-050403020100"


def shard(number: int) -> str:
    return f"shardId-{number:012d}"


def stream(name: str, shards: int, closed: int = 0, **overrides) -> StreamFacts:
    ids = [shard(number) for number in range(shards)]
    facts = {
        "name": name,
        "arn": ARN.format(name),
        "status": "ACTIVE",
        "mode": "PROVISIONED",
        "open_shards": shards - closed,
        "shard_ids": ids,
        "open_shard_ids": ids[closed:],
        "retention_hours": 24,
        "encryption": "KMS",
        "key_id": "alias/aws/kinesis",
        "tags": {},
        "shard_level_metrics": [],
        "consumers": [],
    }
    return StreamFacts(**{**facts, **overrides})


def test_a_single_stream_table_belongs_to_the_stream_whose_open_shards_are_all_leased():
    streams = [stream("on-demand", 4), stream("audit", 3)]
    keys = [shard(0), shard(1), shard(2)]
    match = match_leases(keys, streams)
    assert not isinstance(match, str)
    assert (match[0].name, match[1]) == ("audit", "single-stream")


def test_leases_of_closed_parents_still_match_after_a_reshard():
    streams = [stream("clicks", 3, closed=1)]
    assert match_leases([shard(1), shard(2)], streams)[0].name == "clicks"
    assert match_leases([shard(0), shard(1), shard(2)], streams)[0].name == "clicks"


def test_two_streams_with_the_same_shards_are_ambiguous_and_say_so():
    reason = match_leases([shard(0)], [stream("a", 1), stream("b", 1)])
    assert isinstance(reason, str)
    assert "several streams (a, b)" in reason


def test_leases_of_a_stream_that_is_not_here_are_unclassified():
    reason = match_leases([shard(7)], [stream("a", 2)])
    assert reason == "its 1 lease key(s) match the shards of no discovered stream"


def test_multi_stream_lease_keys_name_their_stream():
    keys = [f"111111111111:orders:1700000000:{shard(n)}" for n in range(2)]
    match = match_leases(keys, [stream("orders", 2), stream("clicks", 2)])
    assert (match[0].name, match[1]) == ("orders", "multi-stream")


def test_a_multi_stream_table_over_two_streams_is_left_to_a_person():
    keys = ["1:orders:1:" + shard(0), "1:clicks:1:" + shard(0)]
    assert "split it by hand" in match_leases(keys, [stream("orders", 1), stream("clicks", 1)])


@pytest.mark.parametrize(
    ("key", "parsed"),
    [
        ("shardId-000000000003", (None, "shardId-000000000003")),
        ("orders:shardId-000000000003", ("orders", "shardId-000000000003")),
        ("123456789012:orders:1700000000:shardId-000000000003", ("orders", "shardId-000000000003")),
    ],
)
def test_lease_key_layouts(key, parsed):
    assert parse_lease_key(key) == parsed


def test_only_a_leasekey_string_hash_key_is_kcl_shaped():
    kcl = {
        "KeySchema": [{"AttributeName": "leaseKey", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "leaseKey", "AttributeType": "S"}],
    }
    ranged = {
        "KeySchema": [
            {"AttributeName": "leaseKey", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": kcl["AttributeDefinitions"],
    }
    other = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    }
    assert is_kcl_shaped(kcl)
    assert not is_kcl_shaped(ranged)
    assert not is_kcl_shaped(other)


def mapping(uuid: str, source: str, function: str = "fn") -> dict:
    return {
        "UUID": uuid,
        "EventSourceArn": source,
        "FunctionArn": f"arn:aws:lambda:eu-west-1:111111111111:function:{function}:live",
        "State": "Enabled",
        "BatchSize": 100,
    }


def test_mappings_are_tied_to_streams_and_fan_out_consumers_and_unknown_ones_listed():
    orders = stream("orders", 1)
    orders.consumers.append(
        {"name": "efo", "arn": orders.arn + "/consumer/efo:1", "status": "ACTIVE", "used_by": None}
    )
    unclassified: list[dict] = []
    classified = classify_mappings(
        [
            mapping("m1", orders.arn, "plain"),
            mapping("m2", orders.arn + "/consumer/efo:1", "fast"),
            mapping("m3", ARN.format("gone"), "orphan"),
            mapping("m4", ARN.format("skipped"), "elsewhere"),
        ],
        [orders],
        {"orders", "skipped"},
        unclassified,
    )
    assert [(m.uuid, m.function_name, m.stream, m.consumer) for m in classified] == [
        ("m2", "fast", "orders", "efo"),
        ("m1", "plain", "orders", None),
    ]
    assert orders.consumers[0]["used_by"] == "event source mapping m2"
    assert [(item["kind"], item["name"]) for item in unclassified] == [
        ("event_source_mapping", "m3")
    ]


def test_a_fan_out_consumer_nobody_uses_is_unclassified():
    audit = stream("audit", 1)
    audit.consumers.append({"name": "mystery", "arn": "x", "status": "ACTIVE", "used_by": None})
    unclassified: list[dict] = []
    classify_consumers([audit], [], unclassified)
    assert unclassified[0]["kind"] == "efo_consumer"
    assert unclassified[0]["name"] == "mystery"


def test_drift_is_reported_for_what_the_spec_cannot_express():
    assert drift_warnings(stream("ok", 1)) == []
    assert drift_warnings(stream("ok", 1, key_id=KEY_ARN)) == []
    assert "is not encrypted" in drift_warnings(stream("plain", 1, encryption="NONE"))[0]
    assert "not a key ARN" in drift_warnings(stream("alias", 1, key_id="alias/mine"))[0]


def test_logical_names_are_valid_and_unique():
    names = logical_names(
        [stream("Clickstream.Events", 1), stream("clickstream-events", 1), stream("9lives", 1)]
    )
    assert names == {
        "Clickstream.Events": "clickstream-events",
        "clickstream-events": "clickstream-events-2",
        "9lives": "s-9lives",
    }
