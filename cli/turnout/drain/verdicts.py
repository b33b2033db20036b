"""Drain verdicts: per shard, per consumer, and how they combine.

- `drained`: evidence proves that every record of the shard was processed;
- `not_drained`: evidence shows records the consumer has not processed (yet);
- `unknown`: the evidence that would decide is missing. An unknown is never treated as drained.
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
class ConsumerVerdict:
    consumer: str
    kind: str
    evidence: str
    shards: list[ShardVerdict] = field(default_factory=list)
    note: str = ""

    @property
    def verdict(self) -> Verdict:
        return combine([shard.verdict for shard in self.shards])

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
        }

    def problems(self) -> list[str]:
        return [
            f"{self.consumer} {shard.stream}/{shard.shard}: {shard.verdict.value} ({shard.reason})"
            for shard in self.shards
            if shard.verdict is not Verdict.DRAINED
        ] or ([f"{self.consumer}: {self.verdict.value} ({self.note})"] if not self.shards else [])


def read_failure(logical: str, shard_id: str, problem: Exception, detail: dict) -> ShardVerdict:
    """A shard that could not be read proves nothing: unknown."""
    if isinstance(problem, ClientError):
        what = f"{error_code(problem)}: {error_message(problem)}"
    else:
        what = repr(problem)
    return ShardVerdict(
        logical, shard_id, Verdict.UNKNOWN, f"could not read the shard ({what})", detail
    )
