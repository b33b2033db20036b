"""Verify an S3 copy and write its manifest: both locations listed side by side, every object
compared by size and ETag (or the source ETag the copy recorded on the target), every
difference counted and the first ones listed.

The manifest is NDJSON: a header line, one line per object (`key`, `size`, `source_etag`,
`target_etag`, `match` = etag | marker (the same bytes) or missing | size | content | extra),
a summary line. It is
written under the work directory and, unless the store says otherwise, to the target bucket.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

from turnout.datastores.s3_objects import S3Object, list_objects, paired, same_content
from turnout.spec.datastores import S3DataStore

SAMPLE = 10
PROBLEMS = ("missing", "size", "content", "extra")


def verify_s3(
    s3: Any, store: S3DataStore, manifest_key: str, manifest_path: Path | None, migration: str
) -> dict:
    """Counts, bytes and differences of source against target; the manifest is written to
    `manifest_path` (a temporary file when None) and uploaded to `manifest_key` in the target
    bucket when the store keeps it there."""
    counts: Counter = Counter()
    samples: dict[str, list[str]] = {name: [] for name in PROBLEMS}
    with _manifest_file(manifest_path) as manifest:
        _line(manifest, _header(store, migration))
        source = list_objects(s3, store.source_bucket, store.source_prefix)
        target = list_objects(s3, store.target_bucket, store.target_prefix, skip=manifest_key)
        for left, right in paired(source, target):
            verdict = _compare(s3, store, left, right)
            _count(counts, left, right, verdict)
            if verdict in samples and len(samples[verdict]) < SAMPLE:
                samples[verdict].append((left or right).key)  # type: ignore[union-attr]
            _line(manifest, _entry(left, right, verdict))
        summary = _summary(counts, samples)
        _line(manifest, {"summary": summary})
        manifest.flush()
        if store.manifest_in_target:
            manifest.seek(0)
            s3.upload_fileobj(
                manifest,
                store.target_bucket,
                manifest_key,
                ExtraArgs={"ContentType": "application/x-ndjson"},
            )
            summary["manifest_s3"] = f"s3://{store.target_bucket}/{manifest_key}"
    if manifest_path is not None:
        summary["manifest_file"] = str(manifest_path)
    return summary


def _compare(s3: Any, store: S3DataStore, left: S3Object | None, right: S3Object | None) -> str:
    if right is None:
        return "missing"
    if left is None:
        return "extra"
    if left.size != right.size:
        return "size"
    match = same_content(s3, left, right, store.target_bucket, store.target_prefix + left.key)
    return match or "content"


def _count(counts: Counter, left: S3Object | None, right: S3Object | None, verdict: str) -> None:
    if left is not None:
        counts["source_objects"] += 1
        counts["source_bytes"] += left.size
    if right is not None:
        counts["target_objects"] += 1
        counts["target_bytes"] += right.size
    counts["matched" if verdict in ("etag", "marker") else verdict] += 1


def _summary(counts: Counter, samples: dict[str, list[str]]) -> dict:
    names = ("source_objects", "source_bytes", "target_objects", "target_bytes", "matched")
    summary = {name: counts.get(name, 0) for name in names + PROBLEMS}
    summary["differences"] = sum(counts.get(name, 0) for name in PROBLEMS)
    summary["samples"] = {name: keys for name, keys in samples.items() if keys}
    return summary


def _header(store: S3DataStore, migration: str) -> dict:
    return {
        "manifest": 1,
        "migration": migration,
        "store": store.name,
        "source": f"s3://{store.source}",
        "target": f"s3://{store.target}",
        "generated_at": time.time(),
    }


def _entry(left: S3Object | None, right: S3Object | None, verdict: str) -> dict:
    return {
        "key": (left or right).key,  # type: ignore[union-attr]
        "size": left.size if left else None,
        "source_etag": left.etag if left else None,
        "target_etag": right.etag if right else None,
        "target_size": right.size if right else None,
        "match": verdict,
    }


def _line(manifest: IO[bytes], document: dict) -> None:
    manifest.write(json.dumps(document, sort_keys=True).encode() + b"\n")


def _manifest_file(path: Path | None) -> IO[bytes]:
    if path is None:
        return tempfile.TemporaryFile()
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w+b")


def describe_differences(summary: dict) -> str:
    """'2 missing (a.txt, b.txt), 1 with another size (c.bin)' for a failure paragraph."""
    labels = {
        "missing": "missing in the target",
        "size": "of another size",
        "content": "with other content (ETag)",
        "extra": "only in the target",
    }
    parts = []
    for name in PROBLEMS:
        if summary.get(name):
            keys = ", ".join(summary["samples"].get(name, []))
            parts.append(f"{summary[name]:,} {labels[name]} (first: {keys})")
    return "; ".join(parts)
