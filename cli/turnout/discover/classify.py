"""`turnout discover`: read an account built by hand and describe its Kinesis pipeline.

Streams (shards, mode, retention, encryption, tags, shard-level metrics), the event source
mappings reading them, KCL lease tables whose leases are the streams' shards, and enhanced
fan-out consumers. What reads a stream but cannot be tied to one is listed as unclassified.
Writing the results (spec skeleton, adoption file) is `discover_output`'s job.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from botocore.exceptions import BotoCoreError, ClientError

from turnout.discover.reader import AccountReader, DiscoveryError, credentials_error, pages

LEASE_SAMPLE = 1000
AWS_MANAGED_KINESIS_KEY = "alias/aws/kinesis"


@dataclass
class StreamFacts:
    name: str
    arn: str
    status: str
    mode: str
    open_shards: int
    shard_ids: list[str]
    open_shard_ids: list[str]
    retention_hours: int
    encryption: str
    key_id: str | None
    tags: dict[str, str]
    shard_level_metrics: list[str]
    consumers: list[dict] = field(default_factory=list)


@dataclass
class MappingFacts:
    uuid: str
    function_name: str
    stream: str
    state: str
    batch_size: int | None
    batching_window_seconds: int | None
    parallelization_factor: int | None
    starting_position: str | None
    consumer: str | None = None


@dataclass
class LeaseTableFacts:
    table: str
    stream: str
    leases: int
    layout: str  # "single-stream" (leaseKey = shard id) or "multi-stream" (...:stream:...:shard)


@dataclass
class Discovery:
    account_id: str
    region: str
    pattern: str
    streams: list[StreamFacts]
    mappings: list[MappingFacts]
    lease_tables: list[LeaseTableFacts]
    unclassified: list[dict]
    warnings: list[str]
    tables_examined: int = 0
    throttled_calls: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def discover(
    reader: AccountReader,
    pattern: str = "*",
    expected_account: str | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> Discovery:
    """Read the account; raise DiscoveryError (nothing found, credentials, access) otherwise."""
    account = reader.account_id(expected_account)
    progress(f"discovering Kinesis streams matching {pattern!r} in {account} / {reader.region}")
    try:
        return _discover(reader, account, pattern, progress)
    except ClientError as problem:
        raise credentials_error(problem) from None
    except BotoCoreError as problem:
        raise DiscoveryError(
            f"discovery lost its connection to AWS in {reader.region} ({problem}); run it "
            f"again. Nothing was written."
        ) from None


def _discover(
    reader: AccountReader, account: str, pattern: str, progress: Callable[[str], None]
) -> Discovery:
    all_names = list_stream_names(reader)
    names = sorted(name for name in all_names if fnmatch.fnmatchcase(name, pattern))
    if not names:
        found = f"{len(all_names)} stream(s), none matching" if all_names else "no streams at all"
        raise DiscoveryError(
            f"account {account} has {found} --streams {pattern!r} in region {reader.region}. "
            f"Check --region (streams are regional) and --streams (a shell-style pattern such "
            f"as 'clicks*'), and that these are the right credentials; nothing was written."
        )
    streams = []
    for index, name in enumerate(names, 1):
        progress(f"  stream {index}/{len(names)}: {name}")
        streams.append(describe_stream(reader, name))
    unclassified: list[dict] = []
    progress("reading event source mappings")
    mappings = classify_mappings(
        list_kinesis_mappings(reader), streams, set(all_names), unclassified
    )
    progress("looking for KCL lease tables")
    lease_tables, examined = find_lease_tables(reader, streams, unclassified)
    classify_consumers(streams, lease_tables, unclassified)
    return Discovery(
        account_id=account,
        region=reader.region,
        pattern=pattern,
        streams=streams,
        mappings=mappings,
        lease_tables=lease_tables,
        unclassified=unclassified,
        warnings=[warning for stream in streams for warning in drift_warnings(stream)],
        tables_examined=examined,
        throttled_calls=reader.backoff.throttled,
    )


def list_stream_names(reader: AccountReader) -> list[str]:
    kinesis = reader.client("kinesis")
    names: list[str] = []
    last: str | None = None
    while True:
        arguments = {"ExclusiveStartStreamName": last} if last else {}
        page = reader.backoff.call(kinesis.list_streams, **arguments)
        batch = page.get("StreamNames", [])
        names.extend(batch)
        if not page.get("HasMoreStreams") or not batch:
            return names
        last = batch[-1]


def describe_stream(reader: AccountReader, name: str) -> StreamFacts:
    kinesis = reader.client("kinesis")
    summary = reader.backoff.call(kinesis.describe_stream_summary, StreamName=name)[
        "StreamDescriptionSummary"
    ]
    shards = [
        shard
        for page in pages(
            reader.backoff, kinesis.list_shards, "NextToken", "NextToken", StreamName=name
        )
        for shard in page.get("Shards", [])
    ]
    open_ids = [
        shard["ShardId"]
        for shard in shards
        if "EndingSequenceNumber" not in shard.get("SequenceNumberRange", {})
    ]
    metrics = sorted(
        {
            metric
            for entry in summary.get("EnhancedMonitoring", [])
            for metric in entry.get("ShardLevelMetrics", [])
        }
    )
    consumers = [
        {
            "name": consumer["ConsumerName"],
            "arn": consumer["ConsumerARN"],
            "status": consumer.get("ConsumerStatus"),
            "used_by": None,
        }
        for page in pages(
            reader.backoff,
            kinesis.list_stream_consumers,
            "NextToken",
            "NextToken",
            StreamARN=summary["StreamARN"],
        )
        for consumer in page.get("Consumers", [])
    ]
    return StreamFacts(
        name=name,
        arn=summary["StreamARN"],
        status=summary["StreamStatus"],
        mode=summary.get("StreamModeDetails", {}).get("StreamMode", "PROVISIONED"),
        open_shards=summary.get("OpenShardCount", len(open_ids)),
        shard_ids=[shard["ShardId"] for shard in shards],
        open_shard_ids=open_ids,
        retention_hours=summary["RetentionPeriodHours"],
        encryption=summary.get("EncryptionType") or "NONE",
        key_id=summary.get("KeyId"),
        tags=stream_tags(reader, name),
        shard_level_metrics=metrics,
        consumers=consumers,
    )


def stream_tags(reader: AccountReader, name: str) -> dict[str, str]:
    kinesis = reader.client("kinesis")
    tags: dict[str, str] = {}
    last: str | None = None
    while True:
        arguments = {"ExclusiveStartTagKey": last} if last else {}
        page = reader.backoff.call(kinesis.list_tags_for_stream, StreamName=name, **arguments)
        batch = page.get("Tags", [])
        tags.update({tag["Key"]: tag.get("Value", "") for tag in batch})
        if not page.get("HasMoreTags") or not batch:
            return tags
        last = batch[-1]["Key"]


def drift_warnings(stream: StreamFacts) -> list[str]:
    """Settings of the stream the spec cannot express: adopting it would change them."""
    if stream.encryption != "KMS":
        return [
            f"stream {stream.name} is not encrypted; turnout encrypts every stream, so the first "
            f"apply will enable encryption with {AWS_MANAGED_KINESIS_KEY} (an in-place update: no "
            f"records are lost, but the plan is not imports only)."
        ]
    if stream.key_id != AWS_MANAGED_KINESIS_KEY and not (stream.key_id or "").startswith("arn:aws"):
        return [
            f"stream {stream.name} is encrypted with key {stream.key_id}, which is not a key ARN; "
            f"the skeleton says aws_managed: replace it with that key's ARN in the spec (the first "
            f"apply then rewrites the key id in place, same key)."
        ]
    return []


def list_kinesis_mappings(reader: AccountReader) -> list[dict]:
    """Every event source mapping of the account whose source is Kinesis (stream or consumer)."""
    lambda_client = reader.client("lambda")
    return [
        mapping
        for page in pages(
            reader.backoff, lambda_client.list_event_source_mappings, "Marker", "NextMarker"
        )
        for mapping in page.get("EventSourceMappings", [])
        if mapping.get("EventSourceArn", "").split(":")[2:3] == ["kinesis"]
    ]


def classify_mappings(
    mappings: list[dict],
    streams: list[StreamFacts],
    account_stream_names: set[str],
    unclassified: list[dict],
) -> list[MappingFacts]:
    by_arn = {stream.arn: stream for stream in streams}
    consumers = {
        consumer["arn"]: (stream, consumer) for stream in streams for consumer in stream.consumers
    }
    classified = []
    for mapping in mappings:
        source = mapping["EventSourceArn"]
        stream_arn, _, consumer_part = source.partition("/consumer/")
        stream = by_arn.get(stream_arn)
        consumer_name = None
        if consumer_part:
            stream, consumer = consumers.get(source, (stream, None))
            consumer_name = consumer["name"] if consumer else consumer_part.split(":")[0]
            if consumer:
                consumer["used_by"] = f"event source mapping {mapping['UUID']}"
        function = mapping.get("FunctionArn", "").split(":function:")[-1].split(":")[0]
        if stream is None:
            stream_name = stream_arn.split(":stream/")[-1]
            if stream_name in account_stream_names:
                continue  # a real stream this run leaves out (--streams)
            unclassified.append(
                {
                    "kind": "event_source_mapping",
                    "name": mapping["UUID"],
                    "reason": f"function {function} reads {source}, which is not a stream of "
                    f"this account and region",
                }
            )
            continue
        classified.append(
            MappingFacts(
                uuid=mapping["UUID"],
                function_name=function,
                stream=stream.name,
                state=mapping.get("State", "?"),
                batch_size=mapping.get("BatchSize"),
                batching_window_seconds=mapping.get("MaximumBatchingWindowInSeconds"),
                parallelization_factor=mapping.get("ParallelizationFactor"),
                starting_position=mapping.get("StartingPosition"),
                consumer=consumer_name,
            )
        )
    return sorted(classified, key=lambda facts: (facts.stream, facts.function_name, facts.uuid))


def find_lease_tables(
    reader: AccountReader, streams: list[StreamFacts], unclassified: list[dict]
) -> tuple[list[LeaseTableFacts], int]:
    dynamodb = reader.client("dynamodb")
    tables = [
        name
        for page in pages(
            reader.backoff,
            dynamodb.list_tables,
            "ExclusiveStartTableName",
            "LastEvaluatedTableName",
        )
        for name in page.get("TableNames", [])
    ]
    found = []
    for table in tables:
        description = reader.backoff.call(dynamodb.describe_table, TableName=table)["Table"]
        if not is_kcl_shaped(description):
            continue
        page = reader.backoff.call(
            dynamodb.scan, TableName=table, ProjectionExpression="leaseKey", Limit=LEASE_SAMPLE
        )
        keys = [item["leaseKey"]["S"] for item in page.get("Items", []) if "leaseKey" in item]
        match = match_leases(keys, streams, complete=not page.get("LastEvaluatedKey"))
        if isinstance(match, str):
            unclassified.append({"kind": "kcl_lease_table", "name": table, "reason": match})
        else:
            stream, layout = match
            found.append(LeaseTableFacts(table, stream.name, len(keys), layout))
    return sorted(found, key=lambda facts: facts.table), len(tables)


def is_kcl_shaped(description: dict) -> bool:
    """KCL's lease table: hash key `leaseKey` of type S and nothing else in the key."""
    key_schema = description.get("KeySchema", [])
    types = {
        attribute["AttributeName"]: attribute["AttributeType"]
        for attribute in description.get("AttributeDefinitions", [])
    }
    return key_schema == [{"AttributeName": "leaseKey", "KeyType": "HASH"}] and (
        types.get("leaseKey") == "S"
    )


