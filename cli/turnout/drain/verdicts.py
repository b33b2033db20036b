"""Drain verdicts: per shard, per consumer, and how they combine.

- `drained`: evidence proves that every record of the shard was processed;
- `not_drained`: evidence shows records the consumer has not processed (yet);
- `unknown`: the evidence that would decide is missing. An unknown is never treated as drained.

A consumer's verdict also counts its on-failure destinations (`DiscardVerdict`): records
discarded there make it not drained, whatever its shards say.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code, error_message


class Verdict(StrEnum):
    DRAINED = "drained"
    NOT_DRAINED = "not_drained"
    UNKNOWN = "unknown"


def combine(verdicts: list[Verdict]) -> Verdict:
    """not_drained wins over unknown, unknown over drained; nothing to check is unknown."""
    if not verdicts:
        return Verdict.UNKNOWN
    if Verdict.NOT_DRAINED in verdicts:
        return Verdict.NOT_DRAINED
    if Verdict.UNKNOWN in verdicts:
        return Verdict.UNKNOWN
    return Verdict.DRAINED


@dataclass
class ShardVerdict:
    stream: str  # logical stream name
    shard: str  # shard id, or "*" for stream-level evidence (metrics)
    verdict: Verdict
    reason: str
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        return data


@dataclass
class DiscardVerdict:
    """What one on-failure destination of a consumer received during the migration
    (`turnout.drain.discarded`): drained means read and nothing new."""

    consumer: str
    destination: str
    verdict: Verdict
    reason: str
    detail: dict = field(default_factory=dict)

    @property
    def final(self) -> bool:
        """Records were discarded: no later check can make this consumer drained."""
        return self.verdict is Verdict.NOT_DRAINED

    def to_dict(self) -> dict:
        return {
            "consumer": self.consumer,
            "destination": self.destination,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass
class ConsumerVerdict:
    consumer: str
    kind: str
    evidence: str
    shards: list[ShardVerdict] = field(default_factory=list)
    note: str = ""
    discards: list[DiscardVerdict] = field(default_factory=list)  # on-failure destinations

    @property
    def verdict(self) -> Verdict:
        """The shards' verdict, made worse by any on-failure destination not proven empty."""
        shards = combine([shard.verdict for shard in self.shards])
        return combine([shards, *(discard.verdict for discard in self.discards)])

    @property
    def final(self) -> bool:
        """Records were discarded: waiting longer cannot make this consumer drained."""
        return any(discard.final for discard in self.discards)

    @property
    def drained_count(self) -> int:
        return sum(1 for shard in self.shards if shard.verdict is Verdict.DRAINED)

    def to_dict(self) -> dict:
        return {
            "consumer": self.consumer,
            "kind": self.kind,
            "evidence": self.evidence,
            "verdict": self.verdict.value,
            "drained_shards": self.drained_count,
            "shards": [shard.to_dict() for shard in self.shards],
            **({"note": self.note} if self.note else {}),
            **({"discards": [d.to_dict() for d in self.discards]} if self.discards else {}),
        }

    def problems(self) -> list[str]:
        discarded = [
            f"{self.consumer}: {discard.reason}"
            for discard in self.discards
            if discard.verdict is not Verdict.DRAINED
        ]
        shards = [
            f"{self.consumer} {shard.stream}/{shard.shard}: {shard.verdict.value} ({shard.reason})"
            for shard in self.shards
            if shard.verdict is not Verdict.DRAINED
        ] or ([f"{self.consumer}: {self.verdict.value} ({self.note})"] if not self.shards else [])
        return discarded + shards


def read_failure(logical: str, shard_id: str, problem: Exception, detail: dict) -> ShardVerdict:
    """A shard that could not be read proves nothing: unknown."""
    if isinstance(problem, ClientError):
        what = f"{error_code(problem)}: {error_message(problem)}"
    else:
        what = repr(problem)
    return ShardVerdict(
        logical, shard_id, Verdict.UNKNOWN, f"could not read the shard ({what})", detail
    )
