"""Run the preflight checks: the spec-only ones, or the spec and live ones for environments.

Read-only. Exit codes (`PreflightReport.exit_code`): 0 every row pass or warn, 1 any fail,
3 any unknown and no fail.
"""

from __future__ import annotations

import textwrap
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from turnout.aws.access import service_clock
from turnout.preflight.registry import CHECKS, PreflightContext
from turnout.preflight.result import Check, Verdict, worst

EXIT_CODES = {Verdict.PASS: 0, Verdict.WARN: 0, Verdict.FAIL: 1, Verdict.UNKNOWN: 3}
ENVIRONMENT_CHOICES = {"old": ("old",), "new": ("new",), "both": ("old", "new")}


@dataclass(frozen=True)
class PreflightReport:
    environments: tuple[str, ...]
    checks: list[Check]

    @property
    def verdict(self) -> Verdict:
        return worst(check.verdict for check in self.checks)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def failed(self) -> list[Check]:
        return [check for check in self.checks if check.verdict is Verdict.FAIL]

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict.value,
            "exit_code": self.exit_code,
            "environments": list(self.environments),
            "checks": [check.to_dict() for check in self.checks],
        }

    def text(self, width: int = 100) -> str:
        """One row per check: verdict, name, the fact, and on the next lines what to change."""
        lines = []
        for check in self.checks:
            head = f"{check.verdict.value:<8}{check.name:<22}"
            fact = textwrap.wrap(check.fact, width - len(head)) or [""]
            lines.append(head + fact[0])
            lines += [" " * len(head) + rest for rest in fact[1:]]
            if check.change:
                change = textwrap.wrap(f"change: {check.change}", width - len(head))
                lines += [" " * len(head) + part for part in change]
        scope = ", ".join(self.environments) or "spec only"
        lines.append(f"preflight ({scope}): {self.verdict.value}")
        return "\n".join(lines)


def run_preflight(
    spec: Any,
    environments: tuple[str, ...] = (),
    aws: Any = None,
    only: Collection[str] | None = None,
    migration: dict[str, Any] | None = None,
) -> PreflightReport:
    """Every registered check (or those named in `only`), by name. Without environments only
    the spec-only ones run; with them (and `aws`, an AwsAccess) the live ones too, reading
    those environments. `migration`: what the engine knows of the migration
    (`phase`, `switched_at`, `clock`: PreflightContext's fields)."""
    if environments and aws is None:
        raise ValueError("live checks need AWS access")
    fields = {"clock": service_clock(aws), **(migration or {})}
    context = PreflightContext(spec, tuple(environments), aws, **fields)
    checks = [
        definition.run(context)
        for name, definition in sorted(CHECKS.items())
        if (environments or not definition.live_only) and (only is None or name in only)
    ]
    return PreflightReport(tuple(environments), checks)
