"""Delete the event source mappings of an environment's Lambda consumers on the spec's streams.

Deleting is final (a new mapping would start from its own starting position), which is why it
happens only after the commit, when the old consumers have been paused for good. A mapping is
waited for until it is gone (AWS deletes asynchronously: state `Deleting`).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code
from turnout.aws.mappings import mappings_reading
from turnout.spec.names import names


def remove_lambda_mappings(context: Any, environment: str, timeout_seconds: float) -> dict:
    """Returns {"removed": [...], "manual": [...]} (manual: consumers turnout cannot remove)."""
    lam = context.client(environment, "lambda")
    removed, manual = [], []
    for consumer in getattr(context.spec.consumers, environment):
        if consumer.kind != "lambda":
            label = consumer.application if consumer.kind == "kcl" else consumer.name
            manual.append(f"{consumer.kind}:{label} (stop it yourself: turnout has no mapping)")
            continue
        arns = [names(context.spec, environment).stream_arn(name) for name in consumer.streams]
        for mapping in mappings_reading(lam, consumer.function_name, arns):
            entry = {
                "function": consumer.function_name,
                "uuid": mapping["UUID"],
                "source": mapping.get("EventSourceArn", ""),
                "state": mapping.get("State"),
            }
            if not context.dry_run:
                _delete(lam, mapping["UUID"], context, timeout_seconds)
            removed.append(entry)
    return {"environment": environment, "removed": removed, "manual": manual}


def _delete(lam: Any, uuid: str, context: Any, timeout_seconds: float) -> None:
    started = context.clock()
    try:
        lam.delete_event_source_mapping(UUID=uuid)
    except ClientError as problem:
        if error_code(problem) == "ResourceNotFoundException":
            return
        if error_code(problem) != "ResourceInUseException":
            raise
    while True:
        try:
            state = lam.get_event_source_mapping(UUID=uuid)["State"]
        except ClientError as problem:
            if error_code(problem) == "ResourceNotFoundException":
                return
            raise
        waited = context.clock() - started
        if waited >= timeout_seconds:
            raise TimeoutError(f"mapping {uuid} is still {state} after {waited:.0f} s")
        context.progress(f"waiting for mapping {uuid} to be deleted: {state}, {waited:.0f} s")
        context.sleep(2.0)
