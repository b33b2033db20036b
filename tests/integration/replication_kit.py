"""Helpers for the replication acceptance tests and the replication benchmark.

They deploy ``tests/integration/specs/replication.yaml`` with the real Terraform into a local
emulator, run the deployed replicator under the local Lambda runtime, put keyed records, read
streams back and check delivery (nothing lost, per-key order, duplicates counted).

Both environments are applied in parallel, each by its own process with its own Terraform work
directory (``TerraformRunner`` serialises Terraform runs of one process behind a lock around
``os.environ``; separate processes and work dirs keep the states, plans and CLI configs apart).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from turnout.aws.access import AwsAccess
from turnout.aws.mappings import settle_mapping
from turnout.deploy.package import HANDLER_NAME, build_replicator_package, replicator_files
from turnout.deploy.render import render_environments
from turnout.deploy.state_bootstrap import bootstrap_state_bucket
from turnout.sandbox.emulator.launcher import Emulator
from turnout.sandbox.lambda_runtime import LocalLambdaRuntime
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec
from turnout.spec.names import direction_parameter, names

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = Path(__file__).resolve().parent / "specs" / "replication.yaml"
ENVIRONMENTS = ("old", "new")


_APPLY_ONE = """
import json, sys
from pathlib import Path
from turnout import deploy
from turnout.project import Project
root, spec_path, work_dir, environment, endpoint, var_file = sys.argv[1:]
project = Project(root=Path(root), spec_path=Path(spec_path), work_dir=Path(work_dir))
summary = deploy.plan_and_apply(project, environment, aws_endpoint_url=endpoint, var_file=Path(var_file))
print(json.dumps(dict(summary.totals)))
"""


@dataclass
class Deployment:
    """The replication spec applied into one emulator, both environments."""

    emulator: Emulator
    work_dir: Path
    spec: MigrationSpec = field(default_factory=lambda: load_spec(SPEC_PATH))
    applies: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------------ Terraform
    def apply(self, phase: str) -> dict[str, dict]:
        """Render both environments at ``phase`` and plan+apply them in parallel."""
        vars_dir = self.work_dir / "tfvars" / phase
        vars_dir.mkdir(parents=True, exist_ok=True)
        # The state bucket (the spec names none: on the emulator, the default one).
        bootstrap_state_bucket(
            self.spec, AwsAccess.for_emulator(self.spec, self.emulator), progress=lambda _: None
        )
        build_replicator_package().write(REPO)
        rendered = render_environments(
            self.spec, REPO / "terraform", phase=phase, output_dir=vars_dir
        )
        started = time.monotonic()
        totals: dict[str, dict] = {}
        processes = {}
        for item in rendered:
            item.write()
            work = self.work_dir / "terraform-work" / item.environment
            work.mkdir(parents=True, exist_ok=True)
            log = open(work / f"apply-{phase}.log", "wb")  # noqa: SIM115 - closed below
            env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
            command = [
                sys.executable,
                "-c",
                _APPLY_ONE,
                str(REPO),
                str(SPEC_PATH),
                str(work),
                item.environment,
                self.emulator.endpoint_url,
                str(item.path),
            ]
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env)
            processes[item.environment] = (proc, log, work / f"apply-{phase}.log")
        failures = []
        for environment, (proc, log, log_path) in processes.items():
            out, _ = proc.communicate(timeout=900)
            log.close()
            if proc.returncode != 0:
                failures.append(f"{environment}: {log_path.read_text()[-3000:]}")
            else:
                totals[environment] = json.loads(out.decode().strip().splitlines()[-1])
        if failures:
            raise AssertionError("terraform apply failed: " + "\n".join(failures))
        elapsed = time.monotonic() - started
        self.applies.append({"phase": phase, "seconds": round(elapsed, 1), "totals": totals})
        print(f"[terraform] phase {phase}: applied both environments in {elapsed:.1f}s {totals}")
        return totals

    # ------------------------------------------------------------------ names
    def account(self, environment: str) -> str:
        return getattr(self.spec.environments, environment).account_id

    def client(self, service: str, environment: str) -> Any:
        return self.emulator.client(service, self.account(environment))

    def stream_name(self, logical: str, environment: str) -> str:
        (stream,) = [s for s in self.spec.streams if s.name == logical]
        return stream.name_in(environment)

    def function_name(self, environment: str) -> str:
        return names(self.spec, environment).replicator

    def function_arn(self, environment: str) -> str:
        return (
            f"arn:aws:lambda:{self.emulator.region}:{self.account(environment)}:function:"
            f"{self.function_name(environment)}"
        )

    def ledger_table(self, environment: str) -> str:
        peer = "old" if environment == "new" else "new"
        prefix = getattr(self.spec.environments, environment).name_prefix
        return f"{prefix}turnout-ledger-{environment}-to-{peer}"

    @property
    def direction_parameter(self) -> str:
        return direction_parameter(self.spec)

    def mapping_uuid(self, environment: str, logical: str) -> str:
        lam = self.client("lambda", environment)
        source = self.stream_name(logical, environment)
        for mapping in lam.list_event_source_mappings(FunctionName=self.function_name(environment))[
            "EventSourceMappings"
        ]:
            if mapping["EventSourceArn"].split("/")[-1] == source:
                return mapping["UUID"]
        raise AssertionError(f"no mapping of {self.function_name(environment)} reads {source}")

    def set_mapping_enabled(self, environment: str, logical: str, enabled: bool) -> str:
        uuid = self.mapping_uuid(environment, logical)
        # AWS changes a mapping's state asynchronously and refuses updates meanwhile: settle it.
        settle_mapping(
            self.client("lambda", environment),
            uuid,
            enabled,
            timeout_seconds=60,
            clock=time.monotonic,
            sleep=time.sleep,
            poll_seconds=0.2,
        )
        return uuid

    def directions(self) -> dict[str, str]:
        return {
            environment: self.client("ssm", environment).get_parameter(
                Name=self.direction_parameter
            )["Parameter"]["Value"]
            for environment in ENVIRONMENTS
        }

    def set_directions(self, old: str, new: str) -> None:
        for environment, value in (("old", old), ("new", new)):
            self.client("ssm", environment).put_parameter(
                Name=self.direction_parameter, Value=value, Type="String", Overwrite=True
            )

    # ------------------------------------------------------------------ runtime
    def runtime(self, state_dir: Path, **kwargs: Any) -> LocalLambdaRuntime:
        """A runtime limited to this deployment's accounts and replicator functions."""
        arns = {self.function_arn(environment) for environment in ENVIRONMENTS}
        params: dict[str, Any] = {
            # Under the aws profile a shard serves 5 GetRecords calls a second to all readers.
            "poll_interval": 0.2 if self.emulator.profile.shard_limits else 0.1,
            "refresh_interval": 0.5,
            "retry_backoff": 0.2,
            "max_retry_backoff": 1.0,
            "stop_grace": 10.0,
            "mapping_filter": lambda mapping: mapping.function_arn in arns,
            "profile": self.emulator.profile,
        }
        params.update(kwargs)
        return LocalLambdaRuntime(
            self.emulator.endpoint_url,
            [self.account(environment) for environment in ENVIRONMENTS],
            [self.emulator.region],
            state_dir,
            **params,
        )

    def runtime_cli(self, state_dir: Path, log_file: Path) -> subprocess.Popen[bytes]:
        """``python -m turnout.sandbox.lambda_runtime`` in its own session, scoped to our two accounts."""
        pid_file = state_dir / "lambda-runtime.pid"
        command = [
            sys.executable,
            "-m",
            "turnout.sandbox.lambda_runtime",
            "--endpoint",
            self.emulator.endpoint_url,
            "--accounts",
            ",".join(self.account(environment) for environment in ENVIRONMENTS),
            "--regions",
            self.emulator.region,
            "--state-dir",
            str(state_dir),
            "--pid-file",
            str(pid_file),
            "--log-file",
            str(log_file),
            "--poll-interval",
            "0.2" if self.emulator.profile.shard_limits else "0.1",
            "--refresh-interval",
            "0.5",
            "--retry-backoff",
            "0.2",
            "--max-retry-backoff",
            "1.0",
            "--stop-grace",
            "10",
            "--profile-file",
            str(self.emulator.profile_file),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        proc = subprocess.Popen(command, env=env, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if pid_file.is_file() and pid_file.read_text().strip() == str(proc.pid):
                return proc
            if proc.poll() is not None:
                raise AssertionError(f"the runtime CLI exited at once ({proc.returncode})")
            time.sleep(0.05)
        stop_process(proc)
        raise AssertionError("the runtime CLI did not write its pid file")

    def function_log(self, state_dir: Path, environment: str) -> Path:
        return (
            state_dir
            / "function-logs"
            / f"{self.account(environment)}-{self.emulator.region}-{self.function_name(environment)}.log"
        )

    # ------------------------------------------------------------------ function code
    def deploy_code(self, environment: str, files: dict[str, bytes], handler: str) -> str:
        """Replace the function's code and handler (as an operator with the Lambda API would);
        returns the new CodeSha256."""
        lam = self.client("lambda", environment)
        name = self.function_name(environment)
        response = lam.update_function_code(FunctionName=name, ZipFile=make_zip(files))
        lam.update_function_configuration(FunctionName=name, Handler=handler)
        return response["CodeSha256"]

    def restore_code(self, environment: str) -> str:
        return self.deploy_code(environment, replicator_files(), HANDLER_NAME)

    # ------------------------------------------------------------------ ledger
    def ledger(self, environment: str) -> dict[str, dict[str, Any]]:
        ddb = self.client("dynamodb", environment)
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.ledger_table(environment)}
        while True:
            response = ddb.scan(**kwargs)
            items.extend(response["Items"])
            if "LastEvaluatedKey" not in response:
                break
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        out = {}
        for item in items:
            if "last_sequence_number" not in item:
                continue  # only duplicate/inversion counts so far: nothing recorded as written
            out[item["shard_key"]["S"]] = {
                "last_sequence_number": item["last_sequence_number"]["S"],
                "record_count": int(item["record_count"]["N"]),
                "direction": item["direction"]["S"],
                "target_stream": item["target_stream"]["S"],
            }
        return out


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(files.items()):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def stop_process(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 15.0
) -> None:
    """Signal a process group we started (by its leader's PID), then SIGKILL after ``grace``."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


# ---------------------------------------------------------------------- records


@dataclass(frozen=True)
class Record:
    key: str
    n: int  # per-key sequence number given by the producer
    tag: str

    def data(self, pad: int) -> bytes:
        head = f"{self.tag}|{self.key}|{self.n}|"
        return (head + "x" * max(0, pad - len(head))).encode()


def parse(data: bytes) -> tuple[str, str, int] | None:
    try:
        tag, key, n, _ = data.decode().split("|", 3)
        return tag, key, int(n)
    except (UnicodeDecodeError, ValueError):
        return None


def keyed_records(
    tag: str, count: int, keys: int, *, seed: int = 7, key_prefix: str | None = None
) -> list[Record]:
    """``count`` records over ``keys`` partition keys chosen at random (uneven runs), each with
    its per-key sequence number."""
    rng = random.Random(seed)
    counters: dict[str, int] = defaultdict(int)
    prefix = key_prefix if key_prefix is not None else f"{tag}-k"
    out = []
    for _ in range(count):
        key = f"{prefix}{rng.randrange(keys):04d}"
        out.append(Record(key, counters[key], tag))
        counters[key] += 1
    return out


def put_records(
    kinesis: Any,
    stream: str,
    records: Iterable[Record],
    *,
    pad: int = 100,
    per_call: int = 500,
    progress: Callable[[int], None] | None = None,
) -> int:
    """PutRecords, up to ``per_call`` entries per call, keeping each key's order as a careful
    producer must: a call holds at most one record per key, and a key's next record is sent only
    once its predecessor was accepted. A throttled entry (per-shard write limits) stays its
    key's head and is sent again; nothing accepted is sent twice. (Re-sending a whole call's
    tail after its first failed entry, as this helper once did, wrote duplicates into the source
    and could put a key's later record before an earlier one that was throttled in the same
    call.) Returns the calls made."""
    pending = list(records)
    calls = 0
    sent = 0
    while pending:
        call: list[Record] = []
        deferred: list[Record] = []
        keys: set[str] = set()
        for record in pending:
            if len(call) < per_call and record.key not in keys:
                call.append(record)
            else:
                deferred.append(record)
            keys.add(record.key)
        response = kinesis.put_records(
            StreamName=stream,
            Records=[{"Data": r.data(pad), "PartitionKey": r.key} for r in call],
        )
        calls += 1
        failed = [r for r, e in zip(call, response["Records"], strict=True) if "ErrorCode" in e]
        sent += len(call) - len(failed)
        if failed:
            # Failed entries keep their place ahead of the later records of their keys.
            order = {id(r): n for n, r in enumerate(pending)}
            pending = sorted(failed + deferred, key=lambda r: order[id(r)])
            time.sleep(0.05)
        else:
            pending = deferred
        if progress:
            progress(sent)
    return calls


def read_stream(kinesis: Any, stream: str) -> dict[str, list[dict[str, Any]]]:
    """Every record of every shard, in shard order: {shard id: [GetRecords record, ...]}."""
    out: dict[str, list[dict[str, Any]]] = {}
    shards = kinesis.list_shards(StreamName=stream)["Shards"]
    for shard in shards:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records: list[dict[str, Any]] = []
        while iterator:
            response = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            batch = response["Records"]
            records.extend(batch)
            iterator = response.get("NextShardIterator")
            if not batch:
                break
        out[shard["ShardId"]] = records
    return out


def tagged(
    stream: dict[str, list[dict[str, Any]]], tags: set[str] | None = None
) -> dict[str, list[tuple[str, str, int]]]:
    """Per shard: (tag, key, n) of the records whose tag is in ``tags`` (all parsable ones when
    None), in shard order."""
    out: dict[str, list[tuple[str, str, int]]] = {}
    for shard, records in stream.items():
        rows = []
        for record in records:
            parsed = parse(record["Data"])
            if parsed is not None and (tags is None or parsed[0] in tags):
                rows.append(parsed)
        out[shard] = rows
    return out


@dataclass
class Delivery:
    source_records: int
    target_records: int
    unique_delivered: int
    lost: list[tuple[str, str, int]]
    duplicates: int
    keys: int
    order_violations: list[str]
    unexpected: list[tuple[str, str, int]]

    @property
    def ok(self) -> bool:
        return not self.lost and not self.order_violations and not self.unexpected

    def summary(self) -> str:
        return (
            f"source={self.source_records} target={self.target_records} "
            f"unique={self.unique_delivered} lost={len(self.lost)} duplicates={self.duplicates} "
            f"keys={self.keys} order_violations={len(self.order_violations)} "
            f"unexpected={len(self.unexpected)}"
        )


def check_delivery(
    source: dict[str, list[tuple[str, str, int]]],
    target: dict[str, list[tuple[str, str, int]]],
) -> Delivery:
    """Compare per-key sequences: every source record is in the target, the target's first
    occurrences per key are exactly the source's order, nothing the source lacks appears."""
    source_by_key: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    for rows in source.values():
        for row in rows:
            source_by_key[row[1]].append(row)
    target_by_key: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    target_total = 0
    for rows in target.values():
        for row in rows:
            target_by_key[row[1]].append(row)
            target_total += 1
    source_set = {row for rows in source_by_key.values() for row in rows}
    lost: list[tuple[str, str, int]] = []
    violations: list[str] = []
    unexpected: list[tuple[str, str, int]] = []
    unique = 0
    for key, expected in source_by_key.items():
        seen: set[tuple[str, str, int]] = set()
        firsts = []
        for row in target_by_key.get(key, []):
            if row not in seen:
                seen.add(row)
                firsts.append(row)
        unique += len(firsts)
        lost.extend(row for row in expected if row not in seen)
        # The source's own first occurrences are the order to keep (a producer's retry may
        # have written a record twice).
        source_firsts = list(dict.fromkeys(expected))
        if [row for row in firsts if row in source_set] != [r for r in source_firsts if r in seen]:
            violations.append(key)
    for rows in target_by_key.values():
        unexpected.extend(row for row in rows if row not in source_set)
    return Delivery(
        source_records=len(source_set),
        target_records=target_total,
        unique_delivered=unique,
        lost=lost,
        duplicates=target_total - unique - len(unexpected),
        keys=len(source_by_key),
        order_violations=violations,
        unexpected=unexpected,
    )


