"""The sandbox report: was anything lost, duplicated or reordered?

Inputs: the producer's NDJSON log (every ACCEPTED event and where it was written: the ground
truth), both environments' processed tables (one item per processing by that environment's
consumers), and the ledger of the new→old replicator (docs/replicator.md), which says up to which
sequence number each new-stream shard has been copied to the old streams.

Expected sets:

- **old** must have processed every event written to old, and every event written to new that the
  replicator delivered: a new-stream record is delivered once its shard's sequence number is <= the
  ledger's ``last_sequence_number`` for ``<stream name>/<shard id>``.
  In replication mode read-across (no replicator: its ledger is not read) the old consumers read
  the new streams themselves: every event written to new and accepted at or before
  ``old_reads_new_until`` (a time the caller knows they had read up to: the end of a rollback, or
  new-live) is expected. The report then says "read across" where copy mode says "replicated":
  nothing was copied, the old consumers processed the new streams' own records.
- **new** must have processed every event written to new when its consumers were resumed (default:
  when any of its sample consumer mappings is enabled now); nothing otherwise.

LOST = expected but not processed (must be 0 once the pipeline has settled). Items copied into the
new table by the data store copy (`processed`) keep ``environment = "old"`` and are not counted as
processings of new. Order is judged on the *first* processing of each event, per logical stream
and key: an event processed first after a later event of its key is an order violation; in old, a
replicated event (written to new) processed after a later direct event (written to old) of its key
is a flip inversion (the rollback window of the design; reported, never hidden). An event written
to new that old processed is "replicated, processed" in copy mode and "read across, processed"
in read-across mode (``replication.mode`` in the report says which).
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from turnout.sandbox.names import processed_table_name
from turnout.spec.model import MigrationSpec
from turnout.spec.names import names

SAMPLE = 10
# A report is built again after this long even when the processed tables did not move.
REBUILD_AFTER_SECONDS = 15.0
# The processed items' attributes the report reads. They are picked here rather than with a
# ProjectionExpression: the emulator's projection re-encodes every item twice and made its
# Scan pages several times slower; on AWS a projection saves bytes, not read capacity.
_READ_ATTRIBUTES = frozenset(
    {
        "event_id",
        "environment",
        "stream",
        "key",
        "seq",
        "processed_order",
        "consumer",
        "parse_error",
        "copied_from",
    }
)


# ---------------------------------------------------------------------------------- reading
def read_events(log_path: Path) -> list[dict]:
    """The producer's log (accepted events); a torn last line is ignored."""
    events = []
    if not Path(log_path).is_file():
        return events
    with Path(log_path).open(encoding="utf-8") as lines:
        for line in lines:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


def _scan(ddb: Any, table: str, **arguments: Any) -> Iterable[dict]:
    kwargs: dict[str, Any] = {"TableName": table, **arguments}
    while True:
        page = ddb.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def read_processed(ddb: Any, table: str) -> list[dict]:
    """The processed table's items as plain dicts (missing table: empty)."""
    items = []
    try:
        for raw in _scan(ddb, table):
            item = {
                name: next(iter(value.values()))
                for name, value in raw.items()
                if name in _READ_ATTRIBUTES
            }
            if "seq" in item:
                item["seq"] = int(item["seq"])
            items.append(item)
    except ClientError as problem:
        if problem.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    return items


def read_ledger(ddb: Any, table: str) -> dict[str, int]:
    """shard_key → last_sequence_number (as an integer) of a replicator's ledger."""
    ledger = {}
    try:
        for raw in _scan(ddb, table):
            if "last_sequence_number" in raw:
                ledger[raw["shard_key"]["S"]] = int(raw["last_sequence_number"]["S"])
    except ClientError as problem:
        if problem.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    return ledger


def processed_counts(spec: MigrationSpec, aws: Any) -> dict[str, int]:
    """Each environment's processed table's item count (0 when it does not exist): the marker
    ``wait_for_report`` waits on. The emulator keeps ``ItemCount`` current; AWS refreshes it
    about every six hours, so this is for the sandbox only."""
    counts = {}
    for environment in ("old", "new"):
        try:
            table = aws.client(environment, "dynamodb").describe_table(
                TableName=processed_table_name(spec, environment)
            )["Table"]
        except ClientError as problem:
            if problem.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            table = {}
        counts[environment] = table.get("ItemCount", 0)
    return counts


