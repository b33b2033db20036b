"""Ending STS sessions (``session_seconds``) needs the sandbox clock at real time: sessions are
dated on the sandbox clock, while turnout's own clients renew theirs on this machine's."""

import pytest

from turnout.sandbox.emulator.launcher import Emulator, EmulatorError
from turnout.sandbox.emulator.profile import AWS


def test_ending_sessions_under_a_faster_sandbox_clock_is_refused_naming_both_settings(tmp_path):
    with pytest.raises(EmulatorError) as refused:
        Emulator(tmp_path, profile=AWS.with_changes(clock_rate=3600.0), session_seconds=900)
    message = str(refused.value)
    assert "session_seconds (900)" in message
    assert "clock_rate is 3600.0" in message
    assert "Leave session_seconds unset" in message
    assert not any(tmp_path.iterdir()), "a refused emulator leaves nothing behind"


def test_ending_sessions_at_real_time_is_accepted(tmp_path):
    assert Emulator(tmp_path, profile=AWS, session_seconds=900).session_seconds == 900
