"""Reading Kinesis shards and finding the event source mappings that read a stream.

Used by the cutover hooks and the drain predicates (`turnout.drain`). Everything here works the
same on AWS and on the local emulator; the few places where they differ are commented.

Read limits. A shard serves 5 GetRecords calls per second, shared by *every* reader (the live
consumers too). `ShardReader` therefore paces itself to at most `reads_per_second` (default 2)
GetRecords calls per shard, and as many GetShardIterator calls, so that a drain check never
throttles the consumers it is watching. Time comes from injected `clock`/`sleep` functions, so
unit tests run without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from botocore.exceptions import ClientError
from pydantic import Field

from turnout.hooks import Hook, HookArgs, HookContext

# KCL checkpoint sentinels (and the shard-iterator types of the same names).
SENTINELS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP", "SHARD_END")

# ESM states that will still change on their own (AWS switches asynchronously).
TRANSITIONAL_STATES = ("Creating", "Enabling", "Disabling", "Updating", "Deleting")


def sequence_int(sequence_number: str) -> int:
    """Sequence numbers grow within a shard; compare them as integers, never as strings."""
    return int(sequence_number)


def error_code(problem: ClientError) -> str:
    return problem.response.get("Error", {}).get("Code", "")


# --------------------------------------------------------------------------- shards


def list_shards(kinesis: Any, stream_name: str) -> list[dict]:
    """Every shard of a stream still in retention, open and closed, in ListShards order."""
    shards: list[dict] = []
    token: str | None = None
    while True:
        page = (
            kinesis.list_shards(NextToken=token)
            if token
            else kinesis.list_shards(StreamName=stream_name)
        )
        shards.extend(page.get("Shards", []))
        token = page.get("NextToken")
        if not token:
            return shards


def is_open(shard: dict) -> bool:
    return "EndingSequenceNumber" not in shard.get("SequenceNumberRange", {})


def children_of(shards: Iterable[dict], shard_id: str) -> list[dict]:
    """Shards whose parent or adjacent parent is `shard_id` (split: two children; merge: one)."""
    return [
        shard
        for shard in shards
        if shard_id in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId"))
    ]


def open_descendants(shards: list[dict], shard_id: str) -> list[dict]:
    """The open shards a closed shard's hash range now lives in (children, grandchildren ...)."""
    found: dict[str, dict] = {}
    seen: set[str] = set()
    pending = [shard_id]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for child in children_of(shards, current):
            if is_open(child):
                found[child["ShardId"]] = child
            else:
                pending.append(child["ShardId"])
    return list(found.values())


def stream_arn(kinesis: Any, stream_name: str) -> str:
    return kinesis.describe_stream_summary(StreamName=stream_name)["StreamDescriptionSummary"][
        "StreamARN"
    ]


def arrival_seconds(record: dict) -> float:
    value = record.get("ApproximateArrivalTimestamp")
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value or 0.0)


# --------------------------------------------------------------------------- reading


@dataclass
class ScanResult:
    """What a read of one shard from a position to its end (or to a call budget) saw."""

    count: int = 0
    first: dict | None = None
    last: dict | None = None
    complete: bool = True  # False: the call budget ran out before the end of the shard

    @property
    def newest_arrival(self) -> float | None:
        return arrival_seconds(self.last) if self.last else None

    def summary(self) -> dict:
        return {
            "records": self.count,
            "complete": self.complete,
            "first_sequence_number": self.first["SequenceNumber"] if self.first else None,
            "last_sequence_number": self.last["SequenceNumber"] if self.last else None,
        }


