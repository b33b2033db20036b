"""The cutover's memory: the live phase, the transition in progress, and the journal.

All of it lives in the control plane's state table (hash `pk`, range `sk`):

- `pk = migration#<name>`, `sk = state`: the live phase and, while a transition runs, which of
  its steps are done. Every write is conditional on the version read before it, so two writers
  can never both succeed (the lock makes that rare; this makes it impossible).
- `pk = migration#<name>`, `sk = journal#<time>#<run>#<n>`: one item per event, appended before
  and after every side effect (who, when, what, inputs, outcome, duration). Never updated.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from turnout.errors import TurnoutError
from turnout.spec.phases import PHASES

STATE_FORMAT_VERSION = 1


class StateError(TurnoutError):
    """The state table holds something this turnout cannot act on safely."""


class ConcurrentWriteError(StateError):
    """Someone else changed the migration's state since we read it."""


@dataclass
class TransitionProgress:
    """A transition that has started and not finished."""

    from_phase: str
    to_phase: str
    run_id: str
    started_at: str
    completed_steps: list[str] = field(default_factory=list)
    step_results: dict[str, Any] = field(default_factory=dict)
    # Actions and applies that have started (done or not): their effect may have landed, so the
    # checks before them are their preconditions and are not measured again on resume.
    started_side_effects: list[str] = field(default_factory=list)

    def as_item(self) -> dict:
        return {
            "from_phase": self.from_phase,
            "to_phase": self.to_phase,
            "run_id": self.run_id,
            "started_at": self.started_at,
            "completed_steps": list(self.completed_steps),
            "started_side_effects": list(self.started_side_effects),
            "step_results": json.dumps(scrubbed(self.step_results), sort_keys=True, default=str),
        }

    @classmethod
    def from_item(cls, item: dict) -> TransitionProgress:
        return cls(
            from_phase=item["from_phase"],
            to_phase=item["to_phase"],
            run_id=item["run_id"],
            started_at=item["started_at"],
            completed_steps=list(item.get("completed_steps", [])),
            started_side_effects=list(item.get("started_side_effects", [])),
            step_results=json.loads(item.get("step_results") or "{}"),
        )


@dataclass
class MigrationState:
    phase: str
    version: int
    updated_at: str | None = None
    updated_by: str | None = None
    transition: TransitionProgress | None = None


SENSITIVE_KEY = re.compile(r"secret|token|password|credential|payload|^data$", re.IGNORECASE)


