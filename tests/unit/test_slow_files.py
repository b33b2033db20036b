"""tests/slow_files.json orders the suite's slowest files first: a renamed or deleted file would
silently fall back to the end of the queue."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_file_the_slow_list_names_exists_and_has_a_positive_duration():
    seconds = json.loads((ROOT / "tests" / "slow_files.json").read_text(encoding="utf-8"))
    assert seconds
    for path, duration in seconds.items():
        assert (ROOT / path).is_file(), f"{path} is in tests/slow_files.json but does not exist"
        assert duration > 0, path
