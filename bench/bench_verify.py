"""Benchmark `turnout verify` on the local emulator.

Usage: python bench/bench_verify.py [RESULTS_FILE]

Starts its own emulator (stopped at the end), creates a 4-shard "new" stream and a 4-shard "old"
stream in the two accounts, puts N records (1,000 keys, 200-byte payloads) into the new stream
and the same records, in the same per-key order, into the old one (what replication would
write), then runs the verify core over both and reports records read per second:

- `paced`: the default share of each shard's read limit (1 GetRecords call/s per shard);
- `max_rate`: 5 calls/s per shard (the whole shard budget: only for a stream nobody else reads).

Each run must pass (a clean copy); its reads and wall time are reported. The emulator answers
GetRecords with up to 10,000 records per call like AWS; on AWS, 2 MB/s per shard also bounds a
read (about 10,000 records of 200 bytes per second per shard).

Prints one JSON object; with RESULTS_FILE, also appends it there as one line.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from turnout.aws.access import AwsAccess
from turnout.sandbox.emulator.launcher import Emulator
from turnout.spec.model import MigrationSpec
from turnout.verify.run import VerifyOptions, since_window, verify

N_RECORDS = int(os.environ.get("BENCH_RECORDS", "50000"))
N_KEYS = 1000
SHARDS = 4
RECORD_BYTES = 200


def bench_spec(emulator: Emulator) -> MigrationSpec:
    return MigrationSpec.model_validate(
        {
            "version": 1,
            "migration": "bench-verify",
            "phase": "new-live",
            "environments": {
                "old": {
                    "account_id": emulator.old_account_id,
                    "region": emulator.region,
                    "name_prefix": "bvo-",
                },
                "new": {
                    "account_id": emulator.new_account_id,
                    "region": emulator.region,
                    "name_prefix": "bvn-",
                },
            },
            "streams": [
                {
                    "name": "events",
                    "old_name": "bench-verify-old",
                    "new_name": "bench-verify-new",
                    "capacity": {"mode": "provisioned", "shards": SHARDS},
                }
            ],
            "consumers": {"old": [], "new": []},
            "route": {"environment": "old", "parameters": ["/bench-verify/route"]},
            "replication": {"external_id": "bench"},
        }
    )


THROTTLED_PAUSE_SECONDS = 0.1


def fill(kinesis, stream: str, records: list[tuple[str, bytes]]) -> float:
    """Put `records` keeping each key's order, as a careful producer does on a metered stream:
    a call holds at most one record per key, a key's next record goes once its previous one
    was accepted, and a throttled entry stays its key's head (a shard takes 1,000 records/s on
    the `aws` profile)."""
    kinesis.create_stream(StreamName=stream, ShardCount=SHARDS)
    started = time.perf_counter()
    pending: dict[str, deque[bytes]] = {}
    for key, data in records:
        pending.setdefault(key, deque()).append(data)
    while pending:
        keys = list(pending)[:500]
        response = kinesis.put_records(
            StreamName=stream,
            Records=[{"PartitionKey": key, "Data": pending[key][0]} for key in keys],
        )
        for key, result in zip(keys, response["Records"], strict=True):
            if "ErrorCode" in result:
                continue
            pending[key].popleft()
            if not pending[key]:
                del pending[key]
        if response.get("FailedRecordCount"):
            time.sleep(THROTTLED_PAUSE_SECONDS)
    return time.perf_counter() - started


def run(emulator: Emulator) -> dict:
    spec = bench_spec(emulator)
    records = [
        (f"key-{index % N_KEYS}", f"{index:012d}".encode().ljust(RECORD_BYTES, b"."))
        for index in range(N_RECORDS)
    ]
    since = time.time() - 1
    put_seconds = {
        side: round(
            fill(emulator.client("kinesis", side), spec.streams[0].name_in(side), records), 1
        )
        for side in ("new", "old")
    }
    aws = AwsAccess.for_emulator(spec, emulator)
    runs = {}
    for name, reads_per_second in (("paced", 1.0), ("max_rate", 5.0)):
        options = VerifyOptions(grace_seconds=0, reads_per_second=reads_per_second)
        report = verify(spec, aws, since_window(since), options).document
        if not report["passed"]:
            raise RuntimeError(f"verify failed on a clean copy: {report['totals']}")
        shards = report["streams"]["events"]
        runs[name] = {
            "max_reads_per_shard_per_second": reads_per_second,
            "records_read": report["records_read"],
            "matched": report["totals"]["matched"],
            "seconds": report["seconds"],
            "records_per_second": report["records_per_second"],
            "get_records_calls": sum(
                shard["get_records_calls"]
                for side in ("new", "old")
                for shard in shards[side]["shards"].values()
            ),
        }
    return {
        "benchmark": "verify_on_emulator",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "records_per_stream": N_RECORDS,
        "keys": N_KEYS,
        "shards": SHARDS,
        "record_bytes": RECORD_BYTES,
        "put_seconds": put_seconds,
        "verify": runs,
        "records_per_second": runs["paced"]["records_per_second"],
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="turnout-bench-verify-") as tmp:
        profile = os.environ.get("BENCH_PROFILE") or "aws"
        emulator = Emulator(Path(tmp) / "emulator", profile=profile).start()
        try:
            result = run(emulator)
        finally:
            emulator.stop()
        result["profile"] = profile
    line = json.dumps(result)
    print(json.dumps(result, indent=2))
    if len(sys.argv) > 1:
        with open(sys.argv[1], "a", encoding="utf-8") as out:
            out.write(line + "\n")


if __name__ == "__main__":
    main()
