"""Replicator happy path: bytes, keys, packing, the near-prefix window and per-key order."""

from __future__ import annotations

import json

import pytest
from fakes_kinesis import (
    MIB,
    TARGET_STREAM,
    FakeAws,
    FakeClock,
    FakeContext,
    SourceRecord,
    check_delivery,
    make_event,
    make_replicator,
    make_shard,
)

from turnout.lambdas.replicator import (
    BadEventError,
    ConfigurationError,
    ReplicatorConfig,
    StreamRoute,
    parse_batch,
)


def test_every_record_is_written_byte_for_byte_with_its_partition_key():
    aws = FakeAws(FakeClock())
    replicator, _ = make_replicator(aws)
    records = make_shard(1200, keys=40, payload_bytes=300)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert outcome.response() == {"batchItemFailures": []}
    report = check_delivery(aws.target(), records)
    assert report.written == 1200 and report.duplicates == 0
    # identical multiset of (key, bytes), nothing more
    assert sorted((w.partition_key, w.data) for w in aws.target()) == sorted(
        (r.partition_key, r.data) for r in records
    )


def test_kpl_aggregated_record_passes_through_unchanged():
    aws = FakeAws(FakeClock())
    replicator, _ = make_replicator(aws)
    # KPL aggregation magic (F3 89 9A C2) + protobuf-ish body + 16-byte MD5 trailer
    aggregated = bytes.fromhex("f3899ac2") + b"\x0a\x03key\x1a\x05\x08\x00\x1a\x01x" + bytes(16)
    records = [SourceRecord(0, "100", "agg-key", aggregated, 1.0)]
    assert replicator.process(make_event(records), FakeContext(aws.clock)).written == 1
    assert [(w.partition_key, w.data) for w in aws.target()] == [("agg-key", aggregated)]


def test_records_of_distinct_keys_pack_500_per_call():
    aws = FakeAws(FakeClock())
    # unpaced (pacing spreads a shard's 1,000 records/s over small portions)
    replicator, _ = make_replicator(
        aws, shard_records_per_second=10**6, shard_bytes_per_second=10**9
    )
    records = make_shard(5000, keys=10**9, payload_bytes=100)  # every key distinct
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert outcome.response()["batchItemFailures"] == []
    assert [len(call) for call in aws.put_calls] == [500] * 10
    check_delivery(aws.target(), records)


def test_strict_calls_carry_one_record_per_key_from_the_oldest_pending_on():
    aws = FakeAws(FakeClock())
    replicator, _ = make_replicator(aws)
    records = make_shard(5000, keys=2000, payload_bytes=100)
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert outcome.response()["batchItemFailures"] == []
    index_of = {r.data: r.index for r in records}
    by_call: dict[int, list[int]] = {}
    for written in aws.target():
        by_call.setdefault(written.call, []).append(index_of[written.data])
    for keys, indices in zip(aws.put_calls, by_call.values(), strict=True):
        assert len(keys) == len(set(keys)), "a call carried two records of one key"
        assert indices == sorted(indices), "a call was not filled oldest record first"
    check_delivery(aws.target(), records)


def test_no_call_reaches_past_the_window_after_the_first_unwritten_record():
    aws = FakeAws(FakeClock(), entry_failure_rate=0.3, seed=5)
    replicator, _ = make_replicator(aws, prefix_window=200)
    records = make_shard(3000, keys=1500, payload_bytes=50)
    first_unwritten = []
    original = replicator.writer._send

    def send(run, call, taken):
        first_unwritten.append(run.scheduler.prefix)
        assert max(call) < run.scheduler.prefix + 200, "a record past the window was sent"
        original(run, call, taken)

    replicator.writer._send = send
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))
    assert outcome.failure_index is None
    assert len(first_unwritten) > 15  # the window really moved along
    check_delivery(aws.target(), records)


def test_calls_stay_under_the_5_mib_request_limit():
    aws = FakeAws(FakeClock())
    # pacing (1 MiB/s per shard) would make these one-record calls; this test is about the
    # request limit only
    replicator, _ = make_replicator(aws, shard_bytes_per_second=10**6 * MIB)
    records = make_shard(40, keys=40, payload_bytes=900 * 1024)  # ~35 MiB in total
    outcome = replicator.process(make_event(records), FakeContext(aws.clock))

    assert outcome.response()["batchItemFailures"] == []
    assert all(len(call) <= 5 for call in aws.put_calls)  # 5 x 900 KiB < 5 MiB < 6 x
    assert len(aws.put_calls) == 8
    check_delivery(aws.target(), records)


def test_single_hot_key_goes_one_record_per_call_in_order():
    aws = FakeAws(FakeClock())
    replicator, _ = make_replicator(aws)
    records = make_shard(50, keys=1)
    replicator.process(make_event(records), FakeContext(aws.clock))
    assert [len(c) for c in aws.put_calls] == [1] * 50
    assert [w.data for w in aws.target()] == [r.data for r in records]


