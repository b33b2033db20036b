"""One cutover at a time: a lease in the lock table with an owner and an expiry.

Acquiring is a conditional write that succeeds only when no lease exists. A lease that exists is
taken over only when its holder is provably gone: its expiry has passed by the acquirer's clock, or
it runs on this host under a process id that no longer exists. The takeover is itself conditional
on the lease that was judged (same run, expiry not renewed since), so a holder that renews in
between keeps its lease. While the cutover runs, a background thread renews the expiry every
TTL/4; a run whose lease was taken (forced unlock, or expiry after it stalled) notices at its
next step and stops.

Clock skew: expiry is written with the holder's clock and judged with the acquirer's. A holder
renews every TTL/4, so a lease looks expired early by exactly the skew between the two hosts; any
skew below TTL/2 (60 s with the default TTL of 120 s) leaves at least TTL/4 of margin for a slow
renewal and never lets two runs hold the lock (docs/cutover.md, "Lock and clock skew").
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from turnout.engine.state import operator_identity
from turnout.errors import TurnoutError


class LockHeld(TurnoutError):
    """Another cutover holds the lock."""


class LockLost(TurnoutError):
    """This run's lease was taken away (forced unlock or expiry) while it ran."""


class LockCorrupt(TurnoutError):
    """The lock item holds something that is not a lease turnout wrote."""


LEASE_FIELDS = {
    "owner": "S",
    "host": "S",
    "pid": "N",
    "run_id": "S",
    "started_at": "N",
    "expires_at": "N",
}


@dataclass
class LockInfo:
    owner: str
    host: str
    pid: int
    run_id: str
    started_at: float
    expires_at: float

    def describe(self, now: float) -> str:
        left = self.expires_at - now
        state = f"expires in {left:.0f} s" if left > 0 else f"expired {-left:.0f} s ago"
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.started_at))
        return (
            f"{self.owner} (run {self.run_id}, host {self.host}, pid {self.pid}) since {started}; "
            f"its lease {state}"
        )


