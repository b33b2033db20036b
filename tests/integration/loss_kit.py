"""The preflight gate of one transition run as the engine runs it (the real built-in hook
`check_preflight` with the checks of its `CHECKS_BEFORE` row), or with one check taken out of
that row: what a cutover without that check would let through. The loss-demonstration tests
(`test_loss_*_emulator.py`) run the same set-up both ways and count what is lost."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clock_kit import records_held

from turnout.aws.access import AwsAccess
from turnout.engine.hook_runner import HookRunner
from turnout.engine.steps import gate, transition
from turnout.hooks import HookContext

REPO = Path(__file__).resolve().parents[2]


def run_gate(
    emulator: Any,
    spec: Any,
    live: str,
    desired: str,
    switched_at: datetime,
    without: Iterable[str] = (),
) -> dict:
    """The gate before `live`->`desired` on the emulator; `without`: checks taken out of its row.
    Returns the gate's outcome or raises `PreflightRefused` (one paragraph)."""
    step = gate(transition(live, desired, spec), {})
    assert step is not None, f"no gate guards {live}->{desired}"
    skipped = set(without)
    guarded = step.args(spec)["checks"]
    assert skipped <= set(guarded), f"{sorted(skipped)} do not guard {live}->{desired}"

    def args(current_spec: Any, base=step.args) -> dict:
        found = base(current_spec)
        kept = [check for check in found["checks"] if check not in skipped]
        return {**found, "checks": kept, "unknown_wait_seconds": 0}

    context = HookContext(
        spec=spec,
        aws=AwsAccess.for_emulator(spec, emulator),
        phase_from=live,
        phase_to=desired,
        project_root=REPO,
        progress=lambda message: None,
        switched_at=switched_at.astimezone(UTC).isoformat(),
    )
    return HookRunner(REPO / "hooks").run(replace(step, args=args), spec, context)


def rows(outcome: dict) -> dict[str, str]:
    """{check: verdict} of a gate's outcome."""
    return {row["name"]: row["verdict"] for row in outcome["checks"]}


def held_by_stream(kinesis: Any, spec: Any) -> list[str]:
    """The data of every record the spec's first stream (one shard, new environment) still
    holds: what a consumer enabled now at TRIM_HORIZON can read."""
    held = records_held(kinesis, spec.streams[0].name_in("new"))
    return [record["Data"].decode() for record in held]
