"""`turnout verify`: prove that what the new streams received since the switch reached the old
streams through replication, per shard and per partition key (docs/verify.md).

The window. By default it comes from the engine's journal: the new streams are read from the
moment the route flipped (`route-to-new` of baseline->switched started; they were proven empty
just before) and the old streams from the moment new->old replication was turned on
(`replicate-new-to-old` of switched->mirrored started; the old streams were proven quiet before
it, so everything after it there is replicated). `--since` reads both sides from one moment
instead; then an old record with no match that arrived within the grace after it is counted as
`before_window` (the copy of a record older than the window), not as extra.

The tail. Both sides are read up to the same tip snapshot. A new record that arrived within
`grace_seconds` before the tip may not be replicated yet: without an old copy it is
`not_yet_replicated`, not missing. Neither of those two fails the verification.

The consumers' discards. A caller may pass `discards`, a function returning what the Lambda
consumers' on-failure destinations received during the migration (dicts with `verdict` and
`reason`, from `turnout.drain.discarded`; verify does not import the drain package). Any that
is not `drained` fails the verification: records discarded by a consumer are records it never
processed, however complete the replication.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from turnout.aws.access import service_clock
from turnout.errors import TurnoutError
from turnout.verify.compare import NOTED_KINDS, PROBLEM_KINDS, compare_key, failing_kinds
from turnout.verify.read import (
    EFO_NOT_AVAILABLE,
    KeySample,
    ReadWindow,
    ShardRead,
    ShardReaderSettings,
    StreamSide,
    read_streams,
    records_by_key,
)

# Journal times and the tip come from the services' clock as this machine knows it
# (AwsAccess.clock), arrivals from Kinesis's own: the margin covers a machine's clock sync.
CLOCK_MARGIN_SECONDS = 5.0
PROBLEMS_LISTED = 50  # per stream, in the report; the counts are always complete
VERIFY_PHASES = ("mirrored", "new-live")


class VerifyError(TurnoutError):
    """verify was asked something it cannot answer (bad flag, no switch recorded)."""


@dataclass
class VerifyOptions:
    since: float | None = None  # None: from the journal
    grace_seconds: float = 60.0
    reads_per_second: float = 1.0
    sample: float = 1.0
    workers: int = 8
    efo: bool = False
    allow_duplicates: bool = False  # at-least-once replication may copy a record twice
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Window:
    new_since: float
    old_since: float
    source: str  # "journal" or "--since"
    tip: float = 0.0

    def as_dict(self, grace_seconds: float) -> dict:
        return {
            "source": self.source,
            "new_since": _iso(self.new_since),
            "old_since": _iso(self.old_since),
            "tip": _iso(self.tip),
            "grace_seconds": grace_seconds,
            "in_flight_after": _iso(self.tip - grace_seconds),
        }


@dataclass
class VerifyReport:
    document: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.document.get("passed"))

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1


# --------------------------------------------------------------------------- options


def parse_since(value: str, now: float | None = None) -> float:
    """ISO-8601 (`2026-11-26T01:00:00Z`; no zone means UTC) or relative (`90s`, `30m`, `2h`,
    `1d`) -> epoch seconds."""
    now = time.time() if now is None else now
    relative = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", value)
    if relative:
        amount = (
            float(relative.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[relative.group(2)]
        )
        return now - amount
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise VerifyError(
            f"--since {value!r} is not a time: give an ISO-8601 time such as "
            "2026-11-26T01:00:00Z (no zone means UTC) or a relative age such as 90s, 30m, 2h or "
            "1d."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    since = moment.timestamp()
    if since > now:
        raise VerifyError(f"--since {value!r} is in the future; give a past time.")
    return since


def check_mode(spec: Any) -> None:
    """Refuse read-across mode, whose old streams hold no copy of the new ones to compare."""
    if spec.replication.mode == "read-across":
        raise VerifyError(
            "this comparison reads the new streams and their copy in the old streams, and the "
            "spec's replication.mode is read-across: nothing is copied, the old consumers read "
            "the new streams themselves (docs/read-across.md), so every new record would count "
            "as missing. In that mode `turnout verify` proves the old consumers' reads instead "
            "(turnout.drain.read_across_proof: markers at the cut, retention since the switch). "
            "Nothing was read."
        )


def check_read_across_flags(options: VerifyOptions, grace_given: bool) -> None:
    """In read-across mode the copy comparison's flags mean nothing: refuse them by name."""
    given = [
        flag
        for flag, used in (
            ("--sample", options.sample != 1.0),
            ("--efo", options.efo),
            ("--allow-duplicates", options.allow_duplicates),
            ("--grace-seconds", grace_given),
            ("--max-reads-per-shard-per-second", options.reads_per_second != 1.0),
        )
        if used
    ]
    if given:
        raise VerifyError(
            f"{', '.join(given)}: the spec's replication.mode is read-across, where verify reads "
            "no records and compares no copies: it puts a marker into every open shard of the "
            "new streams and waits for the old consumers to acknowledge them "
            '(docs/read-across.md, "Verify"). Valid there: --since, --workers, '
            "--peek-discards, --json. Nothing was read."
        )


