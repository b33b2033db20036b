"""The drain of the old consumers' read-across mappings (replication mode read-across,
docs/read-across.md): have the old Lambda consumers processed everything in the NEW streams?

The evidence is the markers predicate's (`LambdaMarkers`), over a scope that puts the markers
into the new streams (the new environment's Kinesis) and reads the acknowledgements from the
old environment's markers table and the consumers' mappings from the old environment's Lambda:
the old consumer acknowledges a marker once it has processed every record before it in that
shard of the new stream, which is what "drained" means here. A KCL application's evidence is
the lease table of its read-across instance (old account) against the new streams' shards
(`KclLeases` over the same scope).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from turnout.drain.kcl import KclLeases
from turnout.drain.lambda_consumers import LambdaMarkers
from turnout.drain.scope import DrainScope, pooled_clients, scope_from_context


@dataclass
class ReadAcrossScope(DrainScope):
    """The old environment's scope (markers table, Lambda), reading the new environment's
    streams."""

    streams_environment: str = "new"

    def physical(self, logical: str) -> str:
        return self.stream(logical).name_in(self.streams_environment)


def read_across_scope(
    context: Any, *, reads_per_second: float = 2.0, workers: int = 8, progress: Any = None
) -> ReadAcrossScope:
    old = pooled_clients(context, "old", workers)
    new = pooled_clients(context, "new", workers)

    def client(service: str) -> Any:
        return new(service) if service == "kinesis" else old(service)

    scope = scope_from_context(  # a ReadAcrossScope: scope_type
        context,
        "old",
        reads_per_second=reads_per_second,
        workers=workers,
        progress=progress,
        client=client,
        scope_type=ReadAcrossScope,
    )
    return cast(ReadAcrossScope, scope)


def read_across_predicates(scope: ReadAcrossScope) -> list[LambdaMarkers | KclLeases]:
    """One predicate per old consumer: the markers predicate for a Lambda consumer (the spec
    requires marker evidence for them in read-across mode), the lease predicate over the lease
    table of a KCL application's read-across instance (its checkpoints in the new streams)."""
    predicates: list[LambdaMarkers | KclLeases] = []
    for consumer in scope.spec.consumers.old:
        if consumer.kind == "lambda":
            predicates.append(LambdaMarkers(consumer, scope))
        elif consumer.kind == "kcl" and consumer.read_across is not None:
            instance = consumer.model_copy(update={"lease_table": consumer.read_across.lease_table})
            predicates.append(KclLeases(instance, scope))
    return predicates


__all__ = ["ReadAcrossScope", "read_across_predicates", "read_across_scope"]
