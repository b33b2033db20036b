"""The resources a plan must not destroy or replace unnoticed, and what each loss costs.

A plan that destroys or replaces one of them is refused unless the operator names its address
with `--allow-destroy ADDRESS` (plan_summary.refuse_destruction); the refusal and the summary
explain the consequence of each, read from the planned change itself where it depends on it
(a mapping's starting position).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

_TABLE_ROLES = {
    "ledger": "the replication ledger: the replicator's per-shard progress, which the drain and "
    "lag checks read; without it a running cutover cannot prove replication caught up",
    "state": "the cutover state: the live phase and the journal of every step; the engine would "
    "start again from baseline, blind to what was done",
    "lock": "the cutover lock: a running cutover loses its lease and a second one can start",
    "markers": "the drain-marker acknowledgements: a drain in progress cannot be proven",
}


@dataclass(frozen=True)
class Destructive:
    """One protected resource the plan destroys or replaces."""

    address: str
    kind: str
    action: str  # "destroy" | "replace"
    consequence: str

    def describe(self) -> str:
        verb = "destroyed" if self.action == "destroy" else "replaced (destroyed and recreated)"
        return f"{self.address} would be {verb}: {self.consequence}"


def _stream(change: dict) -> str:
    return (
        "a Kinesis stream: every record it buffers (not yet read by all its consumers, or not "
        "yet replicated) is lost with it"
    )


def _table(change: dict) -> str:
    role = _TABLE_ROLES.get(_resource_name(change.get("address", "")))
    if role:
        return f"a DynamoDB table, {role}"
    return "a DynamoDB table: its items are lost"


def _mapping(change: dict) -> str:
    if ".aws_lambda_event_source_mapping.read_across[" in f".{change.get('address', '')}":
        return _read_across_mapping()
    after = change.get("change", {}).get("after") or {}
    position = after.get("starting_position") or "its starting position"
    effects = {
        "TRIM_HORIZON": "re-reads every record still in the stream's retention and copies it "
        "again: duplicates in the peer streams",
        "LATEST": "skips every record that arrives between the old mapping's last checkpoint "
        "and the new mapping's start: those never reach the peer streams",
        "AT_TIMESTAMP": f"re-reads from {after.get('starting_position_timestamp')}: records "
        "after it that were already copied are duplicated, unread records before it are skipped",
    }
    effect = effects.get(position, "re-reads from there")
    return (
        f"an event source mapping: its checkpoint (the position reached in each shard) is lost "
        f"and the new mapping starts at {position}, so the replicator {effect}"
    )


def _read_across_mapping() -> str:
    return (
        "an old consumer's event source mapping on a new stream (read-across mode): its "
        "checkpoint (the position reached in each shard) is lost; while it is gone the old "
        "consumer reads nothing of the new stream, and a new one starts at TRIM_HORIZON, so the "
        "old consumer processes again every record still in the stream's retention (duplicates)"
    )


def _key(change: dict) -> str:
    return (
        "a KMS key: the old key is scheduled for deletion, and once its waiting period ends, "
        "everything encrypted under it (stream records, table items, queued failures, logs) is "
        "unreadable for good"
    )


def _consumer(change: dict) -> str:
    return (
        "an enhanced fan-out consumer: it is deregistered, so the mappings reading through it are "
        "replaced too and lose their checkpoints"
    )


def _bucket(change: dict) -> str:
    return (
        "an S3 bucket (the Terraform state bucket): every state in it, with all its versions, "
        "is lost, and Terraform would no longer know what it manages"
    )


PROTECTED_TYPES: dict[str, Callable[[dict], str]] = {
    "aws_kinesis_stream": _stream,
    "aws_dynamodb_table": _table,
    "aws_lambda_event_source_mapping": _mapping,
    "aws_kms_key": _key,
    "aws_kinesis_stream_consumer": _consumer,
    "aws_s3_bucket": _bucket,
}


def destructive_change(change: dict, action: str | None) -> Destructive | None:
    """The protected resource `change` (one of `terraform show -json`'s resource_changes)
    destroys or replaces, or None."""
    kind = change.get("type", "?")
    if action not in ("destroy", "replace") or kind not in PROTECTED_TYPES:
        return None
    address = change.get("address", kind)
    return Destructive(address, kind, action, PROTECTED_TYPES[kind](change))


def _resource_name(address: str) -> str:
    """`module.control_plane.aws_dynamodb_table.state[0]` -> `state`."""
    return address.rsplit(".", 1)[-1].split("[", 1)[0]
