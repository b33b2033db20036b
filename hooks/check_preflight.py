"""Built-in hook: the preflight checks that guard a transition (read-only, docs/preflight.md).

The engine runs it before the transition starts, with the checks of its `CHECKS_BEFORE` row
and the operator's acceptances. A fail refuses the transition; a warning or unknown too,
unless accepted with a reason. The refusal is one paragraph naming each check, what it measured
and what to change; nothing was changed.
"""

from __future__ import annotations

from pydantic import Field

from turnout.hooks import Hook, HookArgs, HookContext
from turnout.preflight.gate import decide
from turnout.preflight.runner import run_preflight


class CheckPreflight(Hook):
    name = "check_preflight"

    class Args(HookArgs):
        transition: str
        checks: list[str]
        environments: tuple[str, ...] = ()
        accepted: dict[str, str] = Field(default_factory=dict)

    def run(self, context: HookContext) -> dict:
        report = run_preflight(
            context.spec, self.args.environments, context.aws, only=self.args.checks
        )
        for line in report.text().splitlines():
            context.progress(f"  {line}")
        return decide(report, self.args.accepted, self.args.transition)
