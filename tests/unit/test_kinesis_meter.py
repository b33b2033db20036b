"""The aws profile's per-shard meter (turnout.sandbox.emulator.kinesis_limits.ShardMeter), with
the clock given: the windows and figures AWS documents, and the profile's bad-input paragraph.
https://docs.aws.amazon.com/streams/latest/dev/service-sizes-and-limits.html
https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html"""

from __future__ import annotations

import pytest

from turnout.errors import TurnoutError
from turnout.sandbox.emulator.kinesis_limits import ShardMeter
from turnout.sandbox.emulator.profile import AWS, MIB, FidelityProfile, named_profile

SHARD = ("111111111111", "eu-west-1", "clicks", "shardId-000000000000")


def test_a_shard_takes_1000_records_a_second_and_a_new_second_starts_afresh():
    meter = ShardMeter(AWS)
    admitted = [meter.admit_write(SHARD, 10, now=100.2) for _ in range(1200)]
    assert admitted.count(True) == 1000
    assert meter.admit_write(SHARD, 10, now=101.0)
    other_shard = (*SHARD[:3], "shardId-000000000001")
    assert meter.admit_write(other_shard, 10, now=100.9), "limits are per shard"


def test_a_shard_takes_one_mib_a_second():
    meter = ShardMeter(AWS)
    assert meter.admit_write(SHARD, MIB - 100, now=5.0)
    assert not meter.admit_write(SHARD, 200, now=5.5)
    assert meter.admit_write(SHARD, 100, now=5.6)


def test_reads_five_calls_a_second_and_a_large_read_throttles_the_next_five_seconds():
    meter = ShardMeter(AWS)
    assert [meter.admit_read_call(SHARD, now=10.1) for _ in range(6)] == [True] * 5 + [False]
    assert meter.admit_read_call(SHARD, now=11.0)
    meter.charge_read(SHARD, 10 * MIB, now=11.0)
    assert not meter.admit_read_call(SHARD, now=13.0)
    assert not meter.admit_read_call(SHARD, now=15.9)
    assert meter.admit_read_call(SHARD, now=16.0)


def test_on_demand_capacity_doubles_after_sustained_throttling():
    meter = ShardMeter(AWS.with_changes(on_demand_scale_after_seconds=3))
    for second in range(4):
        admitted = [meter.admit_write(SHARD, 1, True, now=second + 0.5) for _ in range(2500)]
    assert admitted.count(True) == 2000
    assert meter.counts()["on_demand_capacity_factors"] == {"111111111111/eu-west-1/clicks": 2.0}


def test_switched_off_the_meter_is_not_consulted_and_the_fast_profile_says_so():
    assert named_profile("fast").shard_limits is False
    assert named_profile("aws").shard_limits is True


def test_an_unknown_profile_name_is_one_paragraph_naming_the_valid_ones(monkeypatch):
    with pytest.raises(TurnoutError) as raised:
        named_profile("real")
    assert "'real'" in str(raised.value) and "aws, fast" in str(raised.value)
    monkeypatch.setenv("TURNOUT_SANDBOX_PROFILE", "slow")
    with pytest.raises(TurnoutError, match=r"\$TURNOUT_SANDBOX_PROFILE is 'slow'"):
        named_profile()


def test_a_profile_survives_its_json_file(tmp_path):
    profile = AWS.with_changes(clock_rate=3600.0).started_now()
    assert FidelityProfile.read(profile.write(tmp_path)) == profile
    (tmp_path / "profile.json").write_text('{"name": "x", "speed": 1}')
    with pytest.raises(TurnoutError, match="unknown settings"):
        FidelityProfile.read(tmp_path / "profile.json")


def test_the_sandbox_clock_runs_at_its_rate():
    profile = AWS.with_changes(clock_rate=3600.0).started_now()
    assert profile.now() - profile.clock_origin < 3600 * 5
    assert profile.real_seconds(86400) == 24.0
