"""Write to the streams the turnout route names: the helper for your producers.

    import boto3
    from turnout.producer import RouteCache, RoutedWriter, table_route

    session = boto3.Session()  # the producer's own identity (declared in the spec's producers)
    route = RouteCache(
        table_route(
            session.client("dynamodb", region_name="eu-west-1"),
            "arn:aws:dynamodb:eu-west-1:111111111111:table/legacy-turnout-route",
            "clickstream",
        ),
        max_age=5.0,
    )
    writer = RoutedWriter(route, lambda account, region: session.client("kinesis", region_name=region))
    writer.put_records("clicks", [{"Data": b'{"user": 1}', "PartitionKey": "user-1"}])

**The route** is the JSON turnout writes for the migration's phase (docs/producers.md):
``{"environment", "account_id", "region", "streams": {logical name: stream ARN}}``. It is read from
the route table's item (any account the table's policy admits; ``table_route``) or from an SSM
parameter in the producer's own account (``parameter_route``).

**Bounded staleness.** A route read is used for at most ``max_age`` seconds: the first write after
that reads it again. So once the route changed, a producer that can read it writes to the new
target at the latest ``max_age`` seconds (plus one read and one PutRecords call) later; the
spec's ``route.cache_seconds`` is that promise, and ``cutover.quiet_seconds`` must exceed it. When a
read fails, the last good route is kept (the producer goes on writing where it wrote, which the
cutover's unrouted-producer check sees) and the read is tried again every second at most; before
any route was read, writing raises ``RouteUnavailable``.

**Delivery.** ``put_records`` sends every record and returns where each one landed. PutRecords
keeps no order across the entries of one call, so by default a call carries at most ONE record
per partition key: a failed entry stays the head of its key and is sent again, before any later
record of that key, to wherever the route points at that moment (a record never accepted may go
to the new target). Failed entries and failed calls are retried with full-jitter backoff (50 ms
doubling to 2 s) until accepted; nothing is ever dropped. With ``timeout`` the call gives up
after that many seconds and raises ``UndeliveredRecords`` carrying the records no stream
accepted (and where the others went): the caller still holds them.

This module imports nothing of turnout (boto3/botocore only), so it can be vendored as one file.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

MAX_RECORDS_PER_CALL = 500  # PutRecords limits (Kinesis API reference, PutRecords)
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
ROUTE_KEY_ATTRIBUTE = "route_id"
ROUTE_VALUE_ATTRIBUTE = "value"
FAILED_READ_RETRY_SECONDS = 1.0


class RouteError(Exception):
    """The route could not be read or is not a turnout route."""


class RouteUnavailable(RouteError):
    """No route was ever read: there is nowhere to write yet."""


class UndeliveredRecords(Exception):
    """``put_records`` ran out of time; ``records`` were accepted by no stream (the caller keeps
    them), ``delivered`` says where the others landed (None for the undelivered ones)."""

    def __init__(self, message: str, records: list[dict], delivered: list[Delivered | None]):
        super().__init__(message)
        self.records = records
        self.delivered = delivered


@dataclass(frozen=True)
class Route:
    environment: str
    account_id: str
    region: str
    streams: Mapping[str, str]  # logical name -> stream ARN

    @classmethod
    def parse(cls, value: str | Mapping) -> Route:
        try:
            document = json.loads(value) if isinstance(value, str) else dict(value)
            streams = document["streams"]
            route = cls(
                environment=str(document["environment"]),
                account_id=str(document["account_id"]),
                region=str(document["region"]),
                streams={str(name): str(arn) for name, arn in streams.items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as problem:
            raise RouteError(
                f"not a turnout route value ({problem!r}): {str(value)[:200]}"
            ) from None
        for name, arn in route.streams.items():
            if arn.split(":")[2:3] != ["kinesis"] or ":stream/" not in arn:
                raise RouteError(f"the route's stream {name} is not a Kinesis stream ARN: {arn}")
        return route

    def stream_arn(self, logical: str) -> str:
        if logical not in self.streams:
            raise RouteError(
                f"the route names no stream {logical!r}; it names {', '.join(sorted(self.streams))}"
            )
        return self.streams[logical]


def table_route(dynamodb: Any, table_arn: str, key: str) -> Callable[[], str]:
    """Read the route from the route table's item (a strongly consistent GetItem; the table's ARN,
    so that a producer in another account reaches it through the table's resource policy)."""

    def read() -> str:
        item = dynamodb.get_item(
            TableName=table_arn,
            Key={ROUTE_KEY_ATTRIBUTE: {"S": key}},
            ConsistentRead=True,
        ).get("Item")
        if not item or ROUTE_VALUE_ATTRIBUTE not in item:
            raise RouteError(f"{table_arn} has no route item {key!r}")
        return item[ROUTE_VALUE_ATTRIBUTE]["S"]

    return read


def parameter_route(ssm: Any, name: str) -> Callable[[], str]:
    """Read the route from an SSM parameter of the producer's own account."""

    def read() -> str:
        return ssm.get_parameter(Name=name)["Parameter"]["Value"]

    return read