def new_consumers_resumed(spec: MigrationSpec, aws: Any) -> bool:
    from turnout.sandbox.pipeline.create import consumer_mappings

    return any(
        mapping["state"] in ("Enabled", "Enabling", "Updating")
        for mapping in consumer_mappings(spec, aws, "new")
    )


def build_report(
    spec: MigrationSpec,
    aws: Any,
    events_log: Path,
    *,
    new_required: bool | None = None,
    producer_status: dict | None = None,
    old_reads_new_until: float | None = None,
) -> dict:
    """Read everything and compute the report (see ``compute_report``)."""
    # The two tables are read side by side: most of a Scan's time is the emulator's and the
    # parsing here of the other table's pages overlaps it.
    with ThreadPoolExecutor(max_workers=2) as readers:
        reads = {
            environment: readers.submit(
                read_processed,
                aws.client(environment, "dynamodb"),
                processed_table_name(spec, environment),
            )
            for environment in ("old", "new")
        }
        events = read_events(events_log)
        processed = {environment: read.result() for environment, read in reads.items()}
    ledger = read_ledger(aws.client("new", "dynamodb"), names(spec, "new").ledger_table)
    if new_required is None:
        new_required = new_consumers_resumed(spec, aws)
    report = compute_report(
        events,
        processed,
        ledger,
        new_required=new_required,
        old_reads_new_until=old_reads_new_until,
        consumer_streams=spec_consumer_streams(spec),
    )
    report["sources"] = {
        "events_log": str(events_log),
        "processed_tables": {
            environment: processed_table_name(spec, environment) for environment in ("old", "new")
        },
        "ledger_table": names(spec, "new").ledger_table,
    }
    if producer_status:
        report["route_changes"] = producer_status.get("route_changes", [])
    return report


def wait_for_report(
    build: Callable[[], dict],
    *,
    timeout: float = 60.0,
    interval: float = 1.0,
    until: Callable[[dict], bool] | None = None,
    progress_marker: Callable[[], Any] | None = None,
    rebuild_after: float = REBUILD_AFTER_SECONDS,
) -> dict:
    """Build the report until ``until(report)`` (default: nothing lost) or ``timeout``; returns
    the last report (check it: a timeout does not raise).

    A report reads every processed item, which takes tens of seconds at 100,000 of them. With a
    ``progress_marker`` (a cheap reading of what the report counts, e.g. the processed tables'
    item counts) each report waits until the marker has stopped moving (two equal readings
    ``interval`` apart) at a value no report has seen yet, or until ``rebuild_after`` seconds
    have passed since the previous report (traffic still flowing; or what the marker does not
    see, such as the replicator's ledger, moved). Without one, every ``interval`` seconds."""
    until = until or (lambda report: report["lost"] == 0)
    deadline = time.monotonic() + timeout
    built_marker: Any = _NOTHING_BUILT
    last_build = time.monotonic()
    while True:
        if progress_marker is not None:
            built_marker = _next_marker(
                progress_marker, built_marker, interval, min(deadline, last_build + rebuild_after)
            )
        report = build()
        last_build = time.monotonic()
        if until(report) or last_build >= deadline:
            report["settled"] = until(report)
            return report
        if progress_marker is None:
            time.sleep(interval)


_NOTHING_BUILT = object()


def _next_marker(read: Callable[[], Any], built: Any, interval: float, latest: float) -> Any:
    """The marker once two readings ``interval`` apart agree on a value other than ``built``,
    or at ``latest``."""
    last = read()
    while time.monotonic() < latest:
        time.sleep(interval)
        current = read()
        if current == last and current != built:
            return current
        last = current
    return last


