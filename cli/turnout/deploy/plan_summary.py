"""Summarise a Terraform plan (`terraform show -json`) and guard the resources that hold data.

A destroyed or replaced Kinesis stream loses every buffered record; a destroyed ledger or state
table loses the migration's memory. Such a plan is refused unless the operator says
`--allow-destroy`, and the refusal names each address.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from turnout.errors import TerraformError

PROTECTED_TYPES = {
    "aws_kinesis_stream": "Kinesis stream (its buffered records would be lost)",
    "aws_dynamodb_table": "DynamoDB table (replication ledger, cutover state or lock)",
}
_ACTION_NAMES = {
    ("create",): "add",
    ("update",): "change",
    ("delete",): "destroy",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
}
# "import" and "move" are not actions of their own in the plan JSON: an imported resource carries
# `change.importing`, a moved one (a `moved` block) `previous_address`, with actions ["no-op"]
# (or ["update"] when it also changes). Both change the state, so a plan with only those is
# still applied.
ACTIONS = ("import", "move", "add", "change", "replace", "destroy")


@dataclass
class PlanSummary:
    environment: str
    counts: dict[str, Counter] = field(default_factory=dict)
    destructive: list[tuple[str, str]] = field(default_factory=list)
    output_changes: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # every address the plan destroys

    @property
    def totals(self) -> Counter:
        total: Counter = Counter()
        for per_type in self.counts.values():
            total.update(per_type)
        return total

    @property
    def has_changes(self) -> bool:
        return bool(sum(self.totals.values())) or bool(self.output_changes)

    def as_dict(self) -> dict:
        return {
            "environment": self.environment,
            "has_changes": self.has_changes,
            "totals": {name: self.totals.get(name, 0) for name in ACTIONS},
            "by_type": {
                kind: {name: counts.get(name, 0) for name in ACTIONS}
                for kind, counts in sorted(self.counts.items())
            },
            "destructive": [
                {"address": address, "action": action} for address, action in self.destructive
            ],
            "output_changes": self.output_changes,
            "removed": self.removed,
        }

    def text(self) -> str:
        totals = self.totals
        head = (
            f"Plan for {self.environment}: {totals['import']} to import, {totals['add']} to add, "
            f"{totals['change']} to change, {totals['replace']} to replace, "
            f"{totals['destroy']} to destroy"
            + (f", {totals['move']} to move." if totals["move"] else ".")
        )
        if not self.has_changes:
            return f"Plan for {self.environment}: no changes. The live system matches the reviewed vars."
        rows = [head]
        for kind, counts in sorted(self.counts.items()):
            parts = ", ".join(f"{counts[name]} {name}" for name in ACTIONS if counts[name])
            rows.append(f"  {kind}: {parts}")
        if self.output_changes:
            rows.append(f"  outputs changing: {', '.join(self.output_changes)}")
        rows += [f"  - destroys {address}" for address in self.removed]
        return "\n".join(rows)

    def markdown(self) -> str:
        totals = self.totals
        lines = [f"### turnout plan: `{self.environment}`", ""]
        if not self.has_changes:
            lines.append("No changes. The live system matches the reviewed vars.")
            return "\n".join(lines) + "\n"
        lines += [
            f"**{totals['import']}** to import, **{totals['add']}** to add, "
            f"**{totals['change']}** to change, **{totals['replace']}** to replace, "
            f"**{totals['destroy']}** to destroy, **{totals['move']}** to move (state only).",
            "",
            "| resource type | import | move | add | change | replace | destroy |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for kind, counts in sorted(self.counts.items()):
            lines.append(f"| `{kind}` | " + " | ".join(str(counts[n]) for n in ACTIONS) + " |")
        if self.destructive:
            lines += ["", "**Destroys data-holding resources:**", ""]
            lines += [f"- `{address}` ({action})" for address, action in self.destructive]
        return "\n".join(lines) + "\n"


def summarise_plan(environment: str, plan: dict) -> PlanSummary:
    summary = PlanSummary(environment)
    for change in plan.get("resource_changes", []):
        if change.get("mode") == "data":
            continue
        actions = tuple(change.get("change", {}).get("actions", []))
        action = _ACTION_NAMES.get(actions)
        kind = change.get("type", "?")
        if change.get("change", {}).get("importing") is not None:
            summary.counts.setdefault(kind, Counter())["import"] += 1
        if change.get("previous_address") not in (None, change.get("address")):
            summary.counts.setdefault(kind, Counter())["move"] += 1
        if action is None:
            continue
        summary.counts.setdefault(kind, Counter())[action] += 1
        if action == "destroy":
            summary.removed.append(change.get("address", kind))
        if action in ("destroy", "replace") and kind in PROTECTED_TYPES:
            summary.destructive.append((change.get("address", kind), action))
    summary.output_changes = sorted(
        name
        for name, change in plan.get("output_changes", {}).items()
        if tuple(change.get("actions", [])) not in (("no-op",), ())
    )
    return summary


def refuse_destruction(
    summary: PlanSummary, allow_destroy: bool, expected: tuple[str, ...] = ()
) -> None:
    """Refuse a plan that destroys data-holding resources, except under the address prefixes
    `expected` (a decommission posture destroys the ledgers and, last, the old streams)."""
    unexpected = [
        (address, action)
        for address, action in summary.destructive
        if action != "destroy" or not any(address.startswith(prefix) for prefix in expected)
    ]
    if not unexpected or allow_destroy:
        return
    listed = "; ".join(
        f"{address} would be {'destroyed' if action == 'destroy' else 'replaced (destroyed and recreated)'}"
        for address, action in unexpected
    )
    raise TerraformError(
        f"the {summary.environment} plan destroys data-holding resources: {listed}. A destroyed "
        f"stream loses its buffered records and a destroyed ledger or state table loses the "
        f"migration's memory. Change the spec so these stay (for a stream, keep its name, mode "
        f"and encryption key), or re-run with --allow-destroy if this is really intended. "
        f"The saved plan was discarded, so nothing can be applied from it."
    )
