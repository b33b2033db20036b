"""verify's window and options: where reading starts (journal or --since), and operator errors
that stop it before any AWS call (exit 2, one paragraph, no traceback)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from turnout.cli import main
from turnout.engine.state import MigrationState
from turnout.verify.run import (
    CLOCK_MARGIN_SECONDS,
    VerifyError,
    VerifyOptions,
    check_options,
    parse_since,
    window_from_journal,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC).timestamp()


class FakeStore:
    def __init__(self, phase: str, entries: list[dict]):
        self.phase = phase
        self.entries = entries

    def load(self) -> MigrationState:
        return MigrationState(phase=self.phase, version=3)

    def read_journal(self, limit=None, newest_first=True) -> list[dict]:
        return list(self.entries if not newest_first else reversed(self.entries))


def started(at: str, transition: str, step: str) -> dict:
    return {
        "at": at,
        "kind": "step",
        "action": "started",
        "details": {"transition": transition, "step": step},
    }


JOURNAL = [
    started("2026-11-26T10:00:00.000+00:00", "baseline->switched", "new-streams-empty"),
    started("2026-11-26T10:01:00.000+00:00", "baseline->switched", "route-to-new"),
    started("2026-11-26T10:09:00.000+00:00", "switched->mirrored", "replicate-new-to-old"),
    started("2026-11-26T10:20:00.000+00:00", "switched->mirrored", "replicate-new-to-old"),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", NOW - 90),
        ("30m", NOW - 1800),
        ("2h", NOW - 7200),
        ("1d", NOW - 86400),
        ("2026-11-26T11:00:00Z", NOW - 3600),
        ("2026-11-26T11:00:00", NOW - 3600),
        ("2026-11-26T12:00:00+01:00", NOW - 3600),
    ],
)
def test_since_accepts_iso_times_and_relative_ages(text, expected):
    assert parse_since(text, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["yesterday", "2h ago", "-5m", "2026-13-01"])
def test_since_that_is_not_a_time_names_the_flag_and_the_formats(text):
    with pytest.raises(VerifyError, match=r"--since .*ISO-8601.*2h"):
        parse_since(text, now=NOW)


def test_since_in_the_future_is_refused():
    with pytest.raises(VerifyError, match="future"):
        parse_since("2026-11-27T00:00:00Z", now=NOW)


@pytest.mark.parametrize(
    ("options", "flag"),
    [
        (VerifyOptions(sample=0), "--sample"),
        (VerifyOptions(sample=1.5), "--sample"),
        (VerifyOptions(reads_per_second=6), "--max-reads-per-shard-per-second"),
        (VerifyOptions(reads_per_second=0), "--max-reads-per-shard-per-second"),
        (VerifyOptions(grace_seconds=-1), "--grace-seconds"),
        (VerifyOptions(workers=0), "--workers"),
    ],
)
def test_out_of_range_options_name_their_flag(options, flag):
    with pytest.raises(VerifyError, match=flag):
        check_options(options)


def test_the_journal_window_starts_at_the_route_flip_and_the_first_replication_start():
    window = window_from_journal(FakeStore("new-live", JOURNAL))
    flip = datetime(2026, 11, 26, 10, 1, tzinfo=UTC).timestamp()
    replication = datetime(2026, 11, 26, 10, 9, tzinfo=UTC).timestamp()
    assert window.source == "journal"
    assert window.new_since == flip - CLOCK_MARGIN_SECONDS
    assert window.old_since == replication - CLOCK_MARGIN_SECONDS


@pytest.mark.parametrize("phase", ["baseline", "switched", "committed", "rolled-back"])
def test_without_a_replica_to_compare_the_journal_window_is_refused(phase):
    with pytest.raises(VerifyError, match=f"'{phase}'.*--since"):
        window_from_journal(FakeStore(phase, JOURNAL))


def test_a_journal_without_the_switch_is_refused():
    with pytest.raises(VerifyError, match="not recorded"):
        window_from_journal(FakeStore("mirrored", JOURNAL[2:]))


@pytest.mark.parametrize(
    ("arguments", "flag"),
    [
        (["--sample", "0"], "--sample"),
        (["--since", "last tuesday"], "--since"),
        (["--max-reads-per-shard-per-second", "10"], "--max-reads-per-shard-per-second"),
    ],
)
def test_the_command_refuses_bad_flags_with_exit_2_and_no_traceback(arguments, flag, capsys):
    assert main(["verify", *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and flag in error and "Traceback" not in error


def test_the_command_has_help_with_an_example(capsys):
    assert main(["verify", "--help"]) == 0
    assert "Example: turnout verify" in capsys.readouterr().out
