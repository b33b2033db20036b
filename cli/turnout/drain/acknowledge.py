"""Discards that were re-driven: where each on-failure queue stands, and acknowledging them.

A Lambda consumer's on-failure queue that received messages since its baseline keeps every drain
and verify verdict of that consumer "not drained" (:mod:`turnout.drain.discarded`): each message
is the metadata of a batch the mapping gave up on. Once the operator has re-driven them (read each
message's shard and sequence range and processed those records again while they are in
retention), acknowledging moves the queue's baseline to its message count now: from then on only
messages that arrive afterwards count (and, when peeking, only messages sent afterwards). Nothing
is received from or deleted in the queue. The previous baseline stays in the baseline's item, in
``acknowledgements``, with who acknowledged it, when and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code, error_message
from turnout.drain.discarded import (
    READ_PROBLEMS,
    Baseline,
    Destination,
    baseline_key,
    find_destinations,
    queue_depth,
    queue_url,
    read_baseline,
)
from turnout.errors import TurnoutError
from turnout.spec.names import names


@dataclass(frozen=True)
class QueueStanding:
    """One consumer's on-failure destination: its baseline and its message count now."""

    destination: Destination
    baseline: Baseline | None
    messages_now: int | None
    problem: str | None = None

    @property
    def new_messages(self) -> int | None:
        if self.baseline is None or self.messages_now is None:
            return None
        return self.messages_now - self.baseline.messages

    def as_dict(self) -> dict:
        return {
            "environment": self.destination.environment,
            "consumer": self.destination.consumer,
            "queue": self.destination.arn,
            "streams": [logical for logical, _ in self.destination.streams],
            "baseline_messages": self.baseline.messages if self.baseline else None,
            "baseline_at": self.baseline.when if self.baseline else None,
            "messages_now": self.messages_now,
            "new_messages": self.new_messages,
            "problem": self.problem,
        }

    def line(self) -> str:
        where = f"[{self.destination.environment}] {self.destination.consumer} -> {self.destination.arn}"
        if self.problem:
            return f"{where}: {self.problem}"
        if self.baseline is None:
            return f"{where}: no baseline yet (the cutover records one at baseline->switched)"
        return (
            f"{where}: {self.messages_now} message(s) now, {self.baseline.messages} at the "
            f"baseline of {self.baseline.when}: {self.new_messages} new"
        )


def standings(spec: Any, aws: Any, environments: list[str]) -> list[QueueStanding]:
    """Every Lambda consumer's SQS on-failure destination in these environments (reads only)."""
    found = []
    for environment in environments:
        client = _clients(aws, environment)
        table = names(spec, environment).markers_table
        lambdas = [c for c in getattr(spec.consumers, environment) if c.kind == "lambda"]
        for consumer in lambdas:
            for destination in find_destinations(client("lambda"), spec, environment, consumer):
                if destination.service == "sqs":
                    found.append(_standing(client, spec, table, destination))
    return found


def acknowledge(
    spec: Any,
    aws: Any,
    environment: str,
    queue_arn: str,
    reason: str,
    who: str,
    clock: Callable[[], float],
) -> dict:
    """Move the baseline of `queue_arn` (an on-failure queue of a Lambda consumer of
    `environment`) to the queue's message count now. Refused, changing nothing, when the queue is
    not such a destination or has no baseline yet."""
    if not reason.strip():
        raise TurnoutError(
            "acknowledging discards needs --reason (journaled): say how they were re-driven."
        )
    client = _clients(aws, environment)
    every = standings(spec, aws, [environment])
    known = [standing for standing in every if standing.destination.arn == queue_arn]
    if not known:
        queues = sorted({standing.destination.arn for standing in every})
        raise TurnoutError(
            f"--queue {queue_arn} is not the on-failure queue of any Lambda consumer of "
            f"consumers.{environment} (their mappings send to: {', '.join(queues) or 'none'}). "
            "Nothing was changed."
        )
    standing = known[0]
    if standing.baseline is None or standing.messages_now is None:
        raise TurnoutError(
            f"{queue_arn} has no baseline to move ({standing.problem or 'none is recorded yet'}): "
            "the cutover records it at baseline->switched, and before that no discard counts. "
            "Nothing was changed."
        )
    now = clock()
    key = baseline_key(spec, queue_arn)
    entry = {
        "from_messages": standing.baseline.messages,
        "from_at": standing.baseline.when,
        "to_messages": standing.messages_now,
        "at": now,
        "who": who,
        "reason": reason,
    }
    move_baseline(client("dynamodb"), names(spec, environment).markers_table, key, entry)
    moved = Baseline(standing.messages_now, now)
    return {
        "environment": environment,
        "queue": queue_arn,
        "consumers": sorted({s.destination.consumer for s in known}),
        "previous": {"messages": standing.baseline.messages, "at": standing.baseline.when},
        "now": {"messages": moved.messages, "at": moved.when},
        "acknowledged_messages": standing.new_messages,
        "reason": reason,
    }


def move_baseline(dynamodb: Any, table: str, key: str, entry: dict) -> None:
    """Set the baseline item to `entry`'s count and time, appending `entry` to its history;
    only while the item exists (a baseline never recorded is not invented here)."""
    history = {
        "M": {
            "from_messages": {"N": str(entry["from_messages"])},
            "from_at": {"S": entry["from_at"]},
            "to_messages": {"N": str(entry["to_messages"])},
            "at": {"N": repr(float(entry["at"]))},
            "who": {"S": entry["who"]},
            "reason": {"S": entry["reason"][:1000]},
        }
    }
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"marker_id": {"S": key}},
            UpdateExpression=(
                "SET messages = :messages, recorded_at = :at, "
                "acknowledgements = list_append(if_not_exists(acknowledgements, :none), :entry)"
            ),
            ConditionExpression="attribute_exists(marker_id)",
            ExpressionAttributeValues={
                ":messages": {"N": str(entry["to_messages"])},
                ":at": {"N": repr(float(entry["at"]))},
                ":none": {"L": []},
                ":entry": {"L": [history]},
            },
        )
    except ClientError as problem:
        if error_code(problem) != "ConditionalCheckFailedException":
            raise
        raise TurnoutError(
            f"the baseline {key} disappeared before it could be moved ({error_message(problem)}). "
            "Nothing was changed."
        ) from problem


def _standing(
    client: Callable[[str], Any], spec: Any, table: str, destination: Destination
) -> QueueStanding:
    try:
        baseline = read_baseline(client("dynamodb"), table, baseline_key(spec, destination.arn))
        sqs = client("sqs")
        depth = queue_depth(sqs, queue_url(sqs, destination.arn))
    except READ_PROBLEMS as problem:
        cause = (
            f"{error_code(problem)}: {error_message(problem)}"
            if isinstance(problem, ClientError)
            else str(problem)
        )
        return QueueStanding(destination, None, None, f"could not be read ({cause})")
    return QueueStanding(destination, baseline, depth)


def _clients(aws: Any, environment: str) -> Callable[[str], Any]:
    def client(service: str) -> Any:
        return aws.client(environment, service)

    return client
