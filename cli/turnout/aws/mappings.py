"""Event source mappings: which of a function's mappings read a stream, and settling one.

AWS changes a mapping's state asynchronously (Creating, Enabling, Disabling, Updating): every
change here is followed by polling until the state settles, bounded in time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code

# States that will still change on their own.
TRANSITIONAL_STATES = ("Creating", "Enabling", "Disabling", "Updating", "Deleting")


def arn_reads_stream(event_source_arn: str, stream_arn_: str) -> bool:
    """A mapping reads a stream directly or through one of its enhanced fan-out consumers."""
    return event_source_arn == stream_arn_ or event_source_arn.startswith(
        stream_arn_ + "/consumer/"
    )


def function_mappings(lambda_client: Any, function_name: str) -> list[dict]:
    """Every event source mapping of a function ([] when the function does not exist)."""
    mappings: list[dict] = []
    marker: str | None = None
    while True:
        arguments: dict[str, Any] = {"FunctionName": function_name}
        if marker:
            arguments["Marker"] = marker
        try:
            page = lambda_client.list_event_source_mappings(**arguments)
        except ClientError as problem:
            if error_code(problem) == "ResourceNotFoundException":
                return []
            raise
        mappings.extend(page.get("EventSourceMappings", []))
        marker = page.get("NextMarker")
        if not marker:
            return mappings


def mappings_reading(
    lambda_client: Any, function_name: str, stream_arns: Iterable[str]
) -> list[dict]:
    """The function's mappings whose source is one of `stream_arns`."""
    arns = list(stream_arns)
    return [
        mapping
        for mapping in function_mappings(lambda_client, function_name)
        if any(arn_reads_stream(mapping.get("EventSourceArn", ""), arn) for arn in arns)
    ]


def settle_mapping(
    lambda_client: Any,
    uuid: str,
    enabled: bool,
    *,
    timeout_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    progress: Callable[[str], None] | None = None,
    poll_seconds: float = 2.0,
) -> dict:
    """Make one mapping Enabled/Disabled and wait until its State settles there (see
    :func:`settle_mappings`). Raises TimeoutError (message ready for the operator) when it does
    not settle in time."""
    outcome = settle_mappings(
        lambda_client,
        [uuid],
        enabled,
        timeout_seconds=timeout_seconds,
        clock=clock,
        sleep=sleep,
        progress=progress,
        poll_seconds=poll_seconds,
    )[uuid]
    if "error" in outcome:
        raise TimeoutError(outcome["error"])
    return outcome


def settle_mappings(
    lambda_client: Any,
    uuids: Iterable[str],
    enabled: bool,
    *,
    timeout_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    progress: Callable[[str], None] | None = None,
    poll_seconds: float = 2.0,
) -> dict[str, dict]:
    """Make mappings Enabled/Disabled and wait until each State settles there, all at once:
    every change is requested first, then the mappings still in transition are polled together
    (AWS takes a while per mapping, so settling them one by one adds those whiles up).

    Never deletes or recreates a mapping: disabling keeps its position. AWS changes the state
    asynchronously (Enabling, Disabling, Updating); an update refused because the mapping is
    busy (ResourceInUseException) is tried again at the next poll. Returns, per uuid,
    {uuid, before, after, changed, waited_seconds}, or {uuid, before, state, error} for a
    mapping that did not settle within `timeout_seconds`.
    """
    wanted = "Enabled" if enabled else "Disabled"
    started = clock()
    states = {uuid: lambda_client.get_event_source_mapping(UUID=uuid)["State"] for uuid in uuids}
    before = dict(states)
    changed: set[str] = set()
    outcomes: dict[str, dict] = {}
    while True:
        for uuid in [u for u in states if u not in outcomes]:
            if states[uuid] not in TRANSITIONAL_STATES and states[uuid] != wanted:
                try:
                    states[uuid] = lambda_client.update_event_source_mapping(
                        UUID=uuid, Enabled=enabled
                    )["State"]
                    changed.add(uuid)
                except ClientError as problem:
                    if error_code(problem) != "ResourceInUseException":
                        raise
            if states[uuid] == wanted:
                outcomes[uuid] = {
                    "uuid": uuid,
                    "before": before[uuid],
                    "after": wanted,
                    "changed": uuid in changed,
                    "waited_seconds": round(clock() - started, 1),
                }
        pending = [u for u in states if u not in outcomes]
        if not pending:
            return outcomes
        elapsed = clock() - started
        if elapsed >= timeout_seconds:
            for uuid in pending:
                outcomes[uuid] = {
                    "uuid": uuid,
                    "before": before[uuid],
                    "state": states[uuid],
                    "error": f"event source mapping {uuid} is still {states[uuid]} after "
                    f"{elapsed:.0f} s (wanted {wanted} within {timeout_seconds:.0f} s)",
                }
            return outcomes
        if progress:
            for uuid in pending:
                progress(
                    f"waiting for mapping {uuid} to become {wanted}: {states[uuid]}, "
                    f"{elapsed:.0f} s of {timeout_seconds:.0f} s"
                )
        sleep(min(poll_seconds, max(0.0, timeout_seconds - elapsed)))
        for uuid in pending:
            states[uuid] = lambda_client.get_event_source_mapping(UUID=uuid)["State"]