def switch_from_journal(store: Any) -> float:
    """Read-across mode: when the route flipped to new (the new streams were proven empty just
    before), for a phase where the old consumers read the new streams (mirrored, new-live)."""
    phase = store.load().phase
    flipped = _first_started(store, "baseline->switched", "route-to-new")
    reading = _first_started(store, "switched->mirrored", "old-consumers-read-new")
    if phase not in VERIFY_PHASES or flipped is None or reading is None:
        raise VerifyError(
            f"the live phase is '{phase}': in read-across mode verify proves what the old "
            "consumers' mappings on the new streams processed, and those read in mirrored and "
            "new-live only; it takes the switch from the journal"
            + ("" if flipped and reading else " (not recorded there)")
            + ". Pass --since TIME (ISO-8601 or 2h: no earlier than the switch) to prove a "
            "window of your choice; after a rollback, its new-tail-read-across step holds the "
            "drain verdict."
        )
    return flipped - CLOCK_MARGIN_SECONDS


def check_options(options: VerifyOptions) -> None:
    if not 0 < options.sample <= 1:
        raise VerifyError(
            f"--sample {options.sample} is out of range: give the fraction of partition keys to "
            "verify, greater than 0 and at most 1 (e.g. 0.01 for 1%)."
        )
    if not 0 < options.reads_per_second <= 5:
        raise VerifyError(
            f"--max-reads-per-shard-per-second {options.reads_per_second} is out of range: a "
            "shard serves 5 GetRecords calls/s shared by all its readers; give more than 0 and "
            "at most 5 (default 1, to leave the rest to the live consumers)."
        )
    if options.grace_seconds < 0:
        raise VerifyError(f"--grace-seconds {options.grace_seconds} must be 0 or more.")
    if not 1 <= options.workers <= 64:
        raise VerifyError(f"--workers {options.workers} is out of range: give 1 to 64.")


# --------------------------------------------------------------------------- the window


def window_from_journal(store: Any) -> Window:
    """The switch and replication start recorded by the engine (earliest attempt of each)."""
    state = store.load()
    phase = state.phase
    flipped = _first_started(store, "baseline->switched", "route-to-new")
    replicating = _first_started(store, "switched->mirrored", "replicate-new-to-old")
    if phase not in VERIFY_PHASES or flipped is None or replicating is None:
        raise VerifyError(
            f"the live phase is '{phase}': verify compares the new streams with their new->old "
            "replica, which exists in mirrored and new-live only, and takes the switch and the "
            "replication start from the journal"
            + ("" if flipped and replicating else " (not recorded there)")
            + ". Pass --since TIME (ISO-8601 or 2h) to verify a window of your choice."
        )
    return Window(
        new_since=flipped - CLOCK_MARGIN_SECONDS,
        old_since=replicating - CLOCK_MARGIN_SECONDS,
        source="journal",
    )