# ---------------------------------------------------------------------------------- computing
def compute_report(
    events: list[dict],
    processed: dict[str, list[dict]],
    ledger: dict[str, int],
    *,
    new_required: bool,
    old_reads_new_until: float | None = None,
    consumer_streams: dict[str, dict[str, tuple[str, ...]]] | None = None,
) -> dict:
    """The report from plain data (tests call this directly). ``consumer_streams``: per
    environment, the streams each consumer reads (``spec_consumer_streams``); such a consumer
    must have processed every expected event of its streams itself."""
    by_id = {event["id"]: event for event in events}
    written: dict[str, set[str]] = {"old": set(), "new": set()}
    for event in by_id.values():
        written.setdefault(event["env"], set()).add(event["id"])
    read_across = old_reads_new_until is not None
    delivered = _due_to_old(written["new"], by_id, ledger, old_reads_new_until)
    expected = {
        "old": written["old"] | delivered,
        "new": set(written["new"]) if new_required else set(),
    }
    environments = {}
    processed_ids: dict[str, set[str]] = {}
    for environment in ("old", "new"):
        section, ids = _environment_section(
            environment,
            processed.get(environment, []),
            by_id,
            expected[environment],
            written,
            read_across=read_across,
            consumer_streams=(consumer_streams or {}).get(environment, {}),
        )
        section["required"] = True if environment == "old" else new_required
        environments[environment] = section
        processed_ids[environment] = ids
    not_delivered = written["new"] - delivered
    pending = not_delivered - processed_ids["new"]
    keys = {(event["stream"], event["key"]) for event in by_id.values()}
    return {
        "generated_at": time.time(),
        "produced": {
            "total": len(by_id),
            "old": len(written["old"]),
            "new": len(written["new"]),
            "by_stream": dict(sorted(Counter(event["stream"] for event in by_id.values()).items())),
            "keys": len({key for _, key in keys}),
            "stream_keys": len(keys),
            "log_lines": len(events),
            "log_duplicate_ids": len(events) - len(by_id),
        },
        "replication": {
            "mode": "read-across" if read_across else "copy",
            "ledger_shards": 0 if read_across else len(ledger),
            "delivered_to_old": len(delivered),
            "not_yet_delivered": len(not_delivered),
            "read_across_until": old_reads_new_until,
        },
        "environments": environments,
        "lost": sum(section["lost"] for section in environments.values()),
        "pending": len(pending),
        "pending_sample": sorted(pending)[:SAMPLE],
        "nothing_lost": all(section["lost"] == 0 for section in environments.values()),
    }


def _due_to_old(
    written_to_new: set[str],
    by_id: dict[str, dict],
    ledger: dict[str, int],
    old_reads_new_until: float | None,
) -> set[str]:
    """The events written to new that old must have processed: in copy mode those the replicator's
    ledger says it delivered, in read-across mode those accepted by ``old_reads_new_until``."""
    if old_reads_new_until is not None:
        return {
            event_id
            for event_id in written_to_new
            if float(by_id[event_id].get("accepted_at", 0)) <= old_reads_new_until
        }
    return {
        event_id
        for event_id in written_to_new
        if ledger.get(f"{by_id[event_id]['stream_name']}/{by_id[event_id]['shard']}", -1)
        >= int(by_id[event_id]["sn"])
    }