@dataclass
class ShardReader:
    """Paced GetShardIterator/GetRecords over one Kinesis client."""

    kinesis: Any
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    reads_per_second: float = 2.0
    _last_call: dict[tuple[str, str, str], float] = field(default_factory=dict)
    calls: int = 0

    def _pace(self, kind: str, stream: str, shard: str) -> None:
        key = (kind, stream, shard)
        interval = 1.0 / self.reads_per_second
        last = self._last_call.get(key)
        if last is not None:
            wait = last + interval - self.clock()
            if wait > 0:
                self.sleep(wait)
        self._last_call[key] = self.clock()
        self.calls += 1

    def iterator(
        self,
        stream: str,
        shard: str,
        iterator_type: str,
        sequence_number: str | None = None,
        timestamp: float | None = None,
    ) -> str:
        arguments: dict[str, Any] = {
            "StreamName": stream,
            "ShardId": shard,
            "ShardIteratorType": iterator_type,
        }
        if sequence_number is not None:
            arguments["StartingSequenceNumber"] = sequence_number
        if timestamp is not None:
            arguments["Timestamp"] = timestamp
        self._pace("iterator", stream, shard)
        return self.kinesis.get_shard_iterator(**arguments)["ShardIterator"]

    def get_records(self, stream: str, shard: str, iterator: str, limit: int | None = None) -> dict:
        self._pace("records", stream, shard)
        arguments: dict[str, Any] = {"ShardIterator": iterator}
        if limit is not None:
            arguments["Limit"] = limit
        return self.kinesis.get_records(**arguments)

    def start_iterator(self, stream: str, shard: str, after: str | None) -> str:
        """TRIM_HORIZON when `after` is None, else AFTER_SEQUENCE_NUMBER `after`."""
        if after is None:
            return self.iterator(stream, shard, "TRIM_HORIZON")
        return self.iterator(stream, shard, "AFTER_SEQUENCE_NUMBER", sequence_number=after)

    def scan(
        self,
        stream: str,
        shard: str,
        after: str | None = None,
        *,
        max_calls: int = 20,
        stop_at_first: bool = False,
    ) -> ScanResult:
        """Read a shard after `after` (None: from TRIM_HORIZON) to its end.

        The end is reached when the shard is closed and read through (no NextShardIterator) or
        when GetRecords returns nothing and MillisBehindLatest is 0. (AWS may return an empty
        page while records remain further on, with MillisBehindLatest > 0: keep reading.)
        """
        result = ScanResult()
        iterator: str | None = self.start_iterator(stream, shard, after)
        for _ in range(max_calls):
            if iterator is None:
                return result
            page = self.get_records(stream, shard, iterator, limit=1 if stop_at_first else None)
            records = page.get("Records", [])
            if records:
                result.count += len(records)
                result.first = result.first or records[0]
                result.last = records[-1]
                if stop_at_first:
                    return result
            iterator = page.get("NextShardIterator")
            if not records and page.get("MillisBehindLatest", 0) == 0:
                return result
        result.complete = iterator is None
        return result

    def first_record_after(self, stream: str, shard: str, after: str | None) -> dict | None:
        """The first record after `after` (None: the shard's first record), or None."""
        return self.scan(stream, shard, after, stop_at_first=True).first


# --------------------------------------------------------------------------- event source mappings


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
    """Make one mapping Enabled/Disabled and wait until its State settles there.

    Never deletes or recreates the mapping: disabling keeps its position. AWS changes the state
    asynchronously (Enabling, Disabling, Updating); an update refused because the mapping is busy
    (ResourceInUseException) is tried again. Returns {uuid, before, after, changed, waited}.
    Raises TimeoutError (message ready for the operator) when it does not settle in time.
    """
    wanted = "Enabled" if enabled else "Disabled"
    started = clock()
    before = lambda_client.get_event_source_mapping(UUID=uuid)["State"]
    state = before
    changed = False
    while True:
        if state == wanted:
            return {
                "uuid": uuid,
                "before": before,
                "after": state,
                "changed": changed,
                "waited_seconds": round(clock() - started, 1),
            }
        if state not in TRANSITIONAL_STATES:
            try:
                state = lambda_client.update_event_source_mapping(UUID=uuid, Enabled=enabled)[
                    "State"
                ]
                changed = True
                continue
            except ClientError as problem:
                if error_code(problem) != "ResourceInUseException":
                    raise
        elapsed = clock() - started
        if elapsed >= timeout_seconds:
            raise TimeoutError(
                f"event source mapping {uuid} is still {state} after {elapsed:.0f} s "
                f"(wanted {wanted} within {timeout_seconds:.0f} s)"
            )
        if progress:
            progress(
                f"waiting for mapping {uuid} to become {wanted}: {state}, "
                f"{elapsed:.0f} s of {timeout_seconds:.0f} s"
            )
        sleep(min(poll_seconds, max(0.0, timeout_seconds - elapsed)))
        state = lambda_client.get_event_source_mapping(UUID=uuid)["State"]


