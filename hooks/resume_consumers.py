"""Resume every consumer of one environment (Lambda mappings enabled in place, from the position
they kept while disabled; KCL resume_command; custom consumers' own hooks). Idempotent: an
already enabled mapping is left as it is."""

from __future__ import annotations

from turnout.consumers import ConsumerControlHook


class ResumeConsumers(ConsumerControlHook):
    name = "resume_consumers"
    action = "resume"
