"""The decommission plan: exactly what `committed -> decommissioned` removes, and what stays.

Read-only: the steps, the Terraform plan of each of the transition's applies against the live
state (every address it destroys), the old consumers' mappings it deletes, when each old stream
may go (its retention after the commit), and what turnout leaves in place.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from turnout.decommission.mappings import remove_lambda_mappings
from turnout.engine.steps import ApplyStep, transition
from turnout.hooks import HookContext
from turnout.spec.names import control_plane, names

STAYS = (
    "the control plane: state, lock and markers tables, KMS key, route and direction parameters",
    "the new environment's streams and consumers",
    "the data stores' sources in the old environment and their copies in the new",
)


def decommission_plan(engine: Any) -> dict:
    spec = engine.spec
    current = transition("committed", "decommissioned", spec)
    committed = engine.store.phase_reached_at("committed")
    plans = []
    for step in current.steps:
        if isinstance(step, ApplyStep):
            label = f"{current.name}/{step.id}"
            texts = engine.applier.plan_texts(current.to_phase, step.posture, label)
            plans.append({"step": step.id, "posture": step.posture.describe(), "plans": texts})
    context = HookContext(
        spec=spec,
        aws=engine.aws,
        phase_from="committed",
        phase_to="decommissioned",
        project_root=engine.hooks.project_root,
        progress=lambda message: None,
        dry_run=True,
    )
    mappings = remove_lambda_mappings(context, "old", timeout_seconds=0)
    return {
        "live_phase": engine.store.load().phase,
        "committed_at": committed,
        "steps": [f"{step.id}: {engine.step_text(step)}" for step in current.steps],
        "terraform": plans,
        "old_consumer_mappings": mappings,
        "old_streams": _streams(spec, committed),
        "stays": [*STAYS, f"(the control plane lives in {control_plane(spec).environment})"],
    }


def _streams(spec: Any, committed: str | None) -> list[dict]:
    start = datetime.fromisoformat(committed) if committed else None
    rows = []
    for stream in spec.streams:
        due = start + timedelta(hours=stream.retention_hours) if start else None
        rows.append(
            {
                "stream": names(spec, "old").stream(stream.name),
                "retention_hours": stream.retention_hours,
                "deleted": spec.decommission.delete_old_streams,
                "not_before": due.astimezone(UTC).isoformat(timespec="seconds") if due else None,
            }
        )
    return rows


def decommission_text(plan: dict) -> str:
    lines = [
        f"decommission plan (live phase: {plan['live_phase']}; committed at: "
        f"{plan['committed_at'] or 'not yet'})",
        "steps of committed -> decommissioned:",
        *[f"  {line}" for line in plan["steps"]],
        "old consumers' event source mappings deleted:",
    ]
    removed = plan["old_consumer_mappings"]["removed"]
    lines += [f"  {m['function']} {m['uuid']} on {m['source']}" for m in removed] or ["  none"]
    lines += [f"  stop yourself: {entry}" for entry in plan["old_consumer_mappings"]["manual"]]
    for entry in plan["terraform"]:
        lines.append(f"terraform, step {entry['step']} ({entry['posture']}):")
        lines += [f"  {row}" for text in entry["plans"] for row in text.splitlines()]
    lines.append("old streams:")
    for row in plan["old_streams"]:
        if not row["deleted"]:
            lines.append(f"  {row['stream']}: kept (decommission.delete_old_streams is false)")
            continue
        when = row["not_before"] or f"{row['retention_hours']} h after the commit"
        lines.append(
            f"  {row['stream']}: deleted with --allow-destroy, not before {when}, and only if "
            f"nothing was written to it since the commit"
        )
    lines.append("stays:")
    lines += [f"  {entry}" for entry in plan["stays"]]
    return "\n".join(lines)