def parse_lease_key(key: str) -> tuple[str | None, str]:
    """(stream name or None, shard id) of a lease key.

    KCL 1.x/2.x single-stream: `shardId-000000000001`. KCL 2.3+/3.x multi-stream:
    `<account>:<stream>:<creation epoch>:shardId-...`; some tools write `<stream>:shardId-...`.
    """
    parts = key.split(":")
    if len(parts) == 1:
        return None, key
    if len(parts) >= 4:
        return parts[1], parts[-1]
    return parts[0], parts[-1]


def match_leases(
    keys: list[str], streams: list[StreamFacts], complete: bool = True
) -> tuple[StreamFacts, str] | str:
    """The stream a lease table's keys belong to, or why there is none."""
    if not keys:
        return "KCL-shaped (hash key leaseKey) but holds no leases"
    parsed = [parse_lease_key(key) for key in keys]
    named = {stream_name for stream_name, _ in parsed if stream_name}
    by_name = {stream.name: stream for stream in streams}
    if named:
        if len(named) > 1:
            return f"multi-stream KCL table for {', '.join(sorted(named))}; split it by hand"
        stream = by_name.get(named.pop())
        shards = {shard for _, shard in parsed}
        if stream and shards <= set(stream.shard_ids):
            return stream, "multi-stream"
        return "its lease keys name a stream (or shards) not among the discovered streams"
    shards = {shard for _, shard in parsed}
    # A KCL application holds a lease for every shard of its stream that is still open (and
    # for closed ones until they are processed): the stream must contain every lease, and every
    # open shard of it must be leased (that part only when the sample read the whole table).
    candidates = [
        stream
        for stream in streams
        if shards <= set(stream.shard_ids)
        and (not complete or set(stream.open_shard_ids) <= shards)
    ]
    if len(candidates) == 1:
        return candidates[0], "single-stream"
    if not candidates:
        return f"its {len(shards)} lease key(s) match the shards of no discovered stream"
    names = ", ".join(stream.name for stream in candidates)
    return f"its lease keys match the shards of several streams ({names}); name it by hand"


def classify_consumers(
    streams: list[StreamFacts], lease_tables: list[LeaseTableFacts], unclassified: list[dict]
) -> None:
    """Enhanced fan-out consumers: used by a mapping, by a KCL application, or unclassified."""
    kcl_by_stream = {(table.stream, table.table) for table in lease_tables}
    for stream in streams:
        for consumer in stream.consumers:
            if consumer["used_by"]:
                continue
            # KCL 2.x registers its consumer under the application name, the lease table's.
            if (stream.name, consumer["name"]) in kcl_by_stream:
                consumer["used_by"] = f"KCL application {consumer['name']}"
                continue
            unclassified.append(
                {
                    "kind": "efo_consumer",
                    "name": consumer["name"],
                    "reason": f"enhanced fan-out consumer of {stream.name} used by no event "
                    f"source mapping and no KCL lease table found here",
                }
            )