def _first_started(store: Any, transition: str, step: str) -> float | None:
    for entry in store.read_journal(newest_first=False):
        details = entry.get("details", {})
        if (
            entry.get("kind") == "step"
            and entry.get("action") == "started"
            and details.get("transition") == transition
            and details.get("step") == step
        ):
            return datetime.fromisoformat(entry["at"]).timestamp()
    return None


# --------------------------------------------------------------------------- the run


def verify(
    spec: Any,
    aws: Any,
    window: Window,
    options: VerifyOptions,
    progress: Callable[[str], None] = lambda message: None,
    discards: Callable[[], list[dict]] | None = None,
) -> VerifyReport:
    """Read every stream of the spec on both sides and compare them per key; with `discards`,
    also what the consumers discarded to their on-failure destinations."""
    check_mode(spec)
    check_options(options)
    notes = []
    if options.efo:
        notes.append(EFO_NOT_AVAILABLE)
        progress(f"verify: {EFO_NOT_AVAILABLE}")
    started = options.clock()
    window.tip = service_clock(aws)()  # the arrivals' clock, like the journal's times
    settings = ShardReaderSettings(
        reads_per_second=options.reads_per_second,
        sample=KeySample(options.sample),
        clock=options.clock,
        sleep=options.sleep,
        progress=progress,
    )
    progress(
        f"verify: reading {len(spec.streams)} stream(s) in both environments up to "
        f"{_iso(window.tip)}, at most {options.reads_per_second:g} GetRecords/s per shard"
    )
    try:
        sides = _stream_sides(spec, aws, window, options)
        reads = read_streams(sides, settings, options.workers, progress)
    except (ClientError, BotoCoreError) as problem:
        raise VerifyError(
            f"verify could not read the streams: {problem}. Check that the spec's streams exist "
            "in both environments and that these credentials may list and read them."
        ) from None
    streams = {
        stream.name: compare_stream(
            stream.name_in("new"),
            stream.name_in("old"),
            reads[(stream.name, "new")],
            reads[(stream.name, "old")],
            ordering=getattr(stream, "ordering", "strict"),
            allow_duplicates=options.allow_duplicates,
        )
        for stream in spec.streams
    }
    seconds = max(options.clock() - started, 1e-9)
    document = _document(window, options, streams, reads, notes, seconds)
    if discards is not None:
        progress("verify: reading the Lambda consumers' on-failure destinations")
        document = with_discards(document, discards())
    return VerifyReport(document)


def with_discards(document: dict, discards: list[dict]) -> dict:
    """The report with the consumers' discard verdicts: any not `drained` fails it."""
    failed = any(entry["verdict"] != "drained" for entry in discards)
    return {**document, "discards": discards, "passed": document["passed"] and not failed}


def _stream_sides(spec: Any, aws: Any, window: Window, options: VerifyOptions) -> list[StreamSide]:
    """What to read of each stream: the new side from the switch, the old side from the start of
    replication, both up to the tip; records at the edges within the grace period are noted."""
    explicit = window.source == "--since"
    new_window = ReadWindow(
        window.new_since, window.tip, edge_after=window.tip - options.grace_seconds
    )
    old_window = ReadWindow(
        window.old_since,
        window.tip,
        edge_before=window.old_since + options.grace_seconds if explicit else None,
    )
    return [
        StreamSide(
            stream.name, side, stream.name_in(side), aws.client(side, "kinesis"), side_window
        )
        for stream in spec.streams
        for side, side_window in (("new", new_window), ("old", old_window))
    ]


