"""Pause every consumer of one environment (Lambda mappings disabled in place, KCL pause_command,
custom consumers' own hooks). Idempotent: an already disabled mapping is left as it is."""

from __future__ import annotations

from turnout.consumers import ConsumerControlHook


class PauseConsumers(ConsumerControlHook):
    name = "pause_consumers"
    action = "pause"