def wait_for(
    predicate: Callable[[], bool],
    timeout: float,
    *,
    what: str,
    progress: Callable[[], str] | None = None,
    every: float = 5.0,
    interval: float = 0.25,
) -> float:
    """Poll ``predicate`` until true; print progress every ``every`` s; fail after ``timeout``.
    Returns the seconds waited."""
    started = time.monotonic()
    next_report = started + every
    while True:
        if predicate():
            return time.monotonic() - started
        now = time.monotonic()
        if now - started > timeout:
            detail = progress() if progress else ""
            raise AssertionError(f"{what}: not reached within {timeout:.0f}s {detail}")
        if progress and now >= next_report:
            print(f"[wait {now - started:5.1f}s] {what}: {progress()}", flush=True)
            next_report = now + every
        time.sleep(interval)


def shard_ends(stream: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Last sequence number of each non-empty shard."""
    return {shard: records[-1]["SequenceNumber"] for shard, records in stream.items() if records}


def ledger_caught_up(
    ledger: dict[str, dict[str, Any]], stream_name: str, ends: dict[str, str]
) -> bool:
    for shard, last in ends.items():
        item = ledger.get(f"{stream_name}/{shard}")
        if item is None or int(item["last_sequence_number"]) < int(last):
            return False
    return True


def ledger_progress(
    ledger: dict[str, dict[str, Any]], stream_name: str, ends: dict[str, str]
) -> str:
    parts = []
    for shard, last in sorted(ends.items()):
        item = ledger.get(f"{stream_name}/{shard}")
        done = item["last_sequence_number"] if item else "-"
        parts.append(f"{shard[-4:]}:{done}/{last}")
    return " ".join(parts)


def count_log_messages(path: Path, message: str) -> int:
    if not path.is_file():
        return 0
    count = 0
    for line in path.read_text(errors="replace").splitlines():
        if f'"message": "{message}"' in line or f'"message":"{message}"' in line:
            count += 1
    return count


def sha256_b64(content: bytes) -> str:
    return base64.b64encode(hashlib.sha256(content).digest()).decode()


# ---------------------------------------------------------------------- fault wrappers
# Test-only handler modules deployed *beside* the unchanged production replicator package; the
# production handler has no fault hooks.

CHAOS_SOURCE = '''\
"""Test-only wrapper: on every {every}th invocation (at most {max_raises} times) it writes the
first half of the batch through the real replicator handler, then raises: a function error in
the middle of a batch, after part of it reached the target stream."""
import json

import replicator

_INVOCATIONS = 0
_RAISED = 0


def handler(event, context):
    global _INVOCATIONS, _RAISED
    _INVOCATIONS += 1
    records = event.get("Records") or []
    if len(records) >= 2 and _RAISED < {max_raises} and _INVOCATIONS % {every} == 0:
        prefix = dict(event, Records=records[: len(records) // 2])
        replicator.handler(prefix, context)
        _RAISED += 1
        print(json.dumps({{"message": "chaos_raise", "written_prefix": len(prefix["Records"]),
                          "batch": len(records)}}), flush=True)
        raise RuntimeError("chaos: the function failed after writing part of its batch")
    return replicator.handler(event, context)
'''

EXPIRY_SOURCE = '''\
"""Test-only wrapper: each writer-role session expires after {uses} requests.

moto never expires STS sessions, so the expiry is enforced at the HTTP boundary of this
process: a botocore before-call hook answers any request signed with an assumed-role key that
has already made {uses} requests with HTTP 400 ExpiredTokenException, as AWS does once a session
is past its expiry. Counting requests instead of seconds makes the expiry land mid-run however
fast the machine replicates. The function's own (execution role) credentials are left alone.
The real replicator handler runs unchanged and believes its sessions last an hour, so it meets
the expiry mid-run."""
import json
import os

import boto3
from botocore.awsrequest import AWSResponse

import replicator

USES = {uses}
_OWN_KEY = os.environ.get("AWS_ACCESS_KEY_ID")
_REQUESTS = {{}}
_INJECTED = 0


def _expire(model=None, request_signer=None, **kwargs):
    global _INJECTED
    credentials = getattr(request_signer, "_credentials", None)
    if credentials is None:
        return None
    key = credentials.get_frozen_credentials().access_key
    if key == _OWN_KEY:
        return None
    _REQUESTS[key] = _REQUESTS.get(key, 0) + 1
    if _REQUESTS[key] <= USES:
        return None
    _INJECTED += 1
    print(json.dumps({{"message": "expired_token_injected", "operation": model.name,
                      "count": _INJECTED}}), flush=True)
    error = {{"Code": "ExpiredTokenException",
             "Message": "The security token included in the request is expired"}}
    return (AWSResponse("https://expired.invalid/", 400, {{}}, None),
            {{"Error": error, "ResponseMetadata": {{"HTTPStatusCode": 400}}}})


boto3._get_default_session().events.register("before-call", _expire)


def handler(event, context):
    return replicator.handler(event, context)
'''


def chaos_files(every: int = 3, max_raises: int = 6) -> dict[str, bytes]:
    return {
        **replicator_files(),
        "chaos.py": CHAOS_SOURCE.format(every=every, max_raises=max_raises).encode(),
    }


def expiry_files(uses: int = 10) -> dict[str, bytes]:
    return {
        **replicator_files(),
        "expiry.py": EXPIRY_SOURCE.format(uses=uses).encode(),
    }
