"""The whole cutover on the sandbox with live traffic (50 events/s, 1,000 keys, 3 streams),
driven by the real CLI: the commit path, baseline -> new-live in one clean run, then
new-live -> committed with every action and apply killed with SIGKILL once and run again (the
rollback path is in test_cutover_sandbox.py; helpers in cutover_kit.py). It ends with the report (nothing lost,
per-key order kept) and the journal (no side effect completed twice).
"""

from __future__ import annotations

import pytest
from cutover_kit import COMMIT_PATH, Sandboxes, kill_through

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory, terraform_ready):
    pool = Sandboxes(tmp_path_factory.mktemp("cutover-commit"))
    yield pool
    pool.close()


@pytest.mark.parametrize(("from_phase", "to_phase"), COMMIT_PATH, ids=lambda value: str(value))
def test_cutover_killed_in_every_side_effect_step_of_the_commit_path_completes_when_run_again(
    sandboxes, from_phase, to_phase, tmp_path
):
    kill_through(sandboxes, "commit-path", from_phase, to_phase, tmp_path)
