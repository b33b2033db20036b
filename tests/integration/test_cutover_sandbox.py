"""The whole cutover on the sandbox with live traffic (50 events/s, 1,000 keys, 3 streams),
driven by the real CLI, killed with SIGKILL in every step that changes something and run again:
the rollback path, baseline -> switched -> mirrored -> new-live -> rolled-back, every action and
apply killed once; checks only measure, and resume re-measures them (the commit path is in
test_cutover_sandbox_commit.py; helpers in cutover_kit.py). `make test` (CI) kills in the
rollback itself (an action and three applies) and runs the transitions before it clean;
`make test-full` kills in every transition (cutover_kit.FULL_SCOPE).

The path ends with the report (nothing lost; duplicates and flip inversions counted and
printed) and the journal (no side effect completed twice). Every apply step also proves
invariant 6: a plan of both environments right after it shows no changes.
"""

from __future__ import annotations

import json

import pytest
from cutover_kit import ROLLBACK_PATH, Sandboxes, kill_through
from state_kit import tfstate_files_with_resources

from turnout.spec.names import state_bucket, state_key

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory, terraform_ready):
    pool = Sandboxes(tmp_path_factory.mktemp("cutover"))
    yield pool
    pool.close()


def test_the_sandboxs_states_are_objects_in_the_emulators_s3_and_none_is_on_disk(sandboxes):
    project, sandbox = sandboxes.get("rollback-path")
    spec = sandbox.spec()
    s3 = sandbox.require_emulator().client("s3", spec.environments.old.account_id)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=state_bucket(spec))["Contents"]}
    assert {state_key(spec, "old"), state_key(spec, "new")} <= keys
    for environment in ("old", "new"):
        body = s3.get_object(Bucket=state_bucket(spec), Key=state_key(spec, environment))["Body"]
        assert len(json.loads(body.read())["resources"]) > 10
    assert tfstate_files_with_resources(project.work_dir) == []


@pytest.mark.parametrize(("from_phase", "to_phase"), ROLLBACK_PATH, ids=lambda value: str(value))
def test_cutover_killed_in_every_side_effect_step_of_the_rollback_path_completes_when_run_again(
    sandboxes, from_phase, to_phase, tmp_path
):
    kill_through(sandboxes, "rollback-path", from_phase, to_phase, tmp_path)
