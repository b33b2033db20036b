"""A state lock is removed only when a terraform that turnout started on this host took it and
died: never a live process's, another host's, or a finished run's."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from turnout.deploy.state_lock import LockHolder
from turnout.deploy.terraform_runs import RunLog, lock_created


def holder(created: float, host: str | None = None) -> LockHolder:
    stamp = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%d %H:%M:%S.%f +0000 UTC")
    return LockHolder(
        "lock-1", f"root@{host or socket.gethostname()}", "OperationTypeApply", stamp, "1.11.4"
    )


@pytest.fixture
def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture
def live_terraform_pid():
    # A process whose command line names terraform, as a running terraform's does.
    process = subprocess.Popen(["terraform-stand-in", "30"], executable="sleep")
    # Until the child has exec'd, its command line is still this test process's.
    deadline = time.monotonic() + 10
    while b"terraform" not in Path(f"/proc/{process.pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the stand-in never started"
        time.sleep(0.01)
    yield process.pid
    process.kill()
    process.wait()


def test_terraforms_created_time_is_read():
    assert lock_created("2026-11-30 07:00:00.5 +0000 UTC") == pytest.approx(
        datetime(2026, 11, 30, 7, 0, 0, tzinfo=UTC).timestamp() + 0.5
    )
    assert lock_created("yesterday") is None


def test_the_lock_of_a_run_that_died_here_is_recognised(tmp_path, dead_pid):
    runs = RunLog(tmp_path)
    entry = runs.started(dead_pid, "apply")
    assert runs.dead_holder(holder(entry["started"] + 1)) == entry


def test_a_live_terraforms_lock_is_kept(tmp_path, live_terraform_pid):
    runs = RunLog(tmp_path)
    entry = runs.started(live_terraform_pid, "apply")
    assert runs.dead_holder(holder(entry["started"] + 1)) is None


def test_a_finished_run_another_host_or_an_older_lock_is_not_ours(tmp_path, dead_pid):
    runs = RunLog(tmp_path)
    entry = runs.started(dead_pid, "apply")
    assert runs.dead_holder(holder(entry["started"] + 1, host="elsewhere")) is None
    assert runs.dead_holder(holder(entry["started"] - 60)) is None
    runs.finished(entry)
    assert runs.dead_holder(holder(entry["started"] + 1)) is None


def test_no_log_no_removal(tmp_path):
    assert RunLog(tmp_path).dead_holder(holder(time.time())) is None


def test_a_lock_error_printed_as_json_messages_still_names_the_holder():
    from turnout.deploy.state_lock import lock_holder
    from turnout.deploy.terraform import readable

    detail = (
        "Error message: operation error S3: PutObject, StatusCode: 412\nLock Info:\n"
        "  ID:        2f4b-lock\n  Path:      bucket/turnout/clickstream/old.tfstate\n"
        "  Operation: OperationTypeApply\n  Who:       alice@laptop\n  Version:   1.11.4\n"
        "  Created:   2026-11-30 07:00:00.123456 +0000 UTC\n  Info:\n"
    )
    diagnostic = {
        "severity": "error",
        "summary": "Error acquiring the state lock",
        "detail": detail,
    }
    output = "\n".join(
        json.dumps(message)
        for message in (
            {"@message": "Terraform 1.11.4", "type": "version"},
            {"@message": "Error: Error acquiring the state lock", "diagnostic": diagnostic},
        )
    )
    found = lock_holder(readable(output))
    assert found is not None
    assert (found.lock_id, found.who, found.operation) == (
        "2f4b-lock",
        "alice@laptop",
        "OperationTypeApply",
    )
