"""What a drain predicate may use (`DrainScope`), and the per-shard work they share: reading
many shards side by side, a shard that could not be read, and time limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from turnout.aws.access import service_clock
from turnout.aws.kinesis import ShardReader, list_shards
from turnout.drain.reads import ShardPositions

DEFAULT_WORKERS = 32
PROGRESS_EVERY_SECONDS = 5.0

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class DrainScope:
    """What a predicate may use: the spec, one environment's clients, a paced reader, time."""

    spec: Any
    environment: str
    client: Callable[[str], Any]  # service -> boto3 client of this environment
    reader: ShardReader
    clock: Callable[[], float]
    dry_run: bool = False
    # Now on the clock record arrivals are stamped with (AwsAccess.clock); `clock` times waits.
    service_clock: Callable[[], float] = time.time
    workers: int = DEFAULT_WORKERS  # per-shard reads side by side (1: one after another)
    progress: Callable[[str], None] | None = None  # "checked 300/1000 shards of ..." on long checks
    # Where the last read of each shard stopped: a later check there skips GetShardIterator.
    positions: ShardPositions = field(default_factory=ShardPositions)

    def stream(self, logical: str) -> Any:
        return next(stream for stream in self.spec.streams if stream.name == logical)

    def physical(self, logical: str) -> str:
        return self.stream(logical).name_in(self.environment)

    @property
    def prefix(self) -> str:
        return getattr(self.spec.environments, self.environment).name_prefix


def per_shard(
    scope: DrainScope, items: Sequence[Item], work: Callable[[Item], Result], what: str
) -> list[Result]:
    """`work(item)` for every item, on at most `scope.workers` threads, results in item order.
    Reports progress every few seconds when a progress callback is set and the work is long."""
    if not items:
        return []
    done = 0
    lock = threading.Lock()
    started = last_report = time.monotonic()

    def tracked(item: Item) -> Result:
        nonlocal done, last_report
        result = work(item)
        with lock:
            done += 1
            now = time.monotonic()
            if scope.progress and now - last_report >= PROGRESS_EVERY_SECONDS:
                last_report = now
                scope.progress(f"{what}: checked {done}/{len(items)} shards, {now - started:.0f} s")
        return result

    return side_by_side(scope.workers, items, tracked)


def side_by_side(
    workers: int, items: Sequence[Item], work: Callable[[Item], Result]
) -> list[Result]:
    """`work(item)` for every item on at most `workers` threads (one after another for 1),
    results in item order; the first exception, in item order, is raised."""
    workers = max(1, min(workers, len(items)))
    if workers == 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drain") as pool:
        return list(pool.map(work, items))


def stream_shards(scope: DrainScope, logicals: list[str]) -> dict[str, list[dict]]:
    """Logical stream -> every shard still in retention (open and closed) in this environment.
    The streams are listed side by side (ListShards' rate limit is per stream)."""
    kinesis = scope.client("kinesis")
    listed = side_by_side(
        scope.workers, logicals, lambda logical: list_shards(kinesis, scope.physical(logical))
    )
    return dict(zip(logicals, listed, strict=True))


# --------------------------------------------------------------------------- building scopes


def scope_from_context(
    context: Any,
    environment: str,
    *,
    reads_per_second: float = 2.0,
    workers: int = DEFAULT_WORKERS,
    progress: Callable[[str], None] | None = None,
    client: Callable[[str], Any] | None = None,
    scope_type: type[DrainScope] = DrainScope,
) -> DrainScope:
    """A DrainScope over a HookContext's AWS access, clock and sleep (any object with `spec`,
    `aws`, `client(environment, service)`, `clock`, `sleep`, `dry_run` will do). `client`
    (service -> client) replaces the environment's pooled clients; `scope_type` is the scope
    class made."""
    client = client or pooled_clients(context, environment, workers)
    reader = ShardReader(
        client("kinesis"),
        clock=context.clock,
        sleep=context.sleep,
        reads_per_second=reads_per_second,
    )
    return scope_type(
        spec=context.spec,
        environment=environment,
        client=client,
        reader=reader,
        clock=context.clock,
        service_clock=service_clock(getattr(context, "aws", None)),
        dry_run=context.dry_run,
        workers=workers,
        progress=progress,
    )


def pooled_clients(context: Any, environment: str, workers: int) -> Callable[[str], Any]:
    """service -> client whose HTTP connection pool fits `workers` threads. Falls back to the
    context's own clients when its AWS access cannot make sessions (unit-test fakes)."""
    aws = getattr(context, "aws", None)
    if workers <= 10 or aws is None or not hasattr(aws, "pooled_client_factory"):
        return lambda service: context.client(environment, service)
    return aws.pooled_client_factory(environment, workers + 4)


def bounded_timeout(context: Any, timeout_seconds: float) -> float:
    """The hook's own timeout, shortened to the engine's deadline when that comes first."""
    remaining = context.remaining() if hasattr(context, "remaining") else None
    return timeout_seconds if remaining is None else max(0.0, min(timeout_seconds, remaining))
