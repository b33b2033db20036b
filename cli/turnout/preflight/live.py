"""What the preflight reads from an environment: its Lambda consumers' event source mappings.

Reads go through `AwsAccess` (the environment's credentials, checked with GetCallerIdentity).
A read that fails for any reason (credentials, access denied, throttling, no network) is
recorded as the `problem` of that consumer: the checks turn it into `unknown`, never a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from turnout.aws.errors import READ_ERRORS
from turnout.aws.mappings import arn_reads_stream, mappings_reading
from turnout.errors import TurnoutError
from turnout.preflight.result import Finding, Verdict
from turnout.spec.names import names

READABLE = (
    "give the preflight credentials that can call lambda:ListEventSourceMappings in that "
    "environment (the spec's profile or deploy role), then run it again"
)


@dataclass(frozen=True)
class ConsumerMappings:
    """One Lambda consumer's mappings that read its spec streams in one environment."""

    environment: str
    function_name: str
    streams: tuple[str, ...]  # logical names
    mappings: list[dict] = field(default_factory=list)
    problem: str = ""  # what could not be read, when the read failed

    @property
    def label(self) -> str:
        return f"lambda:{self.function_name} ({self.environment})"


def read_consumer_mappings(spec: Any, aws: Any, environment: str) -> list[ConsumerMappings]:
    """ListEventSourceMappings of every `kind: lambda` consumer of `consumers.<environment>`,
    kept to the mappings whose source is one of its streams (or their fan-out consumers)."""
    place = names(spec, environment)
    consumers = [c for c in getattr(spec.consumers, environment) if c.kind == "lambda"]
    try:
        lam = aws.client(environment, "lambda") if consumers else None
    except (TurnoutError, *READ_ERRORS) as problem:  # the environment's session itself
        reason = _unreadable(f"the {environment} environment", problem)
        return [
            ConsumerMappings(environment, c.function_name, tuple(c.streams), [], reason)
            for c in consumers
        ]
    found = []
    for consumer in consumers:
        streams = tuple(consumer.streams)
        try:
            mappings = mappings_reading(
                lam, consumer.function_name, [place.stream_arn(name) for name in streams]
            )
        except READ_ERRORS as problem:
            where = f"the event source mappings of {consumer.function_name} ({environment})"
            found.append(
                ConsumerMappings(
                    environment, consumer.function_name, streams, [], _unreadable(where, problem)
                )
            )
            continue
        found.append(ConsumerMappings(environment, consumer.function_name, streams, mappings))
    return found


def stream_of(mapping: dict, spec: Any, environment: str) -> str:
    """The logical stream a mapping reads (its source ARN when it is none of the spec's)."""
    source = mapping.get("EventSourceArn", "")
    place = names(spec, environment)
    for stream in spec.streams:
        if arn_reads_stream(source, place.stream_arn(stream.name)):
            return stream.name
    return source


def _unreadable(what: str, problem: Exception) -> str:
    detail = " ".join(str(problem).split()).rstrip(".")
    return (
        f"could not read {what} (lambda:ListEventSourceMappings): "
        f"{type(problem).__name__}: {detail}"
    )


def unjudged(consumer: ConsumerMappings, missing: str, create: str) -> list[Finding] | None:
    """The finding of a consumer whose mappings could not be read, or that has none (`missing`:
    what that leaves unknown; `create`: what to do); None when its mappings can be judged."""
    if consumer.problem:
        return [Finding(Verdict.UNKNOWN, consumer.problem, READABLE, unread=True)]
    if consumer.mappings:
        return None
    streams = ", ".join(consumer.streams)
    fact = f"{consumer.label} has no event source mapping reading {streams}: {missing}"
    return [Finding(Verdict.UNKNOWN, fact, create)]


def mapping_place(spec: Any, consumer: ConsumerMappings, mapping: dict) -> str:
    """`lambda:<function> (<environment>) mapping <uuid> on <stream>`, for a finding's fact."""
    stream = stream_of(mapping, spec, consumer.environment)
    return f"{consumer.label} mapping {mapping.get('UUID')} on {stream}"
