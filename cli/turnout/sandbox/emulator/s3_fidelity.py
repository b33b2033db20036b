"""S3 as Terraform's state backend needs it: atomic conditional writes, and bucket policies
whose conditioned statements do not deny everything.

1. **Conditional writes are atomic.** Terraform's S3 backend takes its lock by writing
   `<key>.tflock` with `If-None-Match: *`: S3 writes the object only if none exists, atomically,
   so of two runs exactly one gets the lock
   (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html). moto checks
   the condition and then writes, in two steps on a threaded server, so two requests can both
   pass the check. Conditional PutObjects (If-None-Match or If-Match) are serialised here; other
   requests are untouched.
2. **A bucket-policy statement applies only when its condition holds.** moto evaluates bucket
   policies on object requests but treats a statement whose condition it cannot match as a
   *denial*, whatever its effect: the state bucket's TLS-only statement (Deny when
   aws:SecureTransport is false) would deny every request. In IAM a statement whose condition is
   not met does not apply ("If the key that you specify in a policy condition is not present in
   the request context, the values do not match":
   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html).
   moto has no request context to match, so here a statement with a Condition never applies; the
   emulator stands for AWS's HTTPS endpoint, where the TLS-only deny would not apply either.
   Bucket policies are not evaluated beyond that (docs/emulator.md); tests evaluate the rendered
   policy document instead.
"""

from __future__ import annotations

import functools
import json
import threading
from typing import Any

_conditional = threading.Lock()


def atomic_conditional_puts() -> None:
    """Idempotent."""
    from moto.s3.responses import S3Response

    put_object = S3Response.put_object
    if getattr(put_object, "_turnout_atomic", False):
        return

    @functools.wraps(put_object)
    def put_object_atomically(self: Any) -> Any:
        if self.headers.get("If-None-Match") is None and self.headers.get("If-Match") is None:
            return put_object(self)
        with _conditional:
            return put_object(self)

    put_object_atomically._turnout_atomic = True  # type: ignore[attr-defined]
    S3Response.put_object = put_object_atomically  # type: ignore[method-assign]


def conditioned_statements_need_their_condition() -> None:
    """Idempotent."""
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    if getattr(FakeBucket.get_permission, "_turnout_conditions", False):
        return

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        document = json.loads(self.policy.decode())
        statements = document.get("Statement", [])
        statements = [statements] if isinstance(statements, dict) else statements
        applicable = [statement for statement in statements if "Condition" not in statement]
        if not applicable:
            return PermissionResult.NEUTRAL
        policy = IAMPolicy(json.dumps({**document, "Statement": applicable}))
        return policy.is_action_permitted(action, resource)

    get_permission._turnout_conditions = True  # type: ignore[attr-defined]
    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