# --------------------------------------------------------------------------- the consumers of an environment


def consumer_stream_arns(context: Any, environment: str, consumer: Any) -> dict[str, str]:
    """Logical stream -> ARN of that stream in `environment`, for each stream the consumer reads."""
    kinesis = context.client(environment, "kinesis")
    streams = {stream.name: stream for stream in context.spec.streams}
    return {
        logical: stream_arn(kinesis, streams[logical].name_in(environment))
        for logical in consumer.streams
    }


def lambda_consumer_mappings(context: Any, environment: str, consumer: Any) -> list[dict]:
    """The mappings of a Lambda consumer's function that read one of its streams there."""
    arns = consumer_stream_arns(context, environment, consumer)
    return mappings_reading(
        context.client(environment, "lambda"), consumer.function_name, arns.values()
    )


def consumer_mapping_states(context: Any, environment: str, wanted: str) -> dict:
    """Each consumer's mapping states against `wanted` ("Enabled"/"Disabled"); `wrong` lists
    the mappings (and Lambda consumers without one) that differ. KCL/custom: "unverified"."""
    consumers = []
    wrong = []
    for consumer in getattr(context.spec.consumers, environment):
        if consumer.kind != "lambda":
            label = consumer.application if consumer.kind == "kcl" else consumer.name
            consumers.append({"consumer": f"{consumer.kind}:{label}", "state": "unverified"})
            continue
        label = f"lambda:{consumer.function_name}"
        mappings = lambda_consumer_mappings(context, environment, consumer)
        states = [
            {
                "uuid": mapping["UUID"],
                "source": mapping.get("EventSourceArn", "").split("/", 1)[-1],
                "state": mapping["State"],
            }
            for mapping in mappings
        ]
        consumers.append({"consumer": label, "mappings": states})
        if not mappings:
            wrong.append(f"{label} has no mapping on {', '.join(consumer.streams)}")
        wrong.extend(
            f"{label} mapping {entry['uuid']} on {entry['source']} is {entry['state']}"
            for entry in states
            if entry["state"] != wanted
        )
    return {"environment": environment, "wanted": wanted, "consumers": consumers, "wrong": wrong}


def _run_command(command: str, cwd: Any, timeout_seconds: float) -> dict:
    import subprocess

    try:
        completed = subprocess.run(
            command,
            shell=True,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"command": command, "exit_code": None, "timed_out": True}
    return {
        "command": command,
        "exit_code": completed.returncode,
        "stdout_tail": completed.stdout[-2000:],
        "stderr_tail": completed.stderr[-2000:],
    }


