"""Fidelity profiles of the sandbox: how closely the emulator and the local Lambda runtime behave
like AWS where data can be lost (docs/emulator.md, "Fidelity profiles", cites every figure).

``aws`` (the default) meters Kinesis per shard and per second as AWS does, adds per-API latency,
trims records past the stream's retention on the sandbox clock, gives event source mappings
state transitions and AWS's LATEST semantics, and makes resharding close parents. ``fast`` is
moto as it is (plus turnout's fixes of moto's bugs): for tests that say why they need it.

One profile object is written as JSON into the emulator's work dir (``profile.json``); the
server and the runtime read it, so both share one clock (``clock_origin``, ``clock_rate``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from turnout.errors import TurnoutError

PROFILE_ENV = "TURNOUT_SANDBOX_PROFILE"
PROFILE_FILE = "profile.json"
PROFILE_NAMES = ("aws", "fast")
MIB = 1024 * 1024


class ProfileError(TurnoutError):
    """A fidelity profile name or file that is not valid."""


def naive_utc(seconds: float) -> datetime:
    """An epoch time as moto keeps its own times: a naive UTC datetime (moto compares those)."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Latency:
    """A call's added latency: log-normal with this median and 99th percentile (milliseconds)."""

    median_ms: float
    p99_ms: float

    def sample(self, rng: random.Random) -> float:
        """Seconds to wait (0 when the median is 0)."""
        if self.median_ms <= 0:
            return 0.0
        sigma = math.log(max(self.p99_ms, self.median_ms) / self.median_ms) / 2.326
        return rng.lognormvariate(math.log(self.median_ms), sigma) / 1000.0


# Control-plane rate limits of the Kinesis calls turnout and Terraform make: (calls per second,
# scope). Scope "account" counts per account and region, "stream" per stream, "shard" per shard.
# Sources in docs/emulator.md (each operation's API reference page).
KINESIS_CONTROL_LIMITS: dict[str, tuple[int, str]] = {
    "ListShards": (1000, "stream"),
    "DescribeStream": (10, "account"),
    "DescribeStreamSummary": (20, "account"),
    "ListStreams": (5, "account"),
    "CreateStream": (5, "account"),
    "DeleteStream": (5, "account"),
    "GetShardIterator": (5, "shard"),
    "SplitShard": (5, "account"),
    "MergeShards": (5, "account"),
    "ListTagsForStream": (5, "account"),
    "AddTagsToStream": (5, "account"),
    "RemoveTagsFromStream": (5, "account"),
    "RegisterStreamConsumer": (5, "account"),
    "DeregisterStreamConsumer": (5, "account"),
    "DescribeStreamConsumer": (20, "account"),
    "ListStreamConsumers": (5, "stream"),
}

# Per-API latency (operation as the emulator names it: "<service> <Operation>"; "kinesis *" is
# every other Kinesis call). AWS publishes no latency figures; see docs/emulator.md.
AWS_LATENCY: dict[str, Latency] = {
    "kinesis PutRecords": Latency(15.0, 60.0),
    "kinesis PutRecord": Latency(10.0, 40.0),
    "kinesis GetRecords": Latency(10.0, 40.0),
    "kinesis *": Latency(8.0, 30.0),
}

# Seconds (on the sandbox clock) an event source mapping spends in each transitional state.
AWS_MAPPING_TRANSITIONS: dict[str, float] = {
    "Creating": 2.0,
    "Enabling": 2.0,
    "Disabling": 2.0,
    "Updating": 2.0,
}


