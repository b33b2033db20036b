"""How the chaos driver reads a failed CLI run: the step it names, or an unhandled error."""

from __future__ import annotations

from turnout.sandbox.chaos.cutover_runs import _failed_step, cli_command


def test_a_failed_run_is_known_by_the_step_it_names():
    output = (
        "[new-live->committed 2/6] replication-caught-up: check ...\n"
        "error: step 'replication-caught-up' of new-live->committed failed: replication new_to_old "
        "is not flowing"
    )
    assert _failed_step(output) == "new-live->committed/replication-caught-up"
    assert _failed_step("Traceback (most recent call last):\n  ...") == "an unhandled error"


def test_rolled_back_is_reached_with_the_rollback_command(tmp_path):
    assert cli_command(tmp_path / "m.yaml", "rolled-back")[3:5] == ["rollback", "--sandbox"]
    assert cli_command(tmp_path / "m.yaml", "committed")[3:7] == [
        "cutover",
        "--sandbox",
        "--to",
        "committed",
    ]
