"""What of the migration's machinery still exists: each environment's replicator function (and
its mappings), its writer role, and, when asked, the old streams."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code
from turnout.aws.mappings import function_mappings
from turnout.spec.names import names
from turnout.spec.phases import ENVIRONMENTS

GONE = ("ResourceNotFoundException", "NoSuchEntity")


def leftovers(context: Any, old_streams: bool) -> list[str]:
    """One line per thing that should be gone and is not."""
    found = []
    for environment in ENVIRONMENTS:
        place = names(context.spec, environment)
        lam = context.client(environment, "lambda")
        if _exists(lam.get_function, FunctionName=place.replicator):
            found.append(f"{environment}: function {place.replicator}")
        if function_mappings(lam, place.replicator):
            found.append(f"{environment}: event source mappings of {place.replicator}")
        iam = context.client(environment, "iam")
        if _exists(iam.get_role, RoleName=place.writer_role):
            found.append(f"{environment}: role {place.writer_role}")
    if old_streams:
        kinesis = context.client("old", "kinesis")
        for stream in context.spec.streams:
            name = stream.name_in("old")
            if _exists(kinesis.describe_stream_summary, StreamName=name):
                found.append(f"old: stream {name}")
    return found


def _exists(operation: Any, **arguments: Any) -> bool:
    try:
        operation(**arguments)
    except ClientError as problem:
        if error_code(problem) in GONE:
            return False
        raise
    return True