@dataclass(frozen=True)
class FidelityProfile:
    """Everything that makes the sandbox more or less like AWS. Frozen: one object per run."""

    name: str
    # Kinesis data plane, per shard and per second (real time).
    shard_limits: bool = False
    write_records_per_second: int = 1000
    write_bytes_per_second: int = 1 * MIB
    read_calls_per_second: int = 5
    read_bytes_per_second: int = 2 * MIB
    get_records_max_records: int = 10000
    get_records_max_bytes: int = 10 * MIB
    # On-demand streams: the write capacity they start with and the doubling after throttling.
    on_demand_initial_records_per_second: int = 4000
    on_demand_initial_bytes_per_second: int = 4 * MIB
    on_demand_scale_after_seconds: float = 60.0
    control_plane_limits: bool = False
    latency: dict[str, Latency] = field(default_factory=dict)
    # The sandbox clock: sandbox time = origin + (now - origin) * rate.
    clock_rate: float = 1.0
    clock_origin: float = 0.0
    retention: bool = False
    iterator_ttl_seconds: float | None = None  # real seconds; AWS: 300
    mapping_transitions: dict[str, float] = field(default_factory=dict)
    latest_at_enable: bool = False
    resharding: bool = False
    # EventBridge Scheduler schedules run and CloudWatch alarms follow their metric
    # (turnout.sandbox.emulator.scheduled_work); moto runs neither.
    scheduled_work: bool = False
    seed: int | None = None

    # ------------------------------------------------------------------ clock
    def now(self) -> float:
        """The sandbox clock (epoch seconds); the real clock when the rate is 1."""
        real = time.time()
        if self.clock_rate == 1.0:
            return real
        return self.clock_origin + (real - self.clock_origin) * self.clock_rate

    def real_seconds(self, sandbox_seconds: float) -> float:
        """How long ``sandbox_seconds`` of the sandbox clock take in real time."""
        return sandbox_seconds / self.clock_rate

    def latency_for(self, operation: str) -> Latency | None:
        found = self.latency.get(operation)
        if found is None and " " in operation:
            found = self.latency.get(operation.split(" ", 1)[0] + " *")
        return found

    # ------------------------------------------------------------------ variants and files
    def with_changes(self, **changes: Any) -> FidelityProfile:
        return dataclasses.replace(self, **changes)

    def started_now(self) -> FidelityProfile:
        """This profile with its clock's origin at the present moment."""
        return self.with_changes(clock_origin=time.time())

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["latency"] = {op: dataclasses.asdict(lat) for op, lat in self.latency.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FidelityProfile:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ProfileError(
                f"the fidelity profile has unknown settings {unknown}; valid settings are "
                f"{sorted(known)} (docs/emulator.md)."
            )
        values = dict(data)
        values["latency"] = {op: Latency(**lat) for op, lat in (data.get("latency") or {}).items()}
        return cls(**values)

    def write(self, directory: str | os.PathLike[str]) -> Path:
        path = Path(directory) / PROFILE_FILE
        partial = path.with_name(path.name + ".partial")
        partial.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")
        os.replace(partial, path)
        return path

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> FidelityProfile:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as problem:
            raise ProfileError(f"cannot read the fidelity profile {path}: {problem}") from None
        return cls.from_json(data)


AWS = FidelityProfile(
    name="aws",
    shard_limits=True,
    control_plane_limits=True,
    latency=dict(AWS_LATENCY),
    retention=True,
    iterator_ttl_seconds=300.0,
    mapping_transitions=dict(AWS_MAPPING_TRANSITIONS),
    latest_at_enable=True,
    resharding=True,
    scheduled_work=True,
)
FAST = FidelityProfile(name="fast")
PROFILES = {"aws": AWS, "fast": FAST}


def named_profile(name: str | None = None) -> FidelityProfile:
    """The profile called ``name``; without one, ``$TURNOUT_SANDBOX_PROFILE`` or ``aws``."""
    chosen = name or os.environ.get(PROFILE_ENV) or "aws"
    profile = PROFILES.get(chosen)
    if profile is None:
        source = "the profile name" if name else f"${PROFILE_ENV}"
        raise ProfileError(
            f"{source} is {chosen!r}; valid fidelity profiles are "
            f"{', '.join(PROFILE_NAMES)} (aws: behaves like AWS where data can be lost; fast: "
            "moto as it is, for tests that say why)."
        )
    return profile


def resolve_profile(profile: FidelityProfile | str | None) -> FidelityProfile:
    return profile if isinstance(profile, FidelityProfile) else named_profile(profile)