def test_empty_batch_succeeds_without_calls():
    aws = FakeAws(FakeClock())
    replicator, _ = make_replicator(aws)
    assert replicator.handle({"Records": []}, FakeContext(aws.clock)) == {"batchItemFailures": []}
    assert aws.call_attempts == 0


def test_unmapped_source_stream_is_a_visible_error():
    aws = FakeAws(FakeClock())
    replicator, logs = make_replicator(aws)
    with pytest.raises(ConfigurationError):
        replicator.process(make_event(make_shard(3, 2), stream="other"), FakeContext(aws.clock))
    assert aws.call_attempts == 0
    assert any(json.loads(line)["message"] == "stream_not_mapped" for line in logs)


def test_mixed_shards_in_one_event_are_rejected():
    event = make_event(make_shard(2, 2))
    event["Records"][1]["eventID"] = "shardId-000000000099:" + "1"
    with pytest.raises(BadEventError):
        parse_batch(event)


def test_parse_batch_reads_stream_shard_and_sizes():
    records = [SourceRecord(0, "5", "é", b"abc", 12.5)]
    batch = parse_batch(make_event(records))
    assert (batch.stream_name, batch.shard_id) == ("clicks", "shardId-000000000007")
    assert batch.entries == [{"Data": b"abc", "PartitionKey": "é"}]
    assert "ExplicitHashKey" not in batch.entries[0]
    assert batch.sizes == [3 + 2]  # partition key counted in UTF-8 bytes
    assert batch.arrivals == [12.5]


def test_config_from_environment_reads_the_documented_variables():
    env = {
        "TURNOUT_DIRECTION": "new_to_old",
        "TURNOUT_DIRECTION_PARAMETER": "/turnout/m/active-direction",
        "TURNOUT_TARGET_ROLE_ARN": "arn:aws:iam::1:role/w",
        "TURNOUT_EXTERNAL_ID": "x",
        "TURNOUT_TARGET_REGION": "eu-west-1",
        "TURNOUT_STREAM_MAP": json.dumps({"a": "b"}),
        "TURNOUT_LEDGER_TABLE": "ledger",
        "TURNOUT_METRIC_NAMESPACE": "Turnout/Replication",
        "TURNOUT_MAX_RECORD_BYTES": str(10 * MIB),
    }
    config = ReplicatorConfig.from_environment(env)
    assert config.stream_map == {"a": "b"}
    assert config.max_record_bytes == 10 * MIB
    assert config.max_request_bytes == 10 * MIB
    del env["TURNOUT_MAX_RECORD_BYTES"]
    assert ReplicatorConfig.from_environment(env).max_request_bytes == 5 * MIB
    with pytest.raises(ConfigurationError):
        ReplicatorConfig.from_environment({**env, "TURNOUT_DIRECTION": "both"})
    with pytest.raises(ConfigurationError):
        ReplicatorConfig.from_environment({**env, "TURNOUT_STREAM_MAP": "[1]"})
    with pytest.raises(ConfigurationError):
        ReplicatorConfig.from_environment(
            {k: v for k, v in env.items() if k != "TURNOUT_EXTERNAL_ID"}
        )


def test_target_stream_name_comes_from_the_stream_map():
    aws = FakeAws(FakeClock())
    aws.streams = {"renamed": []}
    replicator, _ = make_replicator(aws, stream_map={"clicks": "renamed"})
    replicator.process(make_event(make_shard(10, 3)), FakeContext(aws.clock))
    assert len(aws.streams["renamed"]) == 10
    assert TARGET_STREAM not in aws.streams


def test_the_stream_map_names_a_target_or_a_target_and_its_order():
    env = {
        "TURNOUT_DIRECTION": "new_to_old",
        "TURNOUT_DIRECTION_PARAMETER": "/turnout/m/active-direction",
        "TURNOUT_TARGET_ROLE_ARN": "arn:aws:iam::1:role/w",
        "TURNOUT_EXTERNAL_ID": "x",
        "TURNOUT_TARGET_REGION": "eu-west-1",
        "TURNOUT_LEDGER_TABLE": "ledger",
        "TURNOUT_STREAM_MAP": json.dumps(
            {"a": "b", "c": {"target": "d", "ordering": "relaxed"}, "e": {"target": "f"}}
        ),
    }
    config = ReplicatorConfig.from_environment(env)
    assert config.route("a") == StreamRoute("b", "strict")
    assert config.route("c") == StreamRoute("d", "relaxed")
    assert config.route("e") == StreamRoute("f", "strict")
    assert config.route("x") is None
    for bad in ({"a": {"target": "b", "ordering": "loose"}}, {"a": {"name": "b"}}, {"a": ""}):
        with pytest.raises(ConfigurationError, match=r"TURNOUT_STREAM_MAP\['a'\]"):
            ReplicatorConfig.from_environment({**env, "TURNOUT_STREAM_MAP": json.dumps(bad)})
