"""Built-in hook: the preflight checks that guard a transition (read-only, docs/preflight.md).

The engine runs it before the transition starts, with the checks of its `CHECKS_BEFORE` row
and the operator's acceptances. A fail refuses the transition; a warning or unknown too,
unless accepted with a reason. The refusal is one paragraph naming each check, what it measured
and what to change; nothing was changed.

A row is `unknown` when a read failed (or when nothing shows what it asks, e.g. a consumer
without a mapping). A dropped connection or a throttled call passes, so after a failed read the
checks are read again every `reread_seconds` for up to `unknown_wait_seconds` (with progress)
before an unknown row counts; a lasting cause (credentials, access denied) still refuses.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from turnout.aws.access import service_clock
from turnout.hooks import Hook, HookArgs, HookContext
from turnout.preflight.gate import decide
from turnout.preflight.result import Verdict
from turnout.preflight.runner import PreflightReport, run_preflight


class CheckPreflight(Hook):
    name = "check_preflight"

    class Args(HookArgs):
        transition: str
        checks: list[str]
        environments: tuple[str, ...] = ()
        accepted: dict[str, str] = Field(default_factory=dict)
        unknown_wait_seconds: float = Field(default=60.0, ge=0, le=3600)
        reread_seconds: float = Field(default=5.0, gt=0, le=300)

    def run(self, context: HookContext) -> dict:
        report = self._read(context)
        for _ in range(int(self.args.unknown_wait_seconds // self.args.reread_seconds)):
            unread = [c.name for c in report.checks if c.verdict is Verdict.UNKNOWN and c.unread]
            if not unread:
                break
            context.progress(
                f"preflight: {', '.join(unread)} unknown (a read failed); reading again in "
                f"{self.args.reread_seconds:g} s, for up to {self.args.unknown_wait_seconds:g} s"
            )
            context.sleep(self.args.reread_seconds)
            report = self._read(context)
        for line in report.text().splitlines():
            context.progress(f"  {line}")
        return decide(report, self.args.accepted, self.args.transition)

    def _read(self, context: HookContext) -> PreflightReport:
        switched_at = (
            datetime.fromisoformat(context.switched_at).timestamp() if context.switched_at else None
        )
        migration = {
            "phase": context.phase_from,
            "switched_at": switched_at,
            "clock": service_clock(context.aws),
        }
        return run_preflight(
            context.spec, self.args.environments, context.aws, self.args.checks, migration
        )
