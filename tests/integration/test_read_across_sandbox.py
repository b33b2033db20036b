"""Replication mode read-across on the sandbox (real Terraform, the emulator, the local Lambda
runtime, live traffic), the commit path: no replicator; from mirrored on the old consumers read
the new streams through their cross-account mappings (docs/read-across.md); a full cutover to
committed with nothing lost and no duplicate in either environment. The rollback path is
test_read_across_sandbox_rollback.py (read_across_kit.py says why two files).

The example spec's API switches on the way, in one step (weights [100]; the 50 % step is one
more apply of the old environment, proven in test_api_switch.py): its apply at
new-live->committed must keep the read-across posture (the old consumers' mappings on the new
streams enabled, no replicator), or the old consumers would process the new records twice.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from read_across_kit import (
    assert_nothing_lost_and_no_duplicate,
    mapping_states,
    read_across_sandbox,
)

from turnout.engine.status import gather_status, status_text
from turnout.report.read_across import read_across_rows
from turnout.sandbox.pipeline.report import format_report
from turnout.targets import build_engine

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


def one_api_step(document: dict) -> None:
    document["apis"][0]["weights"] = [100]  # see the module's docstring


def test_read_across_commits_with_nothing_lost_and_no_duplicate(tmp_path, terraform_ready):
    with read_across_sandbox(tmp_path, one_api_step) as (project, sandbox):
        engine = build_engine(project, sandbox=True, progress=print)
        engine.run("mirrored")
        enabled = mapping_states(engine, "Enabled")
        assert enabled["wrong"] == [] and len(enabled["mappings"]) == 3
        engine.run("new-live")
        new_live_at = time.time()
        # Until the commit the old consumers read the new streams: what was written before
        # new-live reaches them (the report waits for it) while producers keep writing.
        before = sandbox.wait_for_report(
            timeout=300, new_required=False, old_reads_new_until=new_live_at
        )
        assert before["environments"]["old"]["lost"] == 0, format_report(before)
        engine.run("committed")
        assert engine.store.load().phase == "committed"
        assert mapping_states(engine, "Disabled")["wrong"] == []
        assert_status_and_report_show_the_mappings(engine)
        report = assert_nothing_lost_and_no_duplicate(sandbox, True, new_live_at)
        assert report["environments"]["old"]["order_violations"] == 0


def assert_status_and_report_show_the_mappings(engine) -> None:
    """`turnout status` reads each mapping Disabled after the commit; the report's rows from the
    real journal: each of the three Enabled at mirrored, Disabled at the commit."""
    status = gather_status(engine)
    assert [entry["state"] for entry in status["read_across"]] == ["Disabled"] * 3
    assert "read-across (the old consumers' mappings on the new streams)" in status_text(status)
    journal = engine.store.read_journal(newest_first=False)
    rows = read_across_rows(journal, datetime.fromtimestamp(0, UTC), datetime.now(UTC))
    by_check = {}
    for row in rows:
        by_check.setdefault((row.transition, row.state), set()).add(row.mapping)
    assert {key: len(mappings) for key, mappings in by_check.items()} == {
        ("switched->mirrored", "Enabled"): 3,
        ("mirrored->new-live", "Enabled"): 3,
        ("new-live->committed", "Disabled"): 3,
    }
