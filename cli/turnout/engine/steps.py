"""The cutover as one ordered table of steps, from phase to phase.

A transition is a list of steps. Three kinds:

- a **check** runs a hook that measures a fact (paused, drained, routed). Facts are true only
  at the moment they are measured: on resume, the checks done after the last completed side
  effect are run again before the next step (checks before it were the preconditions of a side
  effect that already happened, and may rightly be false now).
- an **action** runs a hook with a side effect (pause consumers). Done once: on resume a
  completed action is skipped, never repeated.
- an **apply** renders both environments' tfvars for a posture (route target + replication
  direction) and applies them with Terraform, then plans again and requires no changes
  (the reviewed vars and the live system agree).

User hooks declared in the spec run at `pre` (after the built-in checks, before the first
apply), `post` (at the end) or `error` (when a step fails). The spec's data stores are copied
(an action each, `copy-<store>`) at their declared point, after the user's `pre` hooks or
before the user's `post` hooks; `preflight` checks them before anything changes. Before each
transition, its `gate` runs the preflight checks of `CHECKS_BEFORE` (docs/preflight.md).

With the spec's `cutover.raise_retention_hours`, the first apply of baseline->switched
(`raise-retention`) raises every stream's retention before anything moves, and the last apply of
the commit or the rollback (`restore-retention`) returns each stream to its own.

After committed, `decommissioned` removes the migration's machinery (the old consumers'
mappings, the replicators and their roles) and, last, the old streams.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from turnout.errors import TurnoutError
from turnout.spec.model import MigrationSpec
from turnout.spec.phases import Posture, api_switched_in, posture_of

FORWARD = ("baseline", "switched", "mirrored", "new-live", "committed", "decommissioned")
ROLLBACK_FROM = ("switched", "mirrored", "new-live")

Args = Callable[[MigrationSpec], dict]


def _fixed(**values) -> Args:
    return lambda spec: dict(values)


@dataclass(frozen=True)
class HookStep:
    id: str
    hook: str
    args: Args = field(default=_fixed())
    fact: bool = False
    blocking: bool = True
    timeout_seconds: int | None = None

    @property
    def kind(self) -> str:
        return "check" if self.fact else "action"


@dataclass(frozen=True)
class ApplyStep:
    id: str
    posture: Posture
    kind: str = "apply"
    # An API weight step: (api name, the new endpoint's weight) that this apply sets.
    api_weight: tuple[str, int] | None = None
    # The environments applied: both, but an API weight step changes only its zone's records
    # (the other environment's tfvars are those it already has, so its apply would be empty).
    environments: tuple[str, ...] = ("old", "new")


Step = HookStep | ApplyStep


@dataclass(frozen=True)
class Transition:
    from_phase: str
    to_phase: str
    steps: tuple[Step, ...]

    @property
    def name(self) -> str:
        return (
            "rollback" if self.to_phase == "rolled-back" else f"{self.from_phase}->{self.to_phase}"
        )


def _quiet(environment: str) -> Args:
    return lambda spec: {
        "environment": environment,
        "quiet_seconds": spec.cutover.quiet_seconds,
        "timeout_seconds": spec.cutover.unrouted_timeout_seconds,
    }


def _drained_consumers(environment: str) -> Args:
    return lambda spec: {
        "environment": environment,
        "timeout_seconds": spec.cutover.drain_timeout_seconds,
    }


def _replicator_drained(spec: MigrationSpec) -> dict:
    return {"direction": "new_to_old", "timeout_seconds": spec.cutover.drain_timeout_seconds}


def _replication_verified(spec: MigrationSpec) -> dict:
    # A new record younger than the allowed replication lag may rightly have no copy yet.
    # Duplicates are reported but do not block commit: replication is at-least-once, the old
    # consumers have already seen them, and refusing commit would not undo them. Missing,
    # extra and reordered records do block it.
    return {"grace_seconds": spec.cutover.max_replication_lag_seconds, "allow_duplicates": True}


def _flowing(spec: MigrationSpec) -> dict:
    return {
        "direction": "new_to_old",
        "max_lag_seconds": spec.cutover.max_replication_lag_seconds,
        "timeout_seconds": spec.cutover.drain_timeout_seconds,
    }


FORWARD_TRANSITIONS: dict[tuple[str, str], tuple[Step, ...]] = {
    ("baseline", "switched"): (
        HookStep(
            "new-consumers-paused", "verify_consumers_paused", _fixed(environment="new"), fact=True
        ),
        HookStep("replication-off", "verify_replication_off", fact=True),
        HookStep("new-streams-empty", "verify_new_streams_empty", fact=True),
        # what the consumers' on-failure queues hold before anything moves (docs/drain.md)
        HookStep("discard-baselines", "record_discard_baselines"),
        ApplyStep("route-to-new", posture_of("switched")),
        HookStep("route-is-new", "verify_route", _fixed(target="new"), fact=True),
        HookStep("old-streams-quiet", "detect_unrouted_producers", _quiet("old"), fact=True),
    ),
    ("switched", "mirrored"): (
        HookStep(
            "new-consumers-paused", "verify_consumers_paused", _fixed(environment="new"), fact=True
        ),
        HookStep(
            "old-consumers-drained",
            "verify_consumers_drained",
            _drained_consumers("old"),
            fact=True,
        ),
        ApplyStep("replicate-new-to-old", posture_of("mirrored")),
        HookStep("replication-flowing", "verify_replication_flowing", _flowing, fact=True),
    ),
    ("mirrored", "new-live"): (
        HookStep("replication-flowing", "verify_replication_flowing", _flowing, fact=True),
        ApplyStep("new-live-vars", posture_of("new-live")),
        HookStep("resume-new-consumers", "resume_consumers", _fixed(environment="new")),
        HookStep(
            "new-consumers-running",
            "verify_consumers_running",
            _fixed(environment="new"),
            fact=True,
        ),
    ),
    ("new-live", "committed"): (
        HookStep(
            "new-consumers-running",
            "verify_consumers_running",
            _fixed(environment="new"),
            fact=True,
        ),
        HookStep("replication-caught-up", "verify_replication_flowing", _flowing, fact=True),
        HookStep(
            "replication-verified",
            "verify_replication_complete",
            _replication_verified,
            fact=True,
        ),
        # retention stays raised (when the spec raises it) until the commit's checks are done
        ApplyStep("stop-replication", replace(posture_of("committed"), retention_raised=True)),
        HookStep("replication-stopped", "verify_replication_off", fact=True),
        HookStep("stop-old-consumers", "pause_consumers", _fixed(environment="old")),
    ),
}


def _decommission_steps(spec: MigrationSpec) -> tuple[Step, ...]:
    """Remove the migration's machinery: the old consumers' mappings, then (Terraform) the
    replicators, their writer roles and monitoring; last, when the spec says so, the old streams,
    once their retention has passed since the commit and nothing was written to them since."""
    removed = posture_of("decommissioned")
    steps: tuple[Step, ...] = (
        HookStep("replication-off", "verify_replication_off", fact=True),
        HookStep(
            "old-consumers-paused", "verify_consumers_paused", _fixed(environment="old"), fact=True
        ),
        HookStep("remove-old-mappings", "remove_consumer_mappings", _fixed(environment="old")),
        ApplyStep("remove-replication", removed),
        HookStep("replication-removed", "verify_decommissioned", fact=True),
    )
    if not spec.decommission.delete_old_streams:
        return steps
    return (
        *steps,
        HookStep("old-streams-retired", "verify_old_streams_retired", fact=True),
        ApplyStep("delete-old-streams", replace(removed, old_streams_deleted=True)),
        HookStep(
            "old-streams-deleted", "verify_decommissioned", _fixed(old_streams=True), fact=True
        ),
    )


# Rollback: replication carries the new streams' tail back to old. Replication runs (and is
# caught up) before the route flips back, so the window in which a key's replicated events can
# land after its new direct events is only the replication lag at the flip.
ROLLBACK_STEPS: tuple[Step, ...] = (
    HookStep("pause-new-consumers", "pause_consumers", _fixed(environment="new")),
    ApplyStep("replicate-before-flip", posture_of("mirrored")),
    HookStep("replication-caught-up", "verify_replication_flowing", _flowing, fact=True),
    ApplyStep("route-back-to-old", Posture("old", "new_to_old", retention_raised=True)),
    HookStep("route-is-old", "verify_route", _fixed(target="old"), fact=True),
    HookStep("new-streams-quiet", "detect_unrouted_producers", _quiet("new"), fact=True),
    HookStep("new-tail-replicated", "verify_replicator_drained", _replicator_drained, fact=True),
    ApplyStep("stop-replication", replace(posture_of("rolled-back"), retention_raised=True)),
    HookStep("replication-stopped", "verify_replication_off", fact=True),
    HookStep(
        "new-consumers-paused", "verify_consumers_paused", _fixed(environment="new"), fact=True
    ),
)
RAISE_STEP = "raise-retention"
RESTORE_STEP = "restore-retention"


# Replication mode read-across (docs/read-across.md): no replicator. The old Lambda consumers'
# mappings on the new streams (Terraform, in the old environment) are created and enabled at
# mirrored, once the old consumers have drained the old streams, and read the new streams from
# their trim horizon (proven empty at the switch): every record producers wrote since the switch,
# once. They stay enabled until the commit, like the replication they replace; a rollback keeps
# them reading until the new streams are quiet and their tail is acknowledged by the old
# consumers (markers), and only then disables them.
def _read_across(state: str) -> HookStep:
    return HookStep(
        f"read-across-{state.lower()}", "verify_read_across", _fixed(state=state), fact=True
    )


def _read_across_drained(spec: MigrationSpec) -> dict:
    return {"timeout_seconds": spec.cutover.drain_timeout_seconds}


def _replaced(steps: tuple[Step, ...], replacement: Step) -> tuple[Step, ...]:
    """The steps with the one of the replacement's id replaced (by id, not position: a step
    added to the copy-mode table keeps its place here too)."""
    assert sum(step.id == replacement.id for step in steps) == 1, replacement.id
    return tuple(replacement if step.id == replacement.id else step for step in steps)


READ_ACROSS_ON = Posture("new", "none", read_across="enabled", retention_raised=True)
READ_ACROSS_TRANSITIONS: dict[tuple[str, str], tuple[Step, ...]] = {
    ("baseline", "switched"): _replaced(
        FORWARD_TRANSITIONS[("baseline", "switched")],
        ApplyStep("route-to-new", posture_of("switched", "read-across")),
    ),
    ("switched", "mirrored"): (
        *FORWARD_TRANSITIONS[("switched", "mirrored")][:2],
        ApplyStep("old-consumers-read-new", posture_of("mirrored", "read-across")),
        _read_across("Enabled"),
    ),
    ("mirrored", "new-live"): (
        _read_across("Enabled"),
        ApplyStep("new-live-vars", posture_of("new-live", "read-across")),
        *FORWARD_TRANSITIONS[("mirrored", "new-live")][2:],
    ),
    ("new-live", "committed"): (
        FORWARD_TRANSITIONS[("new-live", "committed")][0],
        # retention stays raised (when the spec raises it) until the commit's checks are done
        ApplyStep(
            "stop-read-across",
            replace(posture_of("committed", "read-across"), retention_raised=True),
        ),
        _read_across("Disabled"),
        HookStep("stop-old-consumers", "pause_consumers", _fixed(environment="old")),
    ),
}
# A rollback from switched enables the mappings for the first time: the old consumers first
# finish their old streams (nothing writes to them since the switch), so that a key's events
# from before the switch are processed before its events in the new streams.
READ_ACROSS_ROLLBACK: tuple[Step, ...] = (
    HookStep("pause-new-consumers", "pause_consumers", _fixed(environment="new")),
    HookStep(
        "old-consumers-drained", "verify_consumers_drained", _drained_consumers("old"), fact=True
    ),
    ApplyStep("read-across-before-flip", READ_ACROSS_ON),
    _read_across("Enabled"),
    ApplyStep("route-back-to-old", replace(READ_ACROSS_ON, route_target="old")),
    HookStep("route-is-old", "verify_route", _fixed(target="old"), fact=True),
    HookStep("new-streams-quiet", "detect_unrouted_producers", _quiet("new"), fact=True),
    HookStep("new-tail-read-across", "verify_read_across_drained", _read_across_drained, fact=True),
    ApplyStep(
        "stop-read-across", replace(posture_of("rolled-back", "read-across"), retention_raised=True)
    ),
    _read_across("Disabled"),
    HookStep(
        "new-consumers-paused", "verify_consumers_paused", _fixed(environment="new"), fact=True
    ),
)


class PathError(TurnoutError):
    """There is no safe way from the live phase to the desired one."""


def transition(from_phase: str, to_phase: str, spec: MigrationSpec) -> Transition:
    read_across = spec.replication.mode == "read-across"
    if to_phase == "rolled-back":
        steps = READ_ACROSS_ROLLBACK if read_across else ROLLBACK_STEPS
    elif to_phase == "decommissioned":
        steps = _decommission_steps(spec)
    elif read_across:
        steps = READ_ACROSS_TRANSITIONS[(from_phase, to_phase)]
    else:
        steps = FORWARD_TRANSITIONS[(from_phase, to_phase)]
    raising = spec.cutover.raise_retention_hours is not None
    if raising and to_phase in ("committed", "rolled-back"):
        steps = (*steps, ApplyStep(RESTORE_STEP, posture_of(to_phase, spec.replication.mode)))
    if read_across and any(c.kind == "kcl" for c in spec.consumers.old):
        steps = _with_kcl_instances(steps)
    steps = _with_user_hooks(steps, spec, from_phase, to_phase)
    steps = _with_api_weights(steps, spec, from_phase)
    if raising and (from_phase, to_phase) == ("baseline", "switched"):
        steps = _raised_before_first_apply(steps, spec)
    if not raising:  # nothing to raise: no apply says it does
        steps = tuple(_with_retention_raised(step, False) for step in steps)
    return Transition(from_phase, to_phase, steps)


# Read-across mode with old KCL applications (docs/read-across.md): their second instances on
# the new streams start right after the apply that creates the Lambda consumers' read-across
# mappings (before the check that everything reads the new streams), and stop after the check
# that those mappings are disabled (the rollback has proved the new tail read by then).
KCL_STARTED_AFTER = ("old-consumers-read-new", "read-across-before-flip")
KCL_STOPPED_AFTER = "read-across-disabled"


def _with_kcl_instances(steps: tuple[Step, ...]) -> tuple[Step, ...]:
    placed: list[Step] = []
    for step in steps:
        placed.append(step)
        if step.id in KCL_STARTED_AFTER:
            placed.append(HookStep("start-kcl-read-across", "start_read_across"))
        elif step.id == KCL_STOPPED_AFTER:
            placed.append(HookStep("stop-kcl-read-across", "stop_read_across"))
    return tuple(placed)


def _with_retention_raised(step: Step, raised: bool) -> Step:
    if not isinstance(step, ApplyStep):
        return step
    return replace(step, posture=replace(step.posture, retention_raised=raised))


def _raised_before_first_apply(steps: tuple[Step, ...], spec: MigrationSpec) -> tuple[Step, ...]:
    """The switch raises the streams' retention before anything else changes (an API's weight,
    the route): every later apply of the transition keeps it raised."""
    first = next(index for index, step in enumerate(steps) if isinstance(step, ApplyStep))
    unmoved = posture_of("baseline").with_api_weights({api.name: 0 for api in spec.apis})
    raise_step = ApplyStep(RAISE_STEP, replace(unmoved, retention_raised=True))
    later = tuple(_with_retention_raised(step, True) for step in steps[first:])
    return (*steps[:first], raise_step, *later)


def api_steps(spec: MigrationSpec, name: str, when: str, base: Posture) -> list[Step]:
    """The API switches declared at transition `name`, point `when`: per API, the new endpoint
    proven healthy before any weight moves, then per weight step an apply (the records'
    weights, `base` otherwise), a check that Route 53 answers with those weights, and the
    health check staying healthy for `healthy_seconds` (docs/apis.md)."""
    steps: list[Step] = []
    for api in spec.apis:
        if api.at.transition != name or api.at.when != when:
            continue
        health = api.health_check
        steps.append(_api_healthy(f"api-{api.name}-healthy", api.name, health, 0))
        for weight in api.weights:
            step = f"api-{api.name}-{weight}"
            steps += [
                ApplyStep(
                    step, base, api_weight=(api.name, weight), environments=(api.environment,)
                ),
                HookStep(
                    f"{step}-answered",
                    "verify_api_weights",
                    _fixed(api=api.name, new_weight=weight),
                    fact=True,
                ),
                _api_healthy(f"{step}-healthy", api.name, health, health.healthy_seconds),
            ]
    return steps


def _api_healthy(step: str, api: str, health, healthy_seconds: int) -> HookStep:
    return HookStep(
        step,
        "verify_api_healthy",
        _fixed(api=api, healthy_seconds=healthy_seconds),
        fact=True,
        # the wait itself is bounded by the health check's timeout; the margin is for the reads
        timeout_seconds=health.timeout_seconds + healthy_seconds + 60,
    )


def _with_api_weights(steps: tuple[Step, ...], spec: MigrationSpec, from_phase: str):
    """Every apply carries the APIs' weights as they stand at that step: switched in an earlier
    transition (100), moved by an API step of this one, or back on the old endpoint (0) once
    an apply routes the producers back to old (a rollback)."""
    weights = {
        api.name: 100 if api_switched_in(from_phase, api.at.transition) else 0 for api in spec.apis
    }
    if not weights:
        return steps
    placed: list[Step] = []
    for step in steps:
        if isinstance(step, ApplyStep):
            if step.api_weight is not None:
                weights[step.api_weight[0]] = step.api_weight[1]
            elif step.posture.route_target == "old":
                weights = dict.fromkeys(weights, 0)
            step = replace(step, posture=step.posture.with_api_weights(weights))
        placed.append(step)
    return tuple(placed)


DATA_STORE_HOOKS = {"s3": "copy_s3", "dynamodb": "copy_dynamodb"}


def data_store_steps(spec: MigrationSpec, name: str, when: str) -> list[HookStep]:
    """The copies of the spec's data stores declared at transition `name`, point `when`: an
    action each (done once; a killed copy resumes from its checkpoint)."""
    return [
        HookStep(
            id=f"copy-{store.name}",
            hook=DATA_STORE_HOOKS[store.kind],
            args=_fixed(store=store.name),
            timeout_seconds=store.timeout_seconds,
        )
        for store in spec.data_stores
        if store.at.transition == name and store.at.when == when
    ]


def preflight(
    spec: MigrationSpec, transitions: list[Transition], completed: list[str]
) -> list[HookStep]:
    """Read-only checks run before a cutover changes anything: every data store it will copy
    (not already copied in a transition being resumed) can be copied, and every API it will
    switch has its hosted zone, its weighted records and its health check."""
    pending = [
        step
        for current in transitions
        for step in current.steps
        if isinstance(step, HookStep) and step.id not in completed
    ]
    stores = [
        step.args(spec)["store"] for step in pending if step.hook in DATA_STORE_HOOKS.values()
    ]
    apis = list(
        dict.fromkeys(
            step.args(spec)["api"] for step in pending if step.hook == "verify_api_weights"
        )
    )
    checks = []
    if stores:
        checks.append(
            HookStep("data-stores-ready", "check_data_stores", _fixed(stores=stores), fact=True)
        )
    if apis:
        checks.append(HookStep("apis-ready", "check_apis", _fixed(apis=apis), fact=True))
    return checks


# The preflight checks (docs/preflight.md) run before each transition, and the environments
# whose consumers' mappings they read. The consumers' checks guard the transitions that start
# consumers reading: the new ones at mirrored->new-live, and baseline->switched, the last point
# where nothing has moved (the old consumers are drained next and the new ones resumed later).
# The replicator's checks guard every transition that enables replication, and baseline->switched
# too: from switched every way on, forward or back, replicates, so a replication that would
# lose records or stall must be refused while nothing has moved yet.
# The retention clock guards the two transitions that start something reading the new streams
# from their oldest record: the replicator (switched->mirrored) and the new consumers
# (mirrored->new-live); a record trimmed before then is never read by them.
# The replicator's concurrency (live) goes with the replication checks where the gate reads an
# environment; the rollback gate reads none. Every gate that reads an environment starts with
# account-identity: wrong credentials are a fail there, not the other rows' unknowns.
REPLICATION_CHECKS = ("replicator-retries", "direction-flag-rate")
CONSUMER_CHECKS = ("starting-positions", "consumer-retries")
IDENTITY_CHECK = "account-identity"
CONCURRENCY_CHECK = "lambda-concurrency"
# Need the old environment (the producers' records before the switch, the replicator's target);
# both read the same sample of the old streams.
HOT_KEYS_CHECK = "hot-keys"
AGGREGATES_CHECK = "aggregated-records"
# Read-across mode: the old consumers' mappings on the new streams, created at mirrored, handle
# batches as their own do; judged while nothing has moved (it reads the old environment).
READ_ACROSS_CHECK = "read-across-settings"
CHECKS_BEFORE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "baseline->switched": (
        (
            IDENTITY_CHECK,
            *CONSUMER_CHECKS,
            "retention-window",
            *REPLICATION_CHECKS,
            CONCURRENCY_CHECK,
            HOT_KEYS_CHECK,
            AGGREGATES_CHECK,
            READ_ACROSS_CHECK,
        ),
        ("old", "new"),
    ),
    "switched->mirrored": (
        (IDENTITY_CHECK, *REPLICATION_CHECKS, CONCURRENCY_CHECK, "retention-clock"),
        ("new",),
    ),
    "mirrored->new-live": ((IDENTITY_CHECK, *CONSUMER_CHECKS, "retention-clock"), ("new",)),
    "rollback": (REPLICATION_CHECKS, ()),
}
GATE_STEP = "preflight-checks"


def gate(current: Transition, accepted: dict[str, str]) -> HookStep | None:
    """The read-only preflight gate run before `current` starts (None when no check guards it):
    a fail refuses it; a warning or unknown too, unless accepted with a reason."""
    if current.name not in CHECKS_BEFORE:
        return None
    checks, environments = CHECKS_BEFORE[current.name]
    return HookStep(
        GATE_STEP,
        "check_preflight",
        _fixed(
            transition=current.name,
            checks=list(checks),
            environments=list(environments),
            accepted=dict(accepted),
        ),
        fact=True,
        # each read is bounded by botocore's timeouts and retries; this bounds the whole gate
        timeout_seconds=300,
    )


def _with_user_hooks(
    steps: tuple[Step, ...], spec: MigrationSpec, from_phase: str, to_phase: str
) -> tuple[Step, ...]:
    name = "rollback" if to_phase == "rolled-back" else f"{from_phase}->{to_phase}"
    mine = [hook for hook in spec.hooks if hook.transition in (name, "any")]

    def as_step(index: int, hook) -> HookStep:
        return HookStep(
            id=f"user-{hook.when}-{index}-{hook.hook}",
            hook=hook.hook,
            args=_fixed(**hook.args),
            fact=False,
            blocking=hook.blocking,
            timeout_seconds=hook.timeout_seconds,
        )

    pre = [as_step(index, hook) for index, hook in enumerate(mine) if hook.when == "pre"]
    post = [as_step(index, hook) for index, hook in enumerate(mine) if hook.when == "post"]
    pre += data_store_steps(spec, name, "pre")
    post = data_store_steps(spec, name, "post") + post
    if to_phase != "rolled-back" and to_phase != "decommissioned":
        mode = spec.replication.mode
        pre += api_steps(spec, name, "pre", posture_of(from_phase, mode))
        post = api_steps(spec, name, "post", posture_of(to_phase, mode)) + post
    first_apply = next(index for index, step in enumerate(steps) if isinstance(step, ApplyStep))
    return (*steps[:first_apply], *pre, *steps[first_apply:], *post)


def error_hooks(spec: MigrationSpec, transition_name: str) -> list[HookStep]:
    return [
        HookStep(
            f"user-error-{index}-{hook.hook}",
            hook.hook,
            _fixed(**hook.args),
            timeout_seconds=hook.timeout_seconds,
        )
        for index, hook in enumerate(spec.hooks)
        if hook.when == "error" and hook.transition in (transition_name, "any")
    ]


def path(live: str, desired: str) -> list[tuple[str, str]]:
    """The transitions that take the live phase to the desired one, or a clear refusal."""
    if live == desired:
        return []
    if desired == "rolled-back":
        if live in ROLLBACK_FROM:
            return [(live, "rolled-back")]
        raise PathError(
            f"cannot roll back from '{live}': rollback is possible from switched, mirrored or "
            f"new-live only ({'nothing moved yet' if live == 'baseline' else 'the old environment no longer receives events after commit'})."
        )
    if live == "rolled-back":
        raise PathError(
            "the migration was rolled back. To try again, reset the new environment's streams "
            "(they still hold the first attempt's events, which the replicator would copy into the "
            "old environment a second time) and start from baseline."
        )
    if live == "committed" and desired != "decommissioned":
        raise PathError(
            f"the migration is committed; '{desired}' cannot be reached from committed (only "
            f"decommissioned: `turnout decommission`)."
        )
    if live == "decommissioned":
        raise PathError(
            f"the migration is decommissioned; '{desired}' cannot be reached from there."
        )
    if FORWARD.index(desired) < FORWARD.index(live):
        raise PathError(
            f"the live phase is '{live}' and the spec asks for '{desired}', which is behind it. "
            f"Phases only move forward; to go back, set phase: rolled-back."
        )
    start = FORWARD.index(live)
    stop = FORWARD.index(desired)
    return [(FORWARD[index], FORWARD[index + 1]) for index in range(start, stop)]
