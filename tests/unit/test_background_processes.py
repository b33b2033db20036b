"""The sandbox's background processes: whether one is alive, and how it ended, told by the
Popen of the process that started it (real child processes, no mocks)."""

from __future__ import annotations

import signal
import sys
import time

from turnout.sandbox.processes import BackgroundProcess

MARKER = "turnout-test-marker"


def _start(tmp_path, code: str) -> tuple[BackgroundProcess, int]:
    process = BackgroundProcess("child", tmp_path, MARKER)
    return process, process.start([sys.executable, "-c", code, MARKER])


def _wait_dead(process: BackgroundProcess, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while process.alive() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_running_child_is_alive_and_its_end_is_not_known_yet(tmp_path):
    process, pid = _start(tmp_path, "import time; time.sleep(30)")
    try:
        assert process.alive() and process.pid() == pid
        assert process.how_it_ended(pid) == "exit status unknown"
    finally:
        process.stop(grace=5)
    assert not process.alive()


def test_a_child_that_exits_says_its_exit_code(tmp_path):
    process, pid = _start(tmp_path, "import sys; sys.exit(3)")
    _wait_dead(process)
    assert not process.alive()
    assert process.how_it_ended(pid) == "exit code 3"


def test_a_child_killed_by_a_signal_names_the_signal(tmp_path):
    process, pid = _start(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGTERM)")
    _wait_dead(process)
    assert process.how_it_ended(pid) == f"killed by {signal.SIGTERM.name}"


def test_a_pid_file_naming_another_program_is_not_our_process(tmp_path):
    process = BackgroundProcess("child", tmp_path, "a-marker-nobody-has")
    tmp_path.mkdir(exist_ok=True)
    process.pid_file.write_text("1\n")  # init: alive, but not ours
    assert process.pid() is None


def test_a_pid_reused_by_a_process_of_the_same_kind_is_not_ours(tmp_path):
    """Two sandboxes run producers with the same command: the start time in the pid file tells
    a stale pid file from the other sandbox's new process holding the same PID."""
    mine, pid = _start(tmp_path / "mine", "import time; time.sleep(30)")
    try:
        theirs = BackgroundProcess("child", tmp_path / "theirs", MARKER)
        theirs.directory.mkdir()
        theirs.pid_file.write_text(f"{pid} 1\n")  # same PID, started at another time
        assert theirs.pid() is None and theirs.stop(grace=1) is None
        assert mine.alive()
    finally:
        mine.stop(grace=5)
