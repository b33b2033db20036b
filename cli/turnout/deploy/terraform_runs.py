"""The Terraform processes turnout started for an environment, so that a state lock one of them
left behind when it died is recognised, and only such a lock is removed.

An S3 lock file outlives the process that wrote it: a run killed mid-apply (a crashed host, a
cutover killed at a step) leaves `<key>.tflock`, and every later run is refused. Each Terraform
process turnout starts is logged here (`terraform-runs.jsonl` in the environment's data dir:
pid, start, end). A lock is left by one of them when Terraform names this host as its holder, it
was taken while a logged process ran that never logged its end, and that process is gone (not
merely reparented: a live terraform keeps its lock). Locks of other hosts, of live processes,
or of anyone else's Terraform are never touched: those are refused with the holder named.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

from turnout.deploy.state_lock import LockHolder

# A lock taken this long before a logged start still counts as that run's (clock rounding).
CLOCK_SLACK_SECONDS = 5.0


class RunLog:
    def __init__(self, env_dir: Path):
        self.path = env_dir / "terraform-runs.jsonl"

    def started(self, pid: int, command: str) -> dict:
        entry = {"pid": pid, "command": command, "started": time.time()}
        self._append(entry)
        return entry

    def finished(self, entry: dict) -> None:
        self._append({**entry, "finished": time.time()})

    def dead_holder(self, holder: LockHolder) -> dict | None:
        """The logged, unfinished, gone run of this host that took `holder`'s lock, or None."""
        if not holder.who.endswith(f"@{socket.gethostname()}"):
            return None
        created = lock_created(holder.created)
        if created is None:
            return None
        for entry in self._unfinished():
            taken_during = entry["started"] - CLOCK_SLACK_SECONDS <= created
            if taken_during and not _terraform_alive(entry["pid"]):
                return entry
        return None

    def _unfinished(self) -> list[dict]:
        try:
            lines = self.path.read_text().splitlines()
        except OSError:
            return []
        runs: dict[tuple, dict] = {}
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            key = (entry.get("pid"), entry.get("started"))
            if "finished" in entry:
                runs.pop(key, None)
            else:
                runs[key] = entry
        return sorted(runs.values(), key=lambda entry: entry["started"], reverse=True)

    def _append(self, entry: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as log:
            log.write(json.dumps(entry) + "\n")


def lock_created(text: str) -> float | None:
    """Terraform's `Created:` ("2026-11-30 07:00:00.123456 +0000 UTC") as epoch seconds."""
    found = re.match(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(\.\d+)? \+0000 UTC", text.strip())
    if not found:
        return None
    fraction = float(found.group(3) or 0)
    moment = datetime.strptime(f"{found.group(1)} {found.group(2)}", "%Y-%m-%d %H:%M:%S")
    return moment.replace(tzinfo=UTC).timestamp() + fraction


def _terraform_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return b"terraform" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc to tell: alive is the safe answer
