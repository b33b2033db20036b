"""Calls across accounts, by ARN, under the resource's policy, as AWS serves them.

On AWS a producer of account C writes account N's stream by naming its ARN in PutRecords, and
reads account O's route table by naming the table's ARN in GetItem; the owner's resource policy
(together with C's identity policy) decides. moto serves every call from the caller's own
account, so such a call finds nothing. This patch serves it from the account (and region) the
ARN names, when the resource's policy there allows the caller (:mod:`.resource_policy`), and
answers ``AccessDeniedException`` otherwise, as AWS does.

- Kinesis: ``PutRecord``, ``PutRecords``, ``ListShards``, ``DescribeStreamSummary`` with a
  ``StreamARN`` of another account (the data-stream actions a resource policy can share that
  producers use; https://docs.aws.amazon.com/streams/latest/dev/controlling-access.html), and
  the reads of a cross-account Lambda mapping (``DescribeStream``, ``GetShardIterator``,
  ``GetRecords``: :mod:`.read_across`).
- DynamoDB: any item or table read/write whose ``TableName`` is another account's table ARN
  (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/rbac-cross-account-access.html).
- The caller is the IAM role whose credentials signed the request (moto records the role behind
  every assumed-role access key); other callers are the account root.
- Not modelled: the caller's identity policy (moto enforces none), KMS key policies (the emulator
  does not encrypt streams: tests evaluate the rendered key policies instead), other actions
  (they behave as moto's: the resource is not found).
"""

from __future__ import annotations

import threading
from typing import Any

from turnout.sandbox.emulator.resource_policy import allows
from turnout.spec.names import account_root_arn

KINESIS_SHARED_ACTIONS = (
    "PutRecord",
    "PutRecords",
    "ListShards",
    "DescribeStreamSummary",
    "DescribeStream",
    "GetShardIterator",
    "GetRecords",
)
_applied = False
_lock = threading.Lock()
_counts = {"cross_account_calls": 0, "cross_account_denied": 0}


def counts() -> dict[str, int]:
    with _lock:
        return dict(_counts)


def caller_arn(response: Any) -> str:
    """The IAM role (or the account root) whose access key signed the request."""
    from moto.iam.models import iam_backends

    account = response.current_account
    key = iam_backends[account]["aws"].access_keys.get(response.access_key)
    role = getattr(key, "role_arn", None)
    return role or account_root_arn(account)


def _owner(arn: Any, service: str) -> tuple[str, str] | None:
    """(account, region) of an ARN of `service`, or None for a name or a malformed ARN."""
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != service:
        return None
    return parts[4], parts[3]


def _authorize(response: Any, service: str, action: str, arn: str, policy: str | None) -> None:
    from moto.core.exceptions import JsonRESTError

    principal = caller_arn(response)
    allowed = allows(policy, principal=principal, action=f"{service}:{action}", resource=arn)
    with _lock:
        _counts["cross_account_calls" if allowed else "cross_account_denied"] += 1
    if not allowed:
        raise JsonRESTError(
            "AccessDeniedException",
            f"User: {principal} is not authorized to perform: {service}:{action} on resource: "
            f"{arn} because no resource-based policy allows the {service}:{action} action",
        )


def serve_kinesis_across_accounts() -> None:
    from moto.kinesis.models import kinesis_backends
    from moto.kinesis.responses import KinesisResponse

    own_backend = KinesisResponse.kinesis_backend.fget

    def kinesis_backend(self: Any) -> Any:
        if hasattr(self, "_turnout_owner_backend"):  # authorized once per request
            return self._turnout_owner_backend
        action = self._get_action()
        owner = _owner(self._get_param("StreamARN"), "kinesis")
        if (
            action not in KINESIS_SHARED_ACTIONS
            or owner is None
            or owner[0] == self.current_account
        ):
            return own_backend(self)
        account, region = owner
        backend = kinesis_backends[account][region]
        arn = self._get_param("StreamARN")
        _authorize(self, "kinesis", action, arn, backend.resource_policies.get(arn))
        self._turnout_owner_backend = backend
        return backend

    KinesisResponse.kinesis_backend = property(kinesis_backend)  # type: ignore[method-assign]


def serve_dynamodb_across_accounts() -> None:
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.responses import DynamoHandler

    own_backend = DynamoHandler.dynamodb_backend.fget

    def dynamodb_backend(self: Any) -> Any:
        if hasattr(self, "_turnout_owner_backend"):  # authorized once per request
            return self._turnout_owner_backend
        owner = _owner(self._get_param("TableName"), "dynamodb")
        if owner is None or owner[0] == self.current_account:
            return own_backend(self)
        account, region = owner
        backend = dynamodb_backends[account][region]
        arn = self._get_param("TableName")
        policy = backend.resource_policies.get(arn)
        document = policy.policy_doc if policy is not None else None
        _authorize(self, "dynamodb", self._get_action(), arn, document)
        self._turnout_owner_backend = backend
        return backend

    DynamoHandler.dynamodb_backend = property(dynamodb_backend)  # type: ignore[method-assign]


def serve_across_accounts() -> None:
    """Apply both patches (idempotent)."""
    global _applied
    with _lock:
        if _applied:
            return
        _applied = True
    serve_kinesis_across_accounts()
    serve_dynamodb_across_accounts()


__all__ = ["caller_arn", "counts", "serve_across_accounts"]
