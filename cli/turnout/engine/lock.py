"""One cutover at a time: a lease in the lock table with an owner and an expiry.

Acquiring is a conditional write that succeeds only when no lease exists or the existing one
has expired; while the cutover runs, a background thread renews the expiry. A run that fails to
renew (its lease was forced away) notices at its next step and stops. Expiry is judged with the
acquirer's clock; the TTL is generous against modest clock skew between hosts.
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
        return f"{self.owner} (run {self.run_id}, host {self.host}, pid {self.pid}), started {started}, {state}"


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

    def holder(self) -> LockInfo | None:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"lock_id": {"S": self.lock_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return LockInfo(
            owner=item["owner"]["S"],
            host=item["host"]["S"],
            pid=int(item["pid"]["N"]),
            run_id=item["run_id"]["S"],
            started_at=float(item["started_at"]["N"]),
            expires_at=float(item["expires_at"]["N"]),
        )

    def acquire(self, run_id: str) -> LockInfo | None:
        """Take the lease; returns the previous holder when a dead one was taken over."""
        try:
            self._put(run_id, "attribute_not_exists(lock_id) OR expires_at < :now", {})
            taken_over = None
        except ClientError as problem:
            if problem.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            holder = self.holder()
            if holder is None or not self._holder_is_dead(holder):
                held_by = (
                    holder.describe(self.clock()) if holder else "an owner that just released it"
                )
                raise LockHeld(
                    f"another cutover holds the lock of this migration: {held_by}. Wait for it to "
                    f'finish, or if that run is dead, `turnout unlock --force --reason "..."` '
                    f"(journaled) and run again."
                ) from None
            try:
                self._put(run_id, "run_id = :previous", {":previous": {"S": holder.run_id}})
            except ClientError as again:
                if again.response["Error"]["Code"] == "ConditionalCheckFailedException":
                    raise LockHeld(
                        "another run took the lock of this migration at the same moment."
                    ) from None
                raise
            taken_over = holder
        self.run_id = run_id
        self._lost = None
        return taken_over

    def _holder_is_dead(self, holder: LockInfo) -> bool:
        """A holder on this host whose process is gone cannot be running a cutover."""
        if holder.host != socket.gethostname():
            return False
        try:
            os.kill(holder.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

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
            ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}, **values}
            if ":now" in condition
            else values,
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
