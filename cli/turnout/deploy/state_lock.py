"""A state lock held by someone else, read from Terraform's error, as one paragraph.

Terraform prints the holder's lock info when it cannot take the lock (S3: the lock file
`<key>.tflock` already exists, so the conditional write of a new one fails):

    Error: Error acquiring the state lock
    ...
    Lock Info:
      ID:        2f4b...
      Path:      bucket/turnout/clickstream/old.tfstate
      Operation: OperationTypeApply
      Who:       alice@laptop
      Version:   1.11.4
      Created:   2026-11-30 07:00:00.123456 +0000 UTC
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from turnout.errors import TerraformError

LOCK_ERROR = "Error acquiring the state lock"
_OPERATIONS = {
    "OperationTypeApply": "an apply",
    "OperationTypePlan": "a plan",
    "OperationTypeRefresh": "a refresh",
    "OperationTypeInvalid": "a state command (import, state push, force-unlock ...)",
}


class StateLocked(TerraformError):
    """Another run holds the environment's state lock; nothing was changed."""

    def __init__(self, message: str, holder: LockHolder):
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class LockHolder:
    lock_id: str
    who: str
    operation: str
    created: str
    version: str

    @property
    def doing(self) -> str:
        return _OPERATIONS.get(self.operation, self.operation or "an unknown operation")


def lock_holder(output: str) -> LockHolder | None:
    """The holder named in Terraform's output, or None when the output is no lock error."""
    if LOCK_ERROR not in output:
        return None
    fields = dict(re.findall(r"^\s*(ID|Operation|Who|Version|Created):\s*(.*?)\s*$", output, re.M))
    return LockHolder(
        lock_id=fields.get("ID", "unknown"),
        who=fields.get("Who", "unknown"),
        operation=fields.get("Operation", ""),
        created=fields.get("Created", "an unknown time"),
        version=fields.get("Version", "unknown"),
    )


def state_locked(
    environment: str, location: str, lock_location: str, holder: LockHolder
) -> StateLocked:
    return StateLocked(
        f"the {environment} environment's Terraform state ({location}) is locked: {holder.who} "
        f"has held it since {holder.created} for {holder.doing} (lock id {holder.lock_id}, "
        f"Terraform {holder.version}). Another plan or apply of this environment is running, "
        f"so turnout changed nothing. Run the command again once it has finished. If that run "
        f"died and left its lock ({lock_location}), and you are sure it no longer runs, remove "
        f"it with `turnout state unlock --env {environment} {holder.lock_id}`.",
        holder,
    )
