"""docs/reliability.md is written from the runs' records: every fault row, every run, the
verdict; a run that lost an event or missed its phase fails `make chaos`."""

from __future__ import annotations

import copy
from dataclasses import asdict

from turnout.sandbox.chaos.faults import FaultPlan
from turnout.sandbox.chaos.reliability import FAULT_COLUMNS, failed_runs, render

RECORD = {
    "scenario": "rollback",
    "seed": 3,
    "final_phase": "rolled-back",
    "size": {
        "events": 12345,
        "keys": 1000,
        "traffic_seconds": 301.2,
        "run_seconds": 420.0,
        "producer_ran_to_the_end": True,
    },
    "faults": {
        "putrecords_entries_failed": 600,
        "putrecords_entries_seen": 12000,
        "calls_failed": 40,
        "replicator_answers_lost": 7,
        "runtime_kills": 2,
        "outages": 0,
        "outage_seconds": 0.0,
        "cutover_kills": 6,
        "cutover_failed_runs": 1,
    },
    "outcome": {
        "produced": 12345,
        "written_to_new": 9000,
        "replicated_to_old": 8000,
        "lost": 0,
        "pending": 0,
        "duplicates_old": 321,
        "duplicates_new": 0,
        "reordered_old": 4,
        "reordered_new": 0,
        "flip_inversions": 2,
        "repeated_side_effects": 0,
    },
    "details": {
        "plan": asdict(FaultPlan(cutover_kills=2)),
        "cutover_kills": [{"after_seconds": 12.5, "step": "baseline>switched/apply"}],
    },
}


def test_the_page_has_a_row_per_fault_kind_and_per_run():
    page = render([RECORD], "2026-01-01 00:00 UTC", "Linux x86_64, 2 cores", "make chaos")
    for _, title in FAULT_COLUMNS:
        assert f"| {title} |" in page
    assert "| emulator unreachable (proxy outages) | 0 | 0 | 0 | 0 | 0 | 0 |" in page
    assert "| Lambda runtime SIGKILLed + restarted | 1 | 2 | 12,345 | 0 | 321 | 4 |" in page
    assert "| rollback | 3 | rolled-back | 12,345 | 1,000 |" in page
    assert "| 321 / 0 (2.6%) |" in page  # duplicates as a share of the events produced
    assert "`baseline>switched/apply`" in page
    assert "Linux x86_64, 2 cores" in page and "make chaos" in page
    assert "2 time(s) per transition" in page  # the plan the runs used, not a fixed text


def test_a_lost_event_or_a_missed_phase_fails_the_suite():
    assert failed_runs([RECORD]) == []
    lost = copy.deepcopy(RECORD)
    lost["outcome"]["lost"] = 1
    stuck = copy.deepcopy(RECORD)
    stuck["final_phase"] = "new-live"
    assert len(failed_runs([lost, stuck])) == 2


def test_a_run_that_carried_less_than_planned_fails_the_suite():
    """A producer that died mid-run or a replicator that delivered nothing: 0 lost proves little."""
    died = copy.deepcopy(RECORD)
    died["size"]["producer_ran_to_the_end"] = False
    idle = copy.deepcopy(RECORD)
    idle["outcome"]["replicated_to_old"] = 0
    assert failed_runs([died, idle]) == [
        "rollback seed 3: the producer died before the end of the traffic",
        "rollback seed 3: the replicator delivered nothing to old",
    ]