def _environment_section(
    environment: str,
    items: list[dict],
    by_id: dict[str, dict],
    expected: set[str],
    written: dict[str, set[str]],
    *,
    read_across: bool = False,
    consumer_streams: dict[str, tuple[str, ...]] | None = None,
) -> tuple[dict, set[str]]:
    own = [item for item in items if item.get("environment") == environment]
    copied = len(items) - len(own)
    unparseable = [item for item in own if item.get("parse_error")]
    events = [item for item in own if not item.get("parse_error")]
    first: dict[str, str] = {}
    for item in events:
        order = item.get("processed_order", "")
        if item["event_id"] not in first or order < first[item["event_id"]]:
            first[item["event_id"]] = order
    ids = set(first)
    known = ids & by_id.keys()
    unknown = ids - by_id.keys()
    per_consumer, lost, duplicates = _consumer_sections(
        events, by_id, expected, consumer_streams or {}
    )
    lost |= expected - ids

    # Order: per (stream, key), the events in the order of their first processing.
    sequences: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for event_id in known:
        event = by_id[event_id]
        sequences[(event["stream"], event["key"])].append((first[event_id], event_id))
    violations = 0
    inversions = 0
    bad_keys = 0
    samples = []
    for stream_key, processings in sequences.items():
        processings.sort()
        highest = 0
        highest_direct = 0
        key_bad = False
        for _, event_id in processings:
            seq = int(by_id[event_id]["seq"])
            if seq < highest:
                violations += 1
                key_bad = True
                if len(samples) < SAMPLE:
                    samples.append(
                        {
                            "stream": stream_key[0],
                            "key": stream_key[1],
                            "seq": seq,
                            "after": highest,
                        }
                    )
            if environment == "old" and event_id in written["new"] and seq < highest_direct:
                inversions += 1
            highest = max(highest, seq)
            if event_id in written["old"]:
                highest_direct = max(highest_direct, seq)
        bad_keys += key_bad
    from_new = len(known & written["new"])
    return (
        {
            "written": len(written.get(environment, ())),
            "expected": len(expected),
            "processed": len(ids),
            "processings": len(events),
            "duplicates": duplicates,
            "lost": len(lost),
            "lost_sample": sorted(lost)[:SAMPLE],
            "order_violations": violations,
            "keys_with_order_violations": bad_keys,
            "order_violation_sample": samples,
            "flip_inversions": inversions if environment == "old" else None,
            "replicated_processed": from_new if environment == "old" and not read_across else None,
            "read_across_processed": from_new if environment == "old" and read_across else None,
            "unparseable": len(unparseable),
            "unknown_events": len(unknown),
            "copied_items": copied,
            "by_consumer": per_consumer,
        },
        ids,
    )


def _consumer_sections(
    events: list[dict],
    by_id: dict[str, dict],
    expected: set[str],
    consumer_streams: dict[str, tuple[str, ...]],
) -> tuple[dict[str, dict], set[str], int]:
    """Per consumer: its processings, the distinct events among them, its duplicates and, for a
    consumer whose streams are known, the expected events of those streams it did not process.
    Returns them, the events some consumer lost, and the duplicates in all (an event processed
    once by each of two consumers of its stream is no duplicate)."""
    by_consumer: dict[str, list[str]] = defaultdict(list)
    for item in events:
        by_consumer[item.get("consumer", "?")].append(item["event_id"])
    expected_by_stream: dict[str, set[str]] = defaultdict(set)
    for event_id in expected:
        expected_by_stream[by_id[event_id]["stream"]].add(event_id)
    sections: dict[str, dict] = {}
    lost: set[str] = set()
    for consumer in sorted(set(by_consumer) | set(consumer_streams)):
        event_ids = by_consumer.get(consumer, [])
        ids = set(event_ids)
        section = {
            "processings": len(event_ids),
            "processed": len(ids),
            "duplicates": len(event_ids) - len(ids),
        }
        if consumer in consumer_streams:
            due = set().union(*(expected_by_stream[s] for s in consumer_streams[consumer]))
            section["lost"] = len(due - ids)
            lost |= due - ids
        sections[consumer] = section
    return sections, lost, sum(section["duplicates"] for section in sections.values())


def spec_consumer_streams(spec: MigrationSpec) -> dict[str, dict[str, tuple[str, ...]]]:
    """Per environment, the name each of the spec's Lambda and KCL consumers writes to the
    processed table (the function's name, the application's) -> the streams it reads."""
    found: dict[str, dict[str, tuple[str, ...]]] = {}
    for environment in ("old", "new"):
        found[environment] = {
            (consumer.function_name if consumer.kind == "lambda" else consumer.application): tuple(
                consumer.streams
            )
            for consumer in getattr(spec.consumers, environment)
            if consumer.kind in ("lambda", "kcl")
        }
    return found


