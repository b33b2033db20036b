"""The phases of a migration and what each one means for the route and the replication direction.

This is the phase table of docs/cutover.md. The cutover engine walks the transitions;
the renderer asks only what the infrastructure looks like in a phase.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Phase = Literal[
    "baseline", "switched", "mirrored", "new-live", "committed", "rolled-back", "decommissioned"
]
Direction = Literal["old_to_new", "new_to_old"]
ActiveDirection = Literal["none", "old_to_new", "new_to_old"]

PHASES: tuple[str, ...] = (
    "baseline",
    "switched",
    "mirrored",
    "new-live",
    "committed",
    "rolled-back",
    "decommissioned",
)
DIRECTIONS: tuple[str, ...] = ("old_to_new", "new_to_old")
ENVIRONMENTS: tuple[str, ...] = ("old", "new")

_ROUTE_TARGET = {
    "baseline": "old",
    "switched": "new",
    "mirrored": "new",
    "new-live": "new",
    "committed": "new",
    "rolled-back": "old",
    "decommissioned": "new",
}

# From the switch until the commit (or rollback) has finished, the streams keep the spec's
# cutover.raise_retention_hours when it is set (docs/cutover.md, "Raised retention").
RETENTION_RAISED_PHASES: tuple[str, ...] = ("switched", "mirrored", "new-live")

_REPLICATION = {
    "baseline": "none",
    "switched": "none",
    "mirrored": "new_to_old",
    "new-live": "new_to_old",
    "committed": "none",
    "rolled-back": "none",
    "decommissioned": "none",
}

# Replication mode read-across (docs/read-across.md): instead of a replicator, the old Lambda
# consumers' mappings on the new streams. Absent until mirrored (created then, reading the new
# streams from their trim horizon: they were proven empty at the switch), enabled until the
# commit, then disabled (their position kept); removed only with the decommission.
_READ_ACROSS = {
    "baseline": "absent",
    "switched": "absent",
    "mirrored": "enabled",
    "new-live": "enabled",
    "committed": "disabled",
    "rolled-back": "disabled",
    "decommissioned": "absent",
}
READ_ACROSS_STATES = ("absent", "enabled", "disabled")


@dataclass(frozen=True)
class Posture:
    """What the infrastructure looks like: where producers write and which replicator runs.

    Each phase has one; a transition may pass through others on the way (a rollback keeps
    replication on while the route flips back, then turns it off).
    """

    route_target: str
    active_direction: str
    # Decommissioned: the replicators, their writer roles and monitoring are removed; and, last,
    # the old streams (once their retention has passed since the commit).
    replication_deployed: bool = True
    old_streams_deleted: bool = False
    # The new endpoint's weight (percent) of each API of the spec's `apis:`, by name: Route 53
    # records applied by Terraform like the route (docs/apis.md).
    api_weights: tuple[tuple[str, int], ...] = ()
    # Read-across mode: the old consumers' mappings on the new streams (absent, enabled or
    # disabled); always absent in copy mode.
    read_across: str = "absent"
    # The streams keep the spec's cutover.raise_retention_hours (when it sets one) instead of
    # each stream's own retention_hours.
    retention_raised: bool = False
    # Since when (RFC 3339 UTC) the new streams buffer for the new environment's paused
    # consumers: the cutover engine sets it on the applies of switched and mirrored, and the
    # monitoring module's reminders run from it (docs/preflight.md, retention-clock).
    buffering_since: str | None = None

    def with_api_weights(self, weights: dict[str, int]) -> Posture:
        return replace(self, api_weights=tuple(sorted(weights.items())))

    def api_weight(self, api: str) -> int | None:
        return dict(self.api_weights).get(api)

    def describe(self) -> str:
        replication = (
            "off" if self.active_direction == "none" else self.active_direction.replace("_", " ")
        )
        if not self.replication_deployed:
            replication = "removed"
        text = f"producers -> {self.route_target}, replication {replication}"
        if self.read_across != "absent":
            text += f", old consumers' mappings on the new streams {self.read_across}"
        text += ", old streams deleted" if self.old_streams_deleted else ""
        text += ", streams' retention raised" if self.retention_raised else ""
        text += f", retention reminders from {self.buffering_since}" if self.buffering_since else ""
        apis = [f"{name} {weight}% new" for name, weight in self.api_weights]
        return text + (f", APIs: {', '.join(apis)}" if apis else "")


def posture_of(phase: str, mode: str = "copy") -> Posture:
    """The posture a phase ends in, in replication mode `mode` ("copy" or "read-across")."""
    if mode == "read-across":
        return Posture(
            route_target(phase),
            "none",
            replication_deployed=phase != "decommissioned",
            read_across=read_across_in(phase),
            retention_raised=phase in RETENTION_RAISED_PHASES,
        )
    return Posture(
        route_target(phase),
        direction_for_phase(phase),
        replication_deployed=phase != "decommissioned",
        retention_raised=phase in RETENTION_RAISED_PHASES,
    )


def read_across_in(phase: str) -> str:
    """The old consumers' mappings on the new streams in `phase`, in read-across mode."""
    return _READ_ACROSS[phase]


def route_target(phase: str) -> str:
    """Which environment's streams the producers write to in `phase`."""
    return _ROUTE_TARGET[phase]


def api_switched_in(phase: str, switch_transition: str) -> bool:
    """Whether an API switched during `switch_transition` ('from->to') is on the new endpoint in
    `phase`: from the transition's end on, until a rollback puts it back."""
    if phase in ("baseline", "rolled-back"):
        return False
    forward = [p for p in PHASES if p != "rolled-back"]
    return forward.index(phase) >= forward.index(switch_transition.split("->")[1])


def direction_for_phase(phase: str) -> str:
    """The replication direction that is active in `phase` ('none' when replication is off)."""
    return _REPLICATION[phase]


def peer_of(environment: str) -> str:
    return "new" if environment == "old" else "old"


def direction_of_replicator_in(environment: str) -> str:
    """The replicator deployed in an environment reads its streams and writes the peer's."""
    return f"{environment}_to_{peer_of(environment)}"
