"""Summarise a Terraform plan and guard what must not be replaced.

The summary reads `terraform show -json`'s document; a plan made with `terraform plan -json` is
read from its machine-readable messages instead (`plan_from_messages`), which saves the `show`
process (it loads every provider schema again) for every plan turnout makes.

A destroyed or replaced stream loses its buffered records, a replaced event source mapping its
checkpoint, a replaced KMS key everything encrypted under it (turnout.deploy.protected lists them
and their consequences). Such a plan is refused unless the operator names each address with
`--allow-destroy ADDRESS`; the refusal names each one and says what would be lost.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field

from turnout.deploy.protected import Destructive, destructive_change
from turnout.errors import TerraformError

# module.a["k"].module.b.aws_type.name[0] (what `terraform show -json` calls an address)
_ADDRESS = re.compile(
    r"^(module\.[A-Za-z0-9_-]+(\[[^\]]+\])?\.)*[a-z0-9_]+\.[A-Za-z0-9_-]+(\[[^\]]+\])?$"
)
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
    destructive: list[Destructive] = field(default_factory=list)
    output_changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. a dead run's state lock removed
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
                {"address": d.address, "action": d.action, "consequence": d.consequence}
                for d in self.destructive
            ],
            "output_changes": self.output_changes,
            "notes": self.notes,
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
        notes = [f"  note: {note}" for note in self.notes]
        if not self.has_changes:
            return "\n".join(
                [
                    f"Plan for {self.environment}: no changes. The live system matches the reviewed vars.",
                    *notes,
                ]
            )
        rows = [head, *notes]
        for kind, counts in sorted(self.counts.items()):
            parts = ", ".join(f"{counts[name]} {name}" for name in ACTIONS if counts[name])
            rows.append(f"  {kind}: {parts}")
        if self.output_changes:
            rows.append(f"  outputs changing: {', '.join(self.output_changes)}")
        rows += [f"  ! {destructive.describe()}" for destructive in self.destructive]
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
            lines += ["", "**Destroys or replaces protected resources:**", ""]
            lines += [f"- `{d.address}` ({d.action}): {d.consequence}" for d in self.destructive]
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
        destructive = destructive_change(change, action)
        if destructive is not None:
            summary.destructive.append(destructive)
    summary.output_changes = sorted(
        name
        for name, change in plan.get("output_changes", {}).items()
        if tuple(change.get("actions", [])) not in (("no-op",), ())
    )
    return summary


# `terraform plan -json` names one action per change; `show -json` lists its steps.
_UI_ACTIONS = {
    "create": ["create"],
    "update": ["update"],
    "delete": ["delete"],
    "replace": ["delete", "create"],
    "remove": ["forget"],
}


def plan_from_messages(messages: list[dict]) -> dict:
    """The part of a `show -json` document that `summarise_plan` reads (resource types,
    addresses, actions, imports, moves, output changes), from `plan -json`'s messages. Planned
    values are not in those messages: a caller that needs them (a protected resource's
    replacement is described from them) asks `show -json` for that plan."""
    resource_changes = []
    output_changes: dict[str, dict] = {}
    for message in messages:
        if message.get("type") == "planned_change":
            resource_changes.append(_resource_change(message["change"]))
        elif message.get("type") == "outputs":
            for name, output in message.get("outputs", {}).items():
                action = output.get("action", "noop")
                output_changes[name] = {"actions": _UI_ACTIONS.get(action, ["no-op"])}
    return {"resource_changes": resource_changes, "output_changes": output_changes}


def _resource_change(change: dict) -> dict:
    resource = change.get("resource", {})
    address = resource.get("addr", "?")
    action = change.get("action", "noop")
    entry: dict = {
        "address": address,
        "type": resource.get("resource_type", "?"),
        "mode": "data" if action == "read" or ".data." in f".{address}" else "managed",
        "change": {"actions": _UI_ACTIONS.get(action, ["no-op"])},
    }
    if "importing" in change:
        entry["change"]["importing"] = change["importing"] or {}
    previous = change.get("previous_resource")
    if previous:
        entry["previous_address"] = previous.get("addr")
    return entry


class ProtectedResourcesRefused(TerraformError):
    """A plan destroys or replaces protected resources not named by --allow-destroy."""

    def __init__(self, message: str, addresses: list[str]):
        super().__init__(message)
        self.addresses = addresses


def check_allowed_addresses(allowed: Collection[str]) -> None:
    """Every `--allow-destroy` value must be a resource address (checked before planning)."""
    if isinstance(allowed, str | bool):
        raise TypeError("allowed is a collection of resource addresses")
    malformed = sorted(address for address in allowed if not _ADDRESS.match(address))
    if malformed:
        raise TerraformError(
            f"--allow-destroy {malformed[0]!r} is not a Terraform resource address. The flag takes "
            f"the address of each resource the plan may destroy or replace, as a refused plan "
            f"lists it, e.g. --allow-destroy 'module.stream[\"orders\"].aws_kinesis_stream.this' "
            f"(repeat it for several). Nothing was planned."
        )


def refuse_destruction(
    summary: PlanSummary, allowed: Collection[str] = (), expected: tuple[str, ...] = ()
) -> None:
    """Refuse a plan that destroys or replaces a protected resource whose address is not in
    `allowed` (the operator's `--allow-destroy ADDRESS` flags); an allowed address that is no
    resource address, or that the plan does not destroy, is refused too (a typo in a safety
    valve must be loud). Destroys (not replacements) under the address prefixes `expected` are
    the posture's own (a decommission removes the ledgers and, last, the old streams)."""
    check_allowed_addresses(allowed)
    planned = {destructive.address for destructive in summary.destructive}
    stray = sorted(set(allowed) - planned)
    if stray:
        listed = ", ".join(sorted(planned)) or "nothing"
        raise TerraformError(
            f"--allow-destroy names {', '.join(stray)}, which the {summary.environment} plan does "
            f"not destroy or replace (it destroys or replaces: {listed}). Check the address "
            f"against the plan. The saved plan was discarded, so nothing can be applied from it."
        )
    refused = [
        d
        for d in summary.destructive
        if d.address not in allowed and not _expected(d.address, d.action, expected)
    ]
    if not refused:
        return
    listed = "; ".join(destructive.describe() for destructive in refused)
    flags = " ".join(f"--allow-destroy '{destructive.address}'" for destructive in refused)
    raise ProtectedResourcesRefused(
        f"the {summary.environment} plan destroys or replaces protected resources: {listed}. "
        f"Change the spec so they stay (a stream keeps its name, mode and encryption key; a "
        f"mapping keeps its starting position, stream and function), or, if this is really "
        f"intended, plan again with {flags}. The saved plan was discarded, so nothing can be "
        f"applied from it.",
        [destructive.address for destructive in refused],
    )


def _expected(address: str, action: str, expected: tuple[str, ...]) -> bool:
    return action == "destroy" and any(address.startswith(prefix) for prefix in expected)
