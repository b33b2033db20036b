"""Lambda event source mappings on another account's Kinesis stream, as AWS allows them.

On AWS a function of account O may map a stream of account N when N's stream has a resource
policy that lets O's function execution role read it
(https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-create.html, "Creating a
cross-account event source mapping"; the policy:
https://docs.aws.amazon.com/streams/latest/dev/resource-based-policy-examples.html). Lambda checks
that access when the mapping is created and answers ``InvalidParameterValueException``
otherwise; the mapping then reads with the execution role.

moto looks the stream up in the function's own account only, so such a mapping is refused as
"Invalid EventSourceArn". This patch creates it when the stream exists in the account and region
its ARN names and the stream's policy there allows the function's execution role every read
action Lambda needs (:data:`READ_ACTIONS`), and refuses it with Lambda's error otherwise. The
reads themselves (``GetShardIterator``, ``GetRecords``, ``ListShards``, ``DescribeStream*`` with
the stream's ARN) are served under the same policy by :mod:`.cross_account`; the local Lambda
runtime makes them with the function's execution role (``lambda_runtime.runtime``).

Not modelled: the execution role's own identity policy (moto enforces none).
"""

from __future__ import annotations

import functools
from typing import Any

from turnout.sandbox.emulator.resource_policy import allows

# What Lambda needs of a Kinesis stream it maps (the Lambda page above, and the AWS managed
# policy AWSLambdaKinesisExecutionRole): ListStreams is not resource-level, so not in a policy.
READ_ACTIONS = (
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
)


def _other_account_stream(arn: Any, own_account: str) -> tuple[str, str] | None:
    """(account, region) of a Kinesis stream ARN of another account, else None."""
    if not isinstance(arn, str) or not arn.startswith("arn:"):
        return None
    parts = arn.split(":")
    if len(parts) < 6 or parts[2] != "kinesis" or parts[4] == own_account:
        return None
    return parts[4], parts[3]


def denied_actions(policy: str | None, role_arn: str, stream_arn: str) -> list[str]:
    """The read actions the stream's policy does not allow the role (empty: it may map it)."""
    return [
        action
        for action in READ_ACTIONS
        if not allows(policy, principal=role_arn, action=action, resource=stream_arn)
    ]


def map_streams_across_accounts() -> None:
    """Patch moto's CreateEventSourceMapping (idempotent through the caller: `patch_moto`)."""
    from moto.awslambda.exceptions import InvalidParameterValueException
    from moto.awslambda.models import EventSourceMapping, LambdaBackend
    from moto.kinesis.models import kinesis_backends

    original = LambdaBackend.create_event_source_mapping

    @functools.wraps(original)
    def create_event_source_mapping(self: Any, spec: dict[str, Any]) -> Any:
        owner = _other_account_stream(spec.get("EventSourceArn"), self.account_id)
        if owner is None or not spec.get("FunctionName"):
            return original(self, spec)
        arn = spec["EventSourceArn"]
        function = self._lambdas.get_function_by_name_or_arn_with_qualifier(spec["FunctionName"])
        backend = kinesis_backends[owner[0]][owner[1]]
        if not any(stream.arn == arn for stream in backend.streams.values()):
            raise InvalidParameterValueException(f"Stream not found: {arn}")
        missing = denied_actions(backend.resource_policies.get(arn), function.role, arn)
        if missing:
            raise InvalidParameterValueException(
                f"Cannot access stream {arn}. Please ensure the role {function.role} can "
                f"perform {', '.join(missing)} on your stream: the stream's resource-based "
                "policy does not allow it."
            )
        spec.update(
            RegionName=self.region_name,
            AccountId=self.account_id,
            FunctionArn=function.function_arn,
        )
        mapping = EventSourceMapping(spec)
        self._event_source_mappings[mapping.uuid] = mapping
        return mapping

    LambdaBackend.create_event_source_mapping = create_event_source_mapping  # type: ignore[method-assign]


__all__ = ["READ_ACTIONS", "denied_actions", "map_streams_across_accounts"]
