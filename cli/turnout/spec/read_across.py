"""What `replication.mode: read-across` asks of the rest of the spec (docs/read-across.md).

In read-across mode no replicator copies the new streams back to the old ones: from mirrored on,
the old environment's Lambda consumers read the new streams themselves, through a second event
source mapping per stream on the new stream (cross-account), which the new stream's resource
policy lets their execution role read; an old KCL application runs a second instance of itself
on the new streams (its `read_across`: a role the policy lets read, a lease table of its own,
the commands that start and stop it). So each old Lambda consumer's execution role is declared,
each KCL application declares its instance, no other kind of consumer is allowed, and each
stream must be readable from the old account.
"""

from __future__ import annotations

from typing import Any

MODES = ("copy", "read-across")
# An AWS managed key cannot be used from another account, for reads as for writes:
# https://docs.aws.amazon.com/streams/latest/dev/controlling-access.html
MODE_HELP = (
    "must be 'copy' (the default: a replicator copies what producers write to the new streams "
    "back to the old streams, where the old consumers read it) or 'read-across' (no replicator: "
    "from mirrored on, the old Lambda consumers read the new streams directly through a "
    "cross-account event source mapping; docs/read-across.md)"
)


def read_across_problems(spec: Any) -> list[tuple[tuple, str]]:
    """(field location, what is wrong and what would do) for each part of the spec that
    read-across mode cannot serve; [] in copy mode."""
    if spec.replication.mode != "read-across":
        return []
    problems: list[tuple[tuple, str]] = []
    old_account = spec.environments.old.account_id
    for index, consumer in enumerate(spec.consumers.old):
        where = ("consumers", "old", index)
        if consumer.kind == "kcl":
            problems += _kcl_problems(consumer, where, old_account)
            continue
        if consumer.kind != "lambda":
            problems.append(
                (
                    (*where, "kind"),
                    f"is {consumer.kind}, but read-across mode moves only Lambda consumers "
                    "(their cross-account event source mapping) and KCL applications (a second "
                    "instance on the new streams); a custom consumer would miss every record "
                    "written to the new streams. Use mode copy",
                )
            )
            continue
        if consumer.drain_evidence != "markers":
            problems.append(
                (
                    (*where, "drain_evidence"),
                    "must be markers in read-across mode: a rollback proves that the old "
                    "consumer processed the new streams' tail by marker records it acknowledges "
                    "(metrics cannot: the stream's metrics and the function's live in two "
                    "accounts)",
                )
            )
        role = consumer.execution_role_arn
        if role is None:
            problems.append(
                (
                    (*where, "execution_role_arn"),
                    f"is required in read-across mode: the new streams' resource policy lets "
                    f"exactly this role (the execution role of {consumer.function_name}) read "
                    f"them; give the role ARN, in the old account {old_account}",
                )
            )
        elif role.split(":")[4] != old_account:
            problems.append(
                (
                    (*where, "execution_role_arn"),
                    f"{role} is a role in account {role.split(':')[4]}, but the function runs "
                    f"in the old environment's account {old_account}",
                )
            )
    for index, stream in enumerate(spec.streams):
        if stream.encryption == "aws_managed":
            problems.append(
                (
                    ("streams", index, "encryption"),
                    f"is aws_managed, but in read-across mode the old consumers (another "
                    f"account) read the new stream {stream.name_in('new')}, and an AWS managed "
                    "key cannot be used from another account; use customer_managed (turnout "
                    "lets the consumers' roles decrypt through Kinesis) or a key ARN whose "
                    "policy does",
                )
            )
    if spec.replication.enabled_directions:
        problems.append(
            (
                ("replication", "enabled_directions"),
                "enables a replicator, but read-across mode runs none; remove the key",
            )
        )
    return problems


def _kcl_problems(consumer: Any, where: tuple, old_account: str) -> list[tuple[tuple, str]]:
    """A KCL application reads the new streams through a second instance of itself, declared
    in `read_across`: a role of the old account and a lease table of its own."""
    across = consumer.read_across
    if across is None:
        return [
            (
                (*where, "read_across"),
                f"is required for the KCL application {consumer.application} in read-across "
                "mode: turnout starts a second instance of it on the new streams (role_arn, "
                "lease_table, start_command, stop_command; docs/read-across.md); without one it "
                "would miss every record written to the new streams",
            )
        ]
    problems: list[tuple[tuple, str]] = []
    account = across.role_arn.split(":")[4]
    if account != old_account:
        problems.append(
            (
                (*where, "read_across", "role_arn"),
                f"{across.role_arn} is a role in account {account}, but the instance runs in "
                f"the old environment's account {old_account}",
            )
        )
    if across.lease_table == consumer.lease_table:
        problems.append(
            (
                (*where, "read_across", "lease_table"),
                f"is the application's own lease table {consumer.lease_table}; the instance on "
                "the new streams needs a table of its own (its leases and checkpoints are of "
                "other shards, and the instance on the old streams keeps its own)",
            )
        )
    return problems


def read_across_roles(spec: Any) -> list[str]:
    """The roles the new streams' policy lets read (sorted, unique): the old Lambda consumers'
    execution roles and the roles of the KCL applications' read-across instances."""
    if spec.replication.mode != "read-across":
        return []
    lambdas = {
        consumer.execution_role_arn
        for consumer in spec.consumers.old
        if consumer.kind == "lambda" and consumer.execution_role_arn
    }
    kcl = {
        consumer.read_across.role_arn
        for consumer in spec.consumers.old
        if consumer.kind == "kcl" and consumer.read_across is not None
    }
    return sorted(lambdas | kcl)


__all__ = ["MODES", "MODE_HELP", "read_across_problems", "read_across_roles"]