class CutoverLock:
    def __init__(
        self,
        dynamodb: Any,
        table_name: str,
        migration: str,
        ttl_seconds: float = 120,
        clock: Callable[[], float] = time.time,
    ):
        self.dynamodb = dynamodb
        self.table = table_name
        self.lock_id = f"migration#{migration}"
        self.ttl = ttl_seconds
        self.clock = clock
        self.owner = operator_identity()
        self.run_id: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost: str | None = None
        self.takeover_reason: str | None = None

    def holder(self) -> LockInfo | None:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"lock_id": {"S": self.lock_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        wrong = [
            name
            for name, kind in LEASE_FIELDS.items()
            if kind not in item.get(name, {}) or not _parses(item[name][kind], kind)
        ]
        if wrong:
            raise LockCorrupt(
                f"lock table {self.table}, item {self.lock_id}: not a lease turnout wrote (missing "
                f"or malformed: {', '.join(wrong)}; a lease has owner, host, run_id as text and "
                f"pid, started_at, expires_at as numbers). Nothing was changed. If no cutover is "
                f'running, remove it with `turnout unlock --force --reason "..."` (journaled).'
            )
        return LockInfo(
            owner=item["owner"]["S"],
            host=item["host"]["S"],
            pid=int(float(item["pid"]["N"])),
            run_id=item["run_id"]["S"],
            started_at=float(item["started_at"]["N"]),
            expires_at=float(item["expires_at"]["N"]),
        )

    def acquire(self, run_id: str) -> LockInfo | None:
        """Take the lease; returns the previous holder when a gone one was taken over (the
        reason is in `takeover_reason`)."""
        self.takeover_reason = None
        try:
            self._put(run_id, "attribute_not_exists(lock_id)", {})
            taken_over = None
        except ClientError as problem:
            if problem.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            holder = self.holder()
            reason = self._holder_is_gone(holder) if holder else None
            if holder is None or reason is None:
                held_by = (
                    holder.describe(self.clock()) if holder else "a run that released it just now"
                )
                raise LockHeld(
                    f"this migration is locked by {held_by}. Nothing was changed. Wait for that run "
                    f'to finish, or if it is dead, `turnout unlock --force --reason "..."` '
                    f"(journaled) and run again."
                ) from None
            try:
                # Only the lease as judged: a renewal moves expires_at far past the judged value.
                self._put(
                    run_id,
                    "run_id = :previous AND expires_at < :judged",
                    {
                        ":previous": {"S": holder.run_id},
                        ":judged": {"N": f"{holder.expires_at + 0.001:.3f}"},
                    },
                )
            except ClientError as again:
                if again.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    raise LockHeld(
                        f"this migration's lock changed while this run judged it ({reason}): its "
                        f"holder renewed it or another run took it first. Nothing was changed; "
                        f"run `turnout status` to see who holds it."
                    ) from None
                raise
            taken_over = holder
            self.takeover_reason = reason
        self.run_id = run_id
        self._lost = None
        return taken_over

    def _holder_is_gone(self, holder: LockInfo) -> str | None:
        """Why the holder can no longer be running a cutover, or None when it may be."""
        overdue = self.clock() - holder.expires_at
        if overdue > 0:
            return f"its lease expired {overdue:.0f} s ago by this host's clock (no heartbeat)"
        if holder.host != socket.gethostname():
            return None
        try:
            os.kill(holder.pid, 0)
        except ProcessLookupError:
            return "the holder's process on this host is gone"
        except PermissionError:
            return None
        return None

    def _put(self, run_id: str, condition: str, values: dict) -> None:
        now = self.clock()
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "lock_id": {"S": self.lock_id},
                "owner": {"S": self.owner},
                "host": {"S": socket.gethostname()},
                "pid": {"N": str(os.getpid())},
                "run_id": {"S": run_id},
                "started_at": {"N": f"{now:.3f}"},
                "expires_at": {"N": f"{now + self.ttl:.3f}"},
            },
            ConditionExpression=condition,
            **({"ExpressionAttributeValues": values} if values else {}),
        )

    def renew(self) -> None:
        now = self.clock()
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"lock_id": {"S": self.lock_id}},
                UpdateExpression="SET expires_at = :expires",
                ConditionExpression="run_id = :run",
                ExpressionAttributeValues={
                    ":expires": {"N": f"{now + self.ttl:.3f}"},
                    ":run": {"S": self.run_id or ""},
                },
            )
        except ClientError as problem:
            if problem.response["Error"]["Code"] == "ConditionalCheckFailedException":
                self._lost = "the lock was taken over by another run or force-unlocked"
                raise LockLost(f"this run lost the cutover lock: {self._lost}.") from None
            raise

    def check(self) -> None:
        """Raise if the lease is gone; the engine calls this between steps."""
        if self._lost:
            raise LockLost(
                f"this run lost the cutover lock ({self._lost}); it stopped between steps."
            )
        self.renew()

    def start_heartbeat(self) -> None:
        self._stop.clear()

        def beat() -> None:
            while not self._stop.wait(self.ttl / 4):
                try:
                    self.renew()
                except LockLost:
                    return
                except Exception:  # a missed beat is retried; expiry is the backstop
                    continue

        self._thread = threading.Thread(target=beat, name="turnout-lock-heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        if not self.run_id:
            return
        try:
            self.dynamodb.delete_item(
                TableName=self.table,
                Key={"lock_id": {"S": self.lock_id}},
                ConditionExpression="run_id = :run",
                ExpressionAttributeValues={":run": {"S": self.run_id}},
            )
        except ClientError as problem:
            if problem.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        self.run_id = None

    def force_release(self) -> LockInfo | None:
        """Remove whatever lease exists (the CLI journals who and why)."""
        holder = self.holder()
        self.dynamodb.delete_item(TableName=self.table, Key={"lock_id": {"S": self.lock_id}})
        return holder


def _parses(value: object, kind: str) -> bool:
    if not isinstance(value, str) or not value:
        return False
    if kind == "S":
        return True
    try:
        float(value)
    except ValueError:
        return False
    return True