# ---------------------------------------------------------------------------------- output
def format_report(report: dict) -> str:
    produced = report["produced"]
    old, new = report["environments"]["old"], report["environments"]["new"]

    def cell(value: Any) -> str:
        return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)

    rows = [
        ("written to (producer)", produced["old"], produced["new"]),
        ("expected", old["expected"], new["expected"] if new["required"] else "not required"),
        ("processed (distinct)", old["processed"], new["processed"]),
        ("processings", old["processings"], new["processings"]),
        ("duplicates", old["duplicates"], new["duplicates"]),
        ("LOST", old["lost"], new["lost"]),
        ("order violations", old["order_violations"], new["order_violations"]),
        ("flip inversions", old["flip_inversions"], None),
        _from_new_row(old),
        ("unparseable records", old["unparseable"], new["unparseable"]),
        ("unknown event ids", old["unknown_events"], new["unknown_events"]),
        ("copied items (data store)", old["copied_items"], new["copied_items"]),
    ]
    lines = [
        f"events produced: {produced['total']:,} over {produced['keys']:,} keys "
        f"({', '.join(f'{name} {count:,}' for name, count in produced['by_stream'].items())})",
        "",
        f"{'':24}{'old':>14}{'new':>14}",
    ]
    lines += [f"{label:24}{cell(a):>14}{cell(b):>14}" for label, a, b in rows]
    replication = report["replication"]
    if replication.get("read_across_until") is not None:
        delivery = (
            f"read across (no replicator, nothing copied): the old consumers read the new "
            f"streams; {replication['delivered_to_old']:,} of {produced['new']:,} events written "
            f"to new were due to them; {report['pending']:,} neither read by old nor processed "
            f"by new yet"
        )
    else:
        delivery = (
            f"replication new→old: {replication['delivered_to_old']:,} of {produced['new']:,} "
            f"events written to new delivered (ledger: {replication['ledger_shards']} shard(s)); "
            f"{report['pending']:,} neither delivered nor processed by new yet"
        )
    lines += ["", delivery]
    for change in report.get("route_changes", []):
        stamp = time.strftime("%H:%M:%S", time.localtime(change["at"]))
        lines.append(f"route: {change['from'] or '(start)'} → {change['to']} at {stamp}")
    for environment, section in report["environments"].items():
        if section["lost"]:
            lines.append(f"lost in {environment} (sample): {', '.join(section['lost_sample'])}")
            missed = {
                consumer: counts["lost"]
                for consumer, counts in section.get("by_consumer", {}).items()
                if counts.get("lost")
            }
            if missed:
                said = ", ".join(f"{consumer} {count:,}" for consumer, count in missed.items())
                lines.append(f"not processed by each consumer in {environment}: {said}")
    lines.append("")
    lines.append(
        "verdict: nothing lost" if report["nothing_lost"] else f"verdict: {report['lost']:,} LOST"
    )
    return "\n".join(lines)


def _from_new_row(old: dict) -> tuple[str, Any, None]:
    """Events written to new that old processed: copied to it (copy) or read by it (read-across)."""
    if old.get("read_across_processed") is not None:
        return ("read across, processed", old["read_across_processed"], None)
    return ("replicated, processed", old["replicated_processed"], None)


def assert_nothing_lost(report: dict, *, allow_pending: bool = True) -> None:
    """Raise AssertionError (with the figures) if any expected event was not processed, or, with
    ``allow_pending=False``, if an event written to new is processed nowhere yet."""
    problems = []
    for environment, section in report["environments"].items():
        if section["lost"]:
            problems.append(
                f"{environment}: {section['lost']} of {section['expected']} expected events not "
                f"processed (e.g. {', '.join(section['lost_sample'][:3])})"
            )
    if not allow_pending and report["pending"]:
        to_old = (
            "read by old"
            if report["replication"].get("mode") == "read-across"
            else ("replicated to old")
        )
        problems.append(
            f"{report['pending']} events written to new are neither {to_old} nor "
            f"processed by new (e.g. {', '.join(report['pending_sample'][:3])})"
        )
    if problems:
        raise AssertionError("events lost: " + "; ".join(problems) + "\n" + format_report(report))