def _document(
    window: Window,
    options: VerifyOptions,
    streams: dict[str, dict],
    reads: dict,
    notes: list[str],
    seconds: float,
) -> dict:
    totals = {
        kind: sum(entry["records"][kind] for entry in streams.values())
        for kind in ("new", "old", "matched", *PROBLEM_KINDS, *NOTED_KINDS)
    }
    totals["after_tip"] = sum(entry["after_tip"] for entry in streams.values())
    read_records = sum(
        read.records + read.not_sampled + read.markers
        for shard_reads in reads.values()
        for read in shard_reads
    )
    failed = any(
        entry["records"][kind] for entry in streams.values() for kind in entry["failing_kinds"]
    )
    return {
        "passed": not failed,
        # of strict streams; a relaxed stream's own list is in streams.<name>.failing_kinds
        "failing_kinds": list(failing_kinds("strict", options.allow_duplicates)),
        "window": window.as_dict(options.grace_seconds),
        "sample": {"fraction": options.sample, "sampled": options.sample < 1},
        "reader": {
            "mode": "polling",
            "efo_requested": options.efo,
            "max_reads_per_shard_per_second": options.reads_per_second,
            "workers": options.workers,
            "allow_duplicates": options.allow_duplicates,
        },
        "totals": totals,
        "streams": streams,
        "notes": notes,
        "records_read": read_records,
        "seconds": round(seconds, 3),
        "records_per_second": round(read_records / seconds, 1),
    }


def compare_stream(
    new_name: str,
    old_name: str,
    new_reads: list[ShardRead],
    old_reads: list[ShardRead],
    *,
    ordering: str = "strict",
    allow_duplicates: bool = False,
) -> dict:
    """Per key comparison of one stream; `ordering` is the stream's order rule (spec)."""
    failing = failing_kinds(ordering, allow_duplicates)
    new_keys = records_by_key(new_reads)
    old_keys = records_by_key(old_reads)
    counts = dict.fromkeys(("new", "old", "matched", *PROBLEM_KINDS, *NOTED_KINDS), 0)
    shard_problems: dict[tuple[str, str], int] = {}
    findings: list[dict] = []  # problems first, then what is only noted, PROBLEMS_LISTED of each
    noted: list[dict] = []
    per_key: dict[str, dict] = {}
    keys_with_problems = 0
    for key in sorted(new_keys.keys() | old_keys.keys()):
        comparison = compare_key(
            key, new_keys.get(key, []), old_keys.get(key, []), ordering, failing
        )
        counts["new"] += comparison.new
        counts["old"] += comparison.old
        counts["matched"] += comparison.matched
        for kind, count in comparison.counts.items():
            counts[kind] += count
        for finding in comparison.findings:
            if finding["kind"] in failing:
                where = (finding["stream_side"], finding["shard"])
                shard_problems[where] = shard_problems.get(where, 0) + 1
        if comparison.failed:
            keys_with_problems += 1
            if len(per_key) < PROBLEMS_LISTED:
                per_key[key] = comparison.as_dict()
        for finding in comparison.findings:
            listed = findings if finding["kind"] in failing else noted
            if len(listed) < PROBLEMS_LISTED:
                listed.append(finding)

    def side(name: str, side_name: str, reads: list[ShardRead]) -> dict:
        return {
            "name": name,
            "shards": {
                read.shard_id: {
                    **read.summary(),
                    "problems": shard_problems.get((side_name, read.shard_id), 0),
                }
                for read in reads
            },
        }

    return {
        "ordering": ordering,
        "failing_kinds": list(failing),
        "new": side(new_name, "new", new_reads),
        "old": side(old_name, "old", old_reads),
        "keys": len(new_keys.keys() | old_keys.keys()),
        "keys_with_problems": keys_with_problems,
        "records": counts,
        "after_tip": sum(read.after_tip for read in (*new_reads, *old_reads)),
        "problem_keys": per_key,
        "findings": findings + noted,
    }


# --------------------------------------------------------------------------- text


