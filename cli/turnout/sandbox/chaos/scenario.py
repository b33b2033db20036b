"""One chaos run: a sandbox with live traffic through a whole cutover or a rollback while every
fault kind is injected, ending with the delivery report.

Order: ``sandbox up`` (no faults: Terraform, the sample pipeline), the proxy in front of the
emulator and every client (runtime and its functions, producer, CLI) routed through it, traffic,
the emulator's fault mode and the fault schedule switched on, the CLI driven to each target
phase with random kills, faults off, traffic stopped, the report once everything settled.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from turnout.project import Project
from turnout.sandbox.box import Sandbox
from turnout.sandbox.chaos.cutover_runs import (
    CutoverStuck,
    DriveResult,
    drive_with_random_kills,
    observer_engine,
    side_effects_completed,
)
from turnout.sandbox.chaos.faults import (
    FaultPlan,
    FaultSchedule,
    plan_dict,
    switch_off_api_faults,
    switch_on_api_faults,
)
from turnout.sandbox.chaos.proxy import LoopbackProxy

SCENARIOS = {
    "cutover": ["new-live", "committed"],
    "rollback": ["new-live", "rolled-back"],
    # The bounded form (CI): producers moved to new and replication new->old running, in two
    # transitions (two Terraform applies instead of six).
    "mirrored": ["mirrored"],
}


@dataclass(frozen=True)
class RunSize:
    rate: float = 200.0
    keys: int = 1000
    warmup_seconds: float = 10.0  # traffic under faults before the cutover starts
    hold_seconds: float = 0.0  # traffic under faults once the last phase is reached


def run_scenario(
    project: Project,
    scenario: str,
    seed: int,
    plan: FaultPlan,
    size: RunSize = RunSize(),
    progress: Callable[[str], None] = print,
    lifetime_seconds: float = 3600.0,
) -> dict:
    """Run ``scenario`` ("cutover" or "rollback") once; returns its record (see ``record``)."""
    targets = SCENARIOS[scenario]
    sandbox = Sandbox(project)
    started = time.monotonic()
    proxy: LoopbackProxy | None = None
    schedule: FaultSchedule | None = None
    try:
        sandbox.up(progress=progress, rate=0, lifetime_seconds=lifetime_seconds)
        emulator = sandbox.require_emulator()
        proxy = _route_through_proxy(sandbox, emulator.port, progress, lifetime_seconds)
        traffic_started = time.monotonic()
        sandbox.start_traffic(
            size.rate, progress=progress, lifetime_seconds=lifetime_seconds, keys=size.keys
        )
        switch_on_api_faults(emulator.endpoint_url, plan, seed)
        schedule = FaultSchedule(
            plan,
            seed,
            proxy,
            kill_runtime=sandbox.kill_runtime,
            restart_runtime=lambda: sandbox.restart_runtime(
                progress=progress, lifetime_seconds=lifetime_seconds
            ),
            progress=progress,
        ).start()
        time.sleep(size.warmup_seconds)
        drives, stuck = _drive(project, scenario, seed, plan, progress)
        time.sleep(size.hold_seconds)
        injected = schedule.stop()
        schedule_errors = schedule.errors
        schedule = None
        api = switch_off_api_faults(emulator.endpoint_url)
        traffic_seconds = time.monotonic() - traffic_started
        producer_died = None if sandbox.stop_traffic(progress=progress) else _last_lines(sandbox)
        report = sandbox.wait_for_report(
            timeout=300,
            new_required=targets[-1] == "committed",
            until=_settled,
            progress=progress,
        )
        engine = observer_engine(project)
        effects = side_effects_completed(engine)
        return record(
            scenario=scenario,
            seed=seed,
            plan=plan,
            size=size,
            report=report,
            drives=drives,
            injected=injected,
            schedule_errors=schedule_errors,
            api=api,
            traffic_seconds=traffic_seconds,
            run_seconds=time.monotonic() - started,
            repeated_side_effects=len(effects) - len(set(effects)),
            final_phase=engine.store.load().phase,
            stuck=stuck,
            producer_died=producer_died,
        )
    finally:
        if schedule is not None:
            schedule.stop()
        sandbox.down(progress=progress)
        if proxy is not None:
            proxy.stop()


def _route_through_proxy(
    sandbox: Sandbox, port: int, progress: Callable[[str], None], lifetime_seconds: float
) -> LoopbackProxy:
    """The loopback proxy in front of the emulator; the runtime restarted to go through it."""
    proxy = LoopbackProxy(target_port=port).start()
    sandbox.route_clients_through(proxy.endpoint_url)
    sandbox.runtime.stop(grace=sandbox.runtime_stop_grace + 10)
    sandbox.restart_runtime(progress=progress, lifetime_seconds=lifetime_seconds)
    progress(f"chaos: every client goes through the proxy at {proxy.endpoint_url}")
    return proxy


def _drive(
    project: Project, scenario: str, seed: int, plan: FaultPlan, progress: Callable[[str], None]
) -> tuple[list[DriveResult], str | None]:
    """The CLI driven to each target phase with random kills; stops at a stuck cutover (its
    traffic is still measured: a cutover that cannot go on must not have lost anything)."""
    rng = random.Random(f"cutover-{seed}")
    drives: list[DriveResult] = []
    for target in SCENARIOS[scenario]:
        progress(f"=== chaos {scenario} (seed {seed}): to {target} ===")
        try:
            drives.append(
                drive_with_random_kills(
                    project,
                    target,
                    rng,
                    kills=plan.cutover_kills,
                    kill_after=plan.cutover_kill_after,
                    logs=project.work_dir / "chaos-logs",
                    progress=progress,
                    max_failed_runs=plan.max_failed_runs,
                )
            )
        except CutoverStuck as problem:
            drives.append(problem.result)
            progress(f"chaos: {problem}")
            return drives, str(problem)
    return drives, None


def _settled(report: dict) -> bool:
    return bool(report.get("nothing_lost")) and not report.get("pending")


def record(
    *,
    scenario: str,
    seed: int,
    plan: FaultPlan,
    size: RunSize,
    report: dict,
    drives: list[DriveResult],
    injected,
    schedule_errors: list[str],
    api: dict,
    traffic_seconds: float,
    run_seconds: float,
    repeated_side_effects: int,
    final_phase: str,
    stuck: str | None = None,
    producer_died: str | None = None,
) -> dict:
    """The figures of one run, as docs/reliability.md shows them. ``producer_died``: the end of
    the producer's log when it was no longer running at the end of the traffic (the run then
    carried less traffic than planned, and proves less)."""
    old, new = report["environments"]["old"], report["environments"]["new"]
    api_totals = api["totals"]
    return {
        "scenario": scenario,
        "seed": seed,
        "path": " -> ".join(["baseline", *[drive.target for drive in drives]]),
        "final_phase": final_phase,
        "stuck": stuck,
        "size": {
            "rate": size.rate,
            "events": report["produced"]["total"],
            "keys": report["produced"]["keys"],
            "streams": len(report["produced"]["by_stream"]),
            "traffic_seconds": round(traffic_seconds, 1),
            "producer_ran_to_the_end": producer_died is None,
            "run_seconds": round(run_seconds, 1),
        },
        "faults": {
            "putrecords_entries_failed": api_totals["entries_failed"],
            "putrecords_entries_seen": api_totals["entries"],
            "calls_failed": api_totals["calls_failed"],
            "replicator_answers_lost": api_totals["answers_lost"],
            "runtime_kills": injected.runtime_kills,
            "outages": injected.outages,
            "outage_seconds": round(injected.outage_seconds, 1),
            "connections_dropped": injected.connections_dropped,
            "connections_refused": injected.connections_refused,
            "cutover_kills": sum(len(drive.kills) for drive in drives),
            "cutover_failed_runs": sum(len(drive.failed_runs) for drive in drives),
        },
        "outcome": {
            "produced": report["produced"]["total"],
            "written_to_new": report["produced"]["new"],
            "replicated_to_old": report["replication"]["delivered_to_old"],
            "lost": report["lost"],
            "pending": report["pending"],
            "nothing_lost": report["nothing_lost"],
            "duplicates_old": old["duplicates"],
            "duplicates_new": new["duplicates"],
            "reordered_old": old["order_violations"],
            "reordered_new": new["order_violations"],
            "flip_inversions": old["flip_inversions"],
            "repeated_side_effects": repeated_side_effects,
        },
        "details": {
            "plan": plan_dict(plan),
            "cutover_kills": [kill for drive in drives for kill in drive.kills],
            "cutover_failed_runs": [
                {"target": drive.target, **failure}
                for drive in drives
                for failure in drive.failed_runs
            ],
            "api_fault_rules": api["rules"],
            "timed_faults": injected.events,
            "schedule_errors": schedule_errors,
            "lost_sample": old["lost_sample"] + new["lost_sample"],
            "producer_died": producer_died,
        },
    }


def _last_lines(sandbox: Sandbox, count: int = 20) -> str:
    try:
        return "\n".join(sandbox.producer.log_file.read_text().splitlines()[-count:])
    except OSError as problem:
        return f"(the producer's log cannot be read: {problem})"
