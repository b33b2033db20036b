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
from turnout.spec.names import names


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
    found = []
    for consumer in getattr(spec.consumers, environment):
        if consumer.kind != "lambda":
            continue
        streams = tuple(consumer.streams)
        try:
            lam = aws.client(environment, "lambda")
            mappings = mappings_reading(
                lam, consumer.function_name, [place.stream_arn(name) for name in streams]
            )
        except (TurnoutError, *READ_ERRORS) as problem:
            reason = _unreadable(environment, consumer.function_name, problem)
            found.append(ConsumerMappings(environment, consumer.function_name, streams, [], reason))
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


def _unreadable(environment: str, function_name: str, problem: Exception) -> str:
    detail = " ".join(str(problem).split())
    return (
        f"could not read the event source mappings of {function_name} in the {environment} "
        f"environment (lambda:ListEventSourceMappings): {type(problem).__name__}: {detail}"
    )