def control_consumers(
    context: Any,
    environment: str,
    action: str,
    *,
    settle_timeout_seconds: float,
    command_timeout_seconds: float,
    poll_seconds: float = 2.0,
) -> dict:
    """Pause (`action="pause"`) or resume every consumer of `environment` declared in the spec.

    Lambda: every mapping of the function that reads one of the consumer's streams is disabled
    (enabled) in place and waited for until its State settles; disabling keeps the position.
    KCL: the consumer's pause_command / resume_command runs in a shell, bounded in time.
    Custom: the user's hook file (hooks/<hook>) runs with its args plus `action`.
    Every consumer is attempted; failures are raised together at the end (HookFailed).
    """
    from pathlib import Path

    from turnout.hooks import HookError, HookFailed, load_hook_class

    enable = action == "resume"
    results: list[dict] = []
    failures: list[str] = []
    for consumer in getattr(context.spec.consumers, environment):
        if consumer.kind == "lambda":
            label = f"lambda:{consumer.function_name}"
            mappings = lambda_consumer_mappings(context, environment, consumer)
            entry: dict[str, Any] = {"consumer": label, "kind": "lambda", "mappings": []}
            if not mappings:
                failures.append(
                    f"{label} has no event source mapping on {', '.join(consumer.streams)} in "
                    f"{environment} (the spec says it reads them)"
                )
            for mapping in mappings:
                uuid = mapping["UUID"]
                source = mapping.get("EventSourceArn", "").split("/", 1)[-1]
                if context.dry_run:
                    entry["mappings"].append(
                        {
                            "uuid": uuid,
                            "source": source,
                            "state": mapping["State"],
                            "would_change": mapping["State"]
                            != ("Enabled" if enable else "Disabled"),
                        }
                    )
                    continue
                try:
                    outcome = settle_mapping(
                        context.client(environment, "lambda"),
                        uuid,
                        enable,
                        timeout_seconds=settle_timeout_seconds,
                        clock=context.clock,
                        sleep=context.sleep,
                        progress=context.progress,
                        poll_seconds=poll_seconds,
                    )
                except TimeoutError as problem:
                    failures.append(f"{label}: {problem}")
                    entry["mappings"].append(
                        {"uuid": uuid, "source": source, "error": str(problem)}
                    )
                    continue
                entry["mappings"].append({**outcome, "source": source})
            results.append(entry)
        elif consumer.kind == "kcl":
            label = f"kcl:{consumer.application}"
            command = consumer.resume_command if enable else consumer.pause_command
            entry = {"consumer": label, "kind": "kcl", "command": command}
            if not command:
                failures.append(
                    f"{label} declares no {action}_command, so turnout cannot {action} it (add "
                    f"{action}_command to the consumer in the spec)"
                )
            elif context.dry_run:
                entry["would_run"] = True
            else:
                outcome = _run_command(command, context.project_root, command_timeout_seconds)
                entry.update(outcome)
                if outcome.get("timed_out"):
                    failures.append(
                        f"{label}: `{command}` did not finish within {command_timeout_seconds:.0f} s"
                    )
                elif outcome["exit_code"] != 0:
                    stderr = outcome["stderr_tail"].strip().splitlines()
                    failures.append(
                        f"{label}: `{command}` exited with {outcome['exit_code']}"
                        + (f" ({stderr[-1]})" if stderr else "")
                    )
            results.append(entry)
        else:
            label = f"custom:{consumer.name}"
            entry = {"consumer": label, "kind": "custom", "hook": consumer.hook}
            hooks_dir = (Path(context.project_root) / "hooks").resolve()
            path = (hooks_dir / consumer.hook).resolve()
            try:
                if hooks_dir not in path.parents:
                    raise HookError(f"{consumer.hook} is outside the project's hooks/ folder")
                hook = load_hook_class(path)({**consumer.args, "action": action})
                entry["result"] = hook.run(context)
            except (HookError, HookFailed) as problem:
                failures.append(f"{label}: {problem}")
                entry["error"] = str(problem)
            results.append(entry)
    data = {
        "environment": environment,
        "action": action,
        "dry_run": context.dry_run,
        "consumers": results,
    }
    if failures:
        error = HookFailed(
            f"could not {action} every consumer of the {environment} environment: "
            + "; ".join(failures)
            + ". The others were handled (see the hook's data); running the hook again is safe."
        )
        error.data = data  # type: ignore[attr-defined]
        raise error
    return data


class ConsumerControlArgs(HookArgs):
    environment: Literal["old", "new"]
    settle_timeout_seconds: float = Field(default=300, gt=0)
    command_timeout_seconds: float = Field(default=300, gt=0)
    poll_seconds: float = Field(default=2.0, gt=0)


class ConsumerControlHook(Hook):
    """Base of pause_consumers and resume_consumers: one `action` over every consumer."""

    action: ClassVar[str] = ""
    Args = ConsumerControlArgs

    def run(self, context: HookContext) -> dict:
        return control_consumers(
            context,
            self.args.environment,
            self.action,
            settle_timeout_seconds=self.args.settle_timeout_seconds,
            command_timeout_seconds=self.args.command_timeout_seconds,
            poll_seconds=self.args.poll_seconds,
        )