def problems_text(document: dict) -> str:
    """One line per stream with problems: the counts and the first few findings."""
    parts = []
    for name, stream in document["streams"].items():
        counts = stream["records"]
        failing = stream.get("failing_kinds", PROBLEM_KINDS)
        found = [f"{counts[kind]} {kind}" for kind in failing if counts[kind]]
        if not found:
            continue
        examples = "; ".join(
            f"{finding['kind']} key {finding['key']!r} at {finding['stream_side']} "
            f"{finding['shard']}#{finding['sequence_number']}"
            for finding in stream["findings"]
            if finding["kind"] in failing
        )
        parts.append(f"{name}: {', '.join(found)} (e.g. {_shorten(examples)})")
    parts += [
        f"{entry['consumer']}: {entry['reason']}"
        for entry in document.get("discards", [])
        if entry["verdict"] != "drained"
    ]
    return "; ".join(parts)


def report_text(document: dict) -> str:
    window = document["window"]
    totals = document["totals"]
    lines = [
        f"verify {'PASSED' if document['passed'] else 'FAILED'}: "
        f"{totals['new']:,} new-stream records, {totals['old']:,} old-stream records, "
        f"{totals['matched']:,} matched",
        f"  window ({window['source']}): new since {window['new_since']}, old since "
        f"{window['old_since']}, up to the tip {window['tip']}; "
        f"{totals['after_tip']:,} records arrived after the tip (out of scope)",
        f"  in flight: new records after {window['in_flight_after']} "
        f"(grace {window['grace_seconds']:g} s) without a copy yet are not yet replicated, "
        "not missing",
    ]
    if document["sample"]["sampled"]:
        lines.append(
            f"  SAMPLED: {document['sample']['fraction']:g} of the partition keys (by hash)"
        )
    if document["reader"].get("allow_duplicates"):
        lines.append("  duplicates are reported but allowed (--allow-duplicates)")
    for note in document["notes"]:
        lines.append(f"  note: {note}")
    for name, stream in document["streams"].items():
        counts = stream["records"]
        lines.append(
            f"  {name} ({stream['new']['name']} -> {stream['old']['name']}, "
            f"{stream['ordering']} order): "
            f"{stream['keys']:,} keys, {stream['keys_with_problems']:,} with problems; "
            + ", ".join(f"{counts[kind]:,} {kind}" for kind in (*PROBLEM_KINDS, *NOTED_KINDS))
        )
        if stream["ordering"] == "relaxed":
            lines.append(
                "    relaxed order: last copies compared; duplicates and inversions are counted, "
                "not failures"
            )
        for side in ("new", "old"):
            for shard_id, shard in stream[side]["shards"].items():
                lines.append(
                    f"    {side} {shard_id}: {shard['records']:,} records, "
                    f"{shard['problems']} problems, {shard['after_tip']} after the tip"
                )
        for finding in stream["findings"]:
            lines.append(
                f"    {finding['kind']}: key {finding['key']!r}, {finding['stream_side']} "
                f"{finding['shard']} #{finding['sequence_number']} (sha256 {finding['digest']}...)"
            )
    for entry in document.get("discards", []):
        lines.append(f"  {entry['consumer']} on-failure {entry['verdict']}: {entry['reason']}")
    lines.append(
        f"  read {document['records_read']:,} records in {document['seconds']} s "
        f"({document['records_per_second']:,} records/s)"
    )
    return "\n".join(lines)


def _shorten(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def since_window(since: float) -> Window:
    return Window(new_since=since, old_since=since, source="--since")


__all__ = [
    "VerifyError",
    "VerifyOptions",
    "VerifyReport",
    "Window",
    "check_options",
    "check_read_across_flags",
    "parse_since",
    "problems_text",
    "report_text",
    "since_window",
    "switch_from_journal",
    "verify",
    "window_from_journal",
    "with_discards",
]
