"""Resume every consumer of one environment (Lambda mappings enabled in place, from the position
they kept while disabled; KCL resume_command; custom consumers' own hooks). Idempotent: an
already enabled mapping is left as it is."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from turnout.hooks import Hook, HookArgs, HookContext
from turnout.streams import control_consumers


class ResumeConsumers(Hook):
    name = "resume_consumers"

    class Args(HookArgs):
        environment: Literal["old", "new"]
        settle_timeout_seconds: float = Field(default=300, gt=0)
        command_timeout_seconds: float = Field(default=300, gt=0)
        poll_seconds: float = Field(default=2.0, gt=0)

    def run(self, context: HookContext) -> dict:
        return control_consumers(
            context,
            self.args.environment,
            "resume",
            settle_timeout_seconds=self.args.settle_timeout_seconds,
            command_timeout_seconds=self.args.command_timeout_seconds,
            poll_seconds=self.args.poll_seconds,
        )
