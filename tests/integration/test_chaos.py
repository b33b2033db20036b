"""The chaos suite's bounded form (CI): the sandbox with live traffic from baseline to mirrored
(producers moved to new, the replicator copying new -> old) driven by the real CLI while every
fault kind is injected: PutRecords entry failures and throttling, replicator exceptions, the
Lambda runtime SIGKILLed and restarted, the emulator unreachable through the proxy, the CLI
SIGKILLed at a random point and resumed. Nothing may be lost; duplicates and reorders are
counted and printed.

The full suite (a whole cutover and a rollback, several seeds) is `make chaos`, which writes
docs/reliability.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from turnout.project import Project
from turnout.sandbox.chaos.faults import FaultPlan
from turnout.sandbox.chaos.scenario import RunSize, run_scenario

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]
REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "terraform" / "migration.yaml"

# One kill, early enough not to waste a whole Terraform apply; timed faults every 12-25 s.
# Outages of 1-3 s: long enough to drop and refuse connections, short enough for the clients'
# retries to ride out. The 3-8 s outages of `make chaos` fail whole CLI runs (every retry of a
# call lands in the outage), and with one every 25-50 s a CI run spent its 30 minutes running a
# Terraform step again and again.
BOUNDED_PLAN = FaultPlan(
    fault_interval=(12.0, 25.0),
    outage_seconds=(1.0, 3.0),
    cutover_kills=1,
    cutover_kill_after=(5.0, 30.0),
)
# Held 20 s in mirrored: the replicator works under the faults too. 50 events/s, as the kill
# tests: a sandbox spends about 17 CPU-s a minute on traffic at 100, and CI has two cores; the
# faults are injected per call and per interval, not per event, so each kind still happens.
BOUNDED_SIZE = RunSize(rate=50.0, keys=300, warmup_seconds=5.0, hold_seconds=20.0)


def test_cutover_to_mirrored_under_every_fault_kind_loses_nothing(terraform_ready, tmp_path):
    project = Project(REPO, SPEC, tmp_path / "work")
    record = run_scenario(project, "mirrored", seed=1, plan=BOUNDED_PLAN, size=BOUNDED_SIZE)
    print(json.dumps({key: record[key] for key in ("size", "faults", "outcome")}, indent=2))
    print(json.dumps(record["details"]["api_fault_rules"], indent=2))
    outcome, faults = record["outcome"], record["faults"]
    assert record["final_phase"] == "mirrored"
    assert outcome["lost"] == 0 and outcome["pending"] == 0, record["details"]["lost_sample"]
    assert outcome["repeated_side_effects"] == 0
    assert record["size"]["events"] >= 1000 and record["size"]["keys"] >= 250
    # The run carried its traffic to the end, and the replicator carried some of it to old.
    assert record["size"]["producer_ran_to_the_end"], record["details"]["producer_died"]
    assert outcome["written_to_new"] > 0 and outcome["replicated_to_old"] > 0
    # Every fault kind really happened in this run.
    assert faults["putrecords_entries_failed"] > 0 and faults["calls_failed"] > 0
    assert faults["replicator_answers_lost"] > 0
    assert faults["runtime_kills"] >= 1 and faults["outages"] >= 1
    assert faults["cutover_kills"] >= 1