@dataclass
class RouteCache:
    """The route, re-read when it is older than ``max_age`` seconds (see the module's doc)."""

    read: Callable[[], str | Mapping]
    max_age: float = 5.0
    clock: Callable[[], float] = time.monotonic
    reads: int = 0
    errors: int = 0
    last_error: str | None = None
    changes: list[tuple[str | None, str]] = field(default_factory=list)
    _route: Route | None = None
    _read_at: float = float("-inf")
    _retry_at: float = float("-inf")

    def current(self, now: float | None = None) -> Route:
        now = self.clock() if now is None else now
        if now - self._read_at >= self.max_age and now >= self._retry_at:
            self.refresh(now)
        if self._route is None:
            raise RouteUnavailable(f"no route could be read yet: {self.last_error}")
        return self._route

    def refresh(self, now: float | None = None) -> Route | None:
        """Read now; on failure keep the last good route and return None."""
        now = self.clock() if now is None else now
        self.reads += 1
        try:
            route = Route.parse(self.read())
        except Exception as problem:  # a route source may fail in any way: keep the last good one
            self.errors += 1
            self.last_error = f"{type(problem).__name__}: {problem}"[:500]
            self._retry_at = now + min(self.max_age, FAILED_READ_RETRY_SECONDS)
            return None
        previous = self._route.environment if self._route else None
        if previous != route.environment:
            self.changes.append((previous, route.environment))
        self._route, self._read_at = route, now
        return route

    @property
    def age(self) -> float:
        return self.clock() - self._read_at


@dataclass(frozen=True)
class Delivered:
    environment: str
    stream_arn: str
    shard_id: str
    sequence_number: str


@dataclass(frozen=True)
class Attempt:
    """One PutRecords call: where it went and the per-entry results, aligned with the records."""

    environment: str
    stream_arn: str
    entries: list[dict]

    def accepted(self, index: int) -> bool:
        entry = self.entries[index]
        return not entry.get("ErrorCode") and bool(entry.get("SequenceNumber"))


def key_heads(
    items: Sequence[Any],
    key: Callable[[Any], str],
    size: Callable[[Any], int],
    max_count: int = MAX_RECORDS_PER_CALL,
    max_bytes: int = MAX_BYTES_PER_CALL,
) -> list[Any]:
    """The first item of each key, in order, within one call's limits: at most one
    not-yet-acknowledged record per partition key in a call keeps every key in order."""
    heads: list[Any] = []
    keys: set[str] = set()
    total = 0
    for item in items:
        if key(item) in keys:
            continue
        if len(heads) >= max_count or total + size(item) > max_bytes:
            break
        heads.append(item)
        keys.add(key(item))
        total += size(item)
    return heads


def record_size(record: Mapping) -> int:
    """What counts against a call's 5 MiB: the data and the partition key."""
    return len(record["Data"]) + len(record["PartitionKey"].encode())


@dataclass
class RoutedWriter:
    """PutRecords to the stream the route names for a logical stream, retrying until accepted."""

    route: RouteCache
    kinesis_for: Callable[[str, str], Any]  # (account id, region) -> a boto3 Kinesis client
    keep_key_order: bool = True
    backoff_base: float = 0.05
    backoff_cap: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)

    def attempt(
        self, logical: str, records: Sequence[Mapping], route: Route | None = None
    ) -> Attempt:
        """One PutRecords call (by stream ARN: required across accounts) to where ``route``
        (default: the current route) sends ``logical``. Raises botocore's errors as they come."""
        route = route or self.route.current()
        arn = route.stream_arn(logical)
        region, account = arn.split(":")[3], arn.split(":")[4]
        response = self.kinesis_for(account, region).put_records(
            StreamARN=arn, Records=[dict(record) for record in records]
        )
        return Attempt(route.environment, arn, list(response["Records"]))

    def put_records(
        self, logical: str, records: Sequence[Mapping], timeout: float | None = None
    ) -> list[Delivered]:
        """Every record, accepted by a stream, or ``UndeliveredRecords`` after ``timeout``."""
        delivered: list[Delivered | None] = [None] * len(records)
        pending = list(range(len(records)))
        deadline = None if timeout is None else self.clock() + timeout
        failures = 0
        while pending:
            call = self._next_call(records, pending)
            try:
                attempt = self.attempt(logical, [records[index] for index in call])
            except (ClientError, BotoCoreError, OSError, RouteError):
                attempt = None
            if attempt is not None:
                for position, index in enumerate(call):
                    if attempt.accepted(position):
                        entry = attempt.entries[position]
                        delivered[index] = Delivered(
                            attempt.environment,
                            attempt.stream_arn,
                            entry.get("ShardId", ""),
                            entry["SequenceNumber"],
                        )
                pending = [index for index in pending if delivered[index] is None]
            if attempt is not None and all(delivered[index] for index in call):
                failures = 0
                continue
            if deadline is not None and self.clock() >= deadline:
                raise UndeliveredRecords(
                    f"{len(pending)} of {len(records)} records for {logical} were accepted by no "
                    f"stream within {timeout:g} s; they are returned, not dropped",
                    [dict(records[index]) for index in pending],
                    delivered,
                )
            self.sleep(self.rng.uniform(0, min(self.backoff_cap, self.backoff_base * 2**failures)))
            failures += 1
        return [entry for entry in delivered if entry is not None]

    def _next_call(self, records: Sequence[Mapping], pending: list[int]) -> list[int]:
        if not self.keep_key_order:
            return key_heads(pending, key=str, size=lambda index: record_size(records[index]))
        return key_heads(
            pending,
            key=lambda index: records[index]["PartitionKey"],
            size=lambda index: record_size(records[index]),
        )


__all__ = [
    "Attempt",
    "Delivered",
    "Route",
    "RouteCache",
    "RouteError",
    "RouteUnavailable",
    "RoutedWriter",
    "UndeliveredRecords",
    "key_heads",
    "parameter_route",
    "record_size",
    "table_route",
]
