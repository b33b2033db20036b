"""Replication mode read-across on the sandbox (real Terraform, the emulator, the local Lambda
runtime, live traffic), the rollback path: a rollback from new-live with nothing lost and no
duplicate in either environment; the old consumers read the whole tail of the new streams
before their mappings there are disabled. The commit path is test_read_across_sandbox.py
(read_across_kit.py says why two files). Without the example's API (a rollback runs no API step)
and its data stores (their copies are the same in both modes; test_whole_move_sandbox.py runs
them).
"""

from __future__ import annotations

import math

import pytest
from read_across_kit import (
    assert_nothing_lost_and_no_duplicate,
    mapping_states,
    read_across_sandbox,
)
from state_kit import engine_without_plan_after_apply

from turnout.targets import build_engine

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


def without_apis_and_data_stores(document: dict) -> None:
    document["apis"] = []  # see the module's docstring
    document["data_stores"] = []


def test_read_across_rolls_back_from_new_live_with_nothing_lost_and_no_duplicate(
    tmp_path, terraform_ready
):
    with read_across_sandbox(tmp_path, without_apis_and_data_stores) as (project, sandbox):
        # To new-live through the postures test_read_across_sandbox.py proves converge.
        engine_without_plan_after_apply(project).run("new-live")
        engine = build_engine(project, sandbox=True, progress=print)
        engine.run("rolled-back")
        assert engine.store.load().phase == "rolled-back"
        assert mapping_states(engine, "Disabled")["wrong"] == []
        drained = [
            entry["details"]
            for entry in engine.store.read_journal(newest_first=False)
            if entry["kind"] == "step"
            and entry["action"] == "completed"
            and entry["details"].get("step") == "new-tail-read-across"
        ]
        assert drained, "the rollback proved the new streams' tail read by the old consumers"
        # Every event written to new, whenever: the old consumers read the whole tail.
        assert_nothing_lost_and_no_duplicate(sandbox, False, math.inf)
