"""A preflight row: one named check's verdict, the fact it measured, and what to change.

- `pass`: the setup cannot lose records this way;
- `warn`: it might, or turnout cannot see all of it; the fact says what to look at;
- `fail`: it loses records on AWS; the migration must not start like this;
- `unknown`: what would decide could not be read (never taken as pass).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Verdict(StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"


# Which verdict a row takes when its findings differ: a fail decides, then what could not be
# read (a warning found elsewhere does not make the unread part safe), then a warning.
_PRECEDENCE = (Verdict.FAIL, Verdict.UNKNOWN, Verdict.WARN, Verdict.PASS)


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    found = set(verdicts)
    return next((verdict for verdict in _PRECEDENCE if verdict in found), Verdict.PASS)


@dataclass(frozen=True)
class Finding:
    """One thing a check found, e.g. one mapping at LATEST."""

    verdict: Verdict
    fact: str
    change: str = ""
    unread: bool = False  # unknown because a read failed (it may pass when read again)


@dataclass(frozen=True)
class Check:
    """One row of the preflight table."""

    name: str
    verdict: Verdict
    fact: str
    change: str = ""
    reads: str = "spec"  # "spec" or "spec+<env>" / "<env>": what the row looked at
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, name: str, reads: str, findings: list[Finding], passed: str) -> Check:
        """The row for `findings`: the worst verdict; the facts and changes of every finding
        that is not a pass (`passed` when all pass)."""
        verdict = worst(finding.verdict for finding in findings)
        if verdict is Verdict.PASS:
            facts = [passed] + [f.fact for f in findings if f.fact]
            return cls(name, verdict, "; ".join(facts), "", reads, tuple(findings))
        telling = [f for f in findings if f.verdict is not Verdict.PASS]
        changes = list(dict.fromkeys(f.change for f in telling if f.change))
        facts = list(dict.fromkeys(f.fact for f in telling))  # one unreadable place, once
        return cls(
            name,
            verdict,
            "; ".join(facts),
            "; ".join(changes),
            reads,
            tuple(findings),
        )

    @property
    def unread(self) -> bool:
        return any(finding.unread for finding in self.findings)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "verdict": self.verdict.value,
            "fact": self.fact,
            "change": self.change,
            "reads": self.reads,
            "findings": [
                {"verdict": f.verdict.value, "fact": f.fact, "change": f.change}
                for f in self.findings
            ],
        }