def scrubbed(value: Any) -> Any:
    """What may be stored in the state table: record payloads (bytes, `Data`) and anything named
    like a credential are replaced by a placeholder, whatever a hook returns. Numbers stay (a
    `payload_bytes` count is not a payload)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes withheld>"
    if isinstance(value, dict):
        return {
            key: "<withheld>" if _sensitive(key, item) else scrubbed(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [scrubbed(item) for item in value]
    return value


def _sensitive(key: Any, value: Any) -> bool:
    countable = value is None or isinstance(value, bool | int | float)
    return not countable and SENSITIVE_KEY.search(str(key)) is not None


def now_iso(clock: Callable[[], float] = time.time) -> str:
    return datetime.fromtimestamp(clock(), UTC).isoformat(timespec="milliseconds")


def operator_identity() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


class StateStore:
    """Reads and writes one migration's state and journal in the state table."""

    def __init__(
        self,
        dynamodb: Any,
        table_name: str,
        migration: str,
        clock: Callable[[], float] = time.time,
    ):
        """`clock`: the services' clock (AwsAccess.clock), so that the journal's times (the
        switch's, the commit's) compare with Kinesis arrival times."""
        self.dynamodb = dynamodb
        self.clock = clock
        self.table = table_name
        self.pk = f"migration#{migration}"
        self._journal_counter = 0

    def load(self) -> MigrationState:
        """The live state; a migration never run before is at baseline (version 0)."""
        try:
            item = self.dynamodb.get_item(
                TableName=self.table,
                Key={"pk": {"S": self.pk}, "sk": {"S": "state"}},
                ConsistentRead=True,
            ).get("Item")
        except ClientError as problem:
            raise StateError(
                f"cannot read the cutover state from table {self.table}: "
                f"{problem.response['Error']['Code']}: {problem.response['Error'].get('Message', '')}. "
                f"Is the control plane applied (`turnout apply --env <control plane environment>`)?"
            ) from None
        if item is None:
            return MigrationState(phase="baseline", version=0)
        return self._parse(_plain(item))

    def _parse(self, item: dict) -> MigrationState:
        where = f"state table {self.table}, item {self.pk}/state"
        fmt = item.get("format_version")
        if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
            raise StateError(
                f"{where} is corrupt: its format_version is {fmt!r}, not a positive integer "
                f"(this turnout writes {STATE_FORMAT_VERSION}). Nothing was changed. Inspect the "
                f"journal (`turnout status`) before repairing it."
            )
        if fmt > STATE_FORMAT_VERSION:
            raise StateError(
                f"{where} has format_version {fmt!r}; this turnout understands {STATE_FORMAT_VERSION}. "
                f"It was written by a newer turnout: upgrade before driving this migration. Nothing "
                f"was changed."
            )
        phase = item.get("phase")
        if phase not in PHASES:
            raise StateError(
                f"{where} names an unknown phase {phase!r}; known phases: {', '.join(PHASES)}. "
                f"Nothing was changed. Inspect the journal (`turnout status`) before repairing it."
            )
        transition = None
        if item.get("transition"):
            try:
                transition = TransitionProgress.from_item(item["transition"])
            except (KeyError, TypeError, ValueError) as problem:
                raise StateError(
                    f"{where} has a corrupt transition record ({problem}); nothing was changed."
                ) from None
        version = item.get("version")
        if not isinstance(version, int):
            raise StateError(f"{where} has no integer version; nothing was changed.")
        return MigrationState(
            phase, version, item.get("updated_at"), item.get("updated_by"), transition
        )

    def save(self, state: MigrationState, expected_version: int) -> MigrationState:
        """Write the state atomically if nobody else wrote since `expected_version`."""
        new_version = expected_version + 1
        item: dict[str, Any] = {
            "pk": self.pk,
            "sk": "state",
            "format_version": STATE_FORMAT_VERSION,
            "phase": state.phase,
            "version": new_version,
            "updated_at": now_iso(self.clock),
            "updated_by": operator_identity(),
        }
        if state.transition is not None:
            item["transition"] = state.transition.as_item()
        condition = "attribute_not_exists(pk)" if expected_version == 0 else "version = :expected"
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "Item": _typed(item),
            "ConditionExpression": condition,
        }
        if expected_version != 0:
            arguments["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        try:
            self.dynamodb.put_item(**arguments)
        except ClientError as problem:
            if problem.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConcurrentWriteError(
                    f"the migration state in {self.table} changed while this run held it (expected "
                    f"version {expected_version}); another operator or a forced unlock intervened. "
                    f"This run stopped; run `turnout status` to see who."
                ) from None
            raise
        state.version = new_version
        state.updated_at = item["updated_at"]
        state.updated_by = item["updated_by"]
        return state

    def journal(self, run_id: str, kind: str, action: str, **details: Any) -> None:
        """Append one journal entry. Payloads never go here: only names, counts and outcomes."""
        self._journal_counter += 1
        at = now_iso(self.clock)
        item = {
            "pk": self.pk,
            "sk": f"journal#{at}#{run_id}#{self._journal_counter:06d}",
            "run_id": run_id,
            "kind": kind,
            "action": action,
            "at": at,
            "who": operator_identity(),
            "details": json.dumps(scrubbed(details), sort_keys=True, default=str),
        }
        self.dynamodb.put_item(TableName=self.table, Item=_typed(item))

    def read_journal(self, limit: int | None = None, newest_first: bool = True) -> list[dict]:
        entries: list[dict] = []
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": self.pk}, ":prefix": {"S": "journal#"}},
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        while True:
            if limit:
                arguments["Limit"] = limit - len(entries)
            page = self.dynamodb.query(**arguments)
            for raw in page.get("Items", []):
                entries.append(self._journal_entry(raw))
            if (limit and len(entries) >= limit) or "LastEvaluatedKey" not in page:
                return entries
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def phase_reached_at(self, phase: str) -> str | None:
        """When the newest transition into `phase` completed (ISO-8601), or None."""
        return self._first_entry_at("completed", "phase", phase, newest_first=True)

    def transition_first_started_at(self, transition: str) -> str | None:
        """When `transition` (e.g. `baseline->switched`) first started (ISO-8601), or None:
        before that moment none of its steps had run."""
        return self._first_entry_at("started", "transition", transition, newest_first=False)

    def _first_entry_at(
        self, action: str, detail: str, value: str, newest_first: bool
    ) -> str | None:
        """The time of the first `transition <action>` journal entry (in the order asked) whose
        `detail` is `value`."""
        arguments: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": self.pk}, ":prefix": {"S": "journal#"}},
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        while True:
            page = self.dynamodb.query(**arguments)
            for raw in page.get("Items", []):
                entry = _plain(raw)
                if (entry.get("kind"), entry.get("action")) != ("transition", action):
                    continue
                if self._journal_entry(raw)["details"].get(detail) == value:
                    return entry.get("at")
            if "LastEvaluatedKey" not in page:
                return None
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _journal_entry(self, raw: dict) -> dict:
        entry = _plain(raw)
        try:
            details = json.loads(entry.get("details") or "{}")
            if not isinstance(details, dict):
                raise ValueError(f"a {type(details).__name__}, not a JSON object")
        except (TypeError, ValueError) as problem:
            raise StateError(
                f"state table {self.table}, journal item {self.pk}/{entry.get('sk')}: its details "
                f"are not the JSON object turnout writes ({problem}). Nothing was changed; the "
                f"journal is append-only, so this item was written by something else: inspect "
                f"and remove it."
            ) from None
        entry["details"] = details
        return entry


def new_run_id() -> str:
    return f"{int(time.time())}-{uuid.uuid4().hex[:8]}"


def _typed(item: dict) -> dict:
    """A plain item → DynamoDB attribute values (the subset the state uses)."""
    return {key: _attribute(value) for key, value in item.items() if value is not None}


def _attribute(value: Any) -> dict:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [_attribute(item) for item in value]}
    if isinstance(value, dict):
        return {"M": {key: _attribute(item) for key, item in value.items() if item is not None}}
    raise TypeError(f"cannot store {type(value).__name__} in the state table")


def _plain(item: dict) -> dict:
    return {key: _value(attribute) for key, attribute in item.items()}


def _value(attribute: dict) -> Any:
    ((kind, value),) = attribute.items()
    if kind == "S":
        return value
    if kind == "N":
        digits = value.lstrip("-")
        return int(value) if digits.isascii() and digits.isdigit() else float(value)
    if kind == "BOOL":
        return value
    if kind == "NULL":
        return None
    if kind == "L":
        return [_value(item) for item in value]
    if kind == "M":
        return {key: _value(item) for key, item in value.items()}
    return value
