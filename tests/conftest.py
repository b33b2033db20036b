"""Shared fixtures: the local AWS emulator (one per test session) and helpers for tests that
need streams, functions and event source mappings in it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import textwrap
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from turnout.aws.access import AwsAccess
from turnout.sandbox.emulator.launcher import Emulator, EmulatorError
from turnout.sandbox.lambda_runtime import LocalLambdaRuntime
from turnout.sandbox.pipeline.apis import create_api_zones
from turnout.spec.loader import load_spec

EXAMPLE_SPEC = Path(__file__).resolve().parents[1] / "terraform" / "migration.yaml"

REGION = "eu-west-1"


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """moto server on loopback, started once per session and stopped by PID at the end.
    Fails (never skips) when it cannot start."""
    emu = Emulator(tmp_path_factory.mktemp("emulator"), region=REGION)
    try:
        emu.start()
    except EmulatorError as exc:
        pytest.fail(f"the local AWS emulator did not start: {exc}", pytrace=False)
    try:
        # The example spec's API names its hosted zone, existing DNS an operator's account has
        # (the sandbox creates it at `up`): Terraform of the example looks it up by name.
        spec = load_spec(EXAMPLE_SPEC)
        create_api_zones(spec, AwsAccess.for_emulator(spec, emu), progress=lambda _: None)
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="session")
def aws_client(emulator: Emulator) -> Callable[..., Any]:
    """``aws_client(service, account="old"|"new"|<id>, region=REGION)`` -> boto3 client."""

    def _client(service: str, account: str = "old", region: str = REGION) -> Any:
        return emulator.client(service, account, region)

    return _client


@pytest.fixture
def old_account(emulator: Emulator) -> str:
    return emulator.old_account_id


@pytest.fixture
def new_account(emulator: Emulator) -> str:
    return emulator.new_account_id


# --------------------------------------------------------------------------- Lambda test kit

RECORDER_SOURCE = textwrap.dedent(
    '''
    """Test function: records every invocation in a DynamoDB table of its own account and fails
    on demand on "marker" records (data starting with MARKER)."""
    import base64
    import json
    import os
    import time

    import boto3

    ddb = boto3.client("dynamodb")
    TABLE = os.environ["TABLE"]


    def _bump(seq):
        resp = ddb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": "counter#" + seq}},
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        return int(resp["Attributes"]["n"]["N"])


    def handler(event, context):
        start = time.time()
        records = event["Records"]
        seqs = [r["kinesis"]["sequenceNumber"] for r in records]
        datas = [base64.b64decode(r["kinesis"]["data"]).decode() for r in records]
        mode = os.environ.get("MODE", "ok")
        marker = os.environ.get("MARKER", "FAIL")
        fail_times = int(os.environ.get("FAIL_TIMES", "-1"))
        bad = []
        for seq, data in zip(seqs, datas):
            if data.startswith(marker):
                count = _bump(seq)
                if fail_times < 0 or count <= fail_times:
                    bad.append(seq)
        time.sleep(float(os.environ.get("SLEEP", "0")))
        outcome = "ok"
        result = None
        if bad and mode == "raise":
            outcome = "error"
        elif bad and mode == "report":
            outcome = "partial"
            result = {"batchItemFailures": [{"itemIdentifier": s} for s in reversed(bad)]}
        elif bad and mode == "malformed":
            outcome = "malformed"
            result = {"batchItemFailures": [{"itemIdentifier": ""}]}
        elif bad and mode == "timeout":
            outcome = "timeout"
        item = {
            "pk": {"S": "inv#" + context.aws_request_id},
            "seqs": {"S": json.dumps(seqs)},
            "datas": {"S": json.dumps(datas)},
            "shard": {"S": records[0]["eventID"].split(":")[0]},
            "start": {"N": repr(start)},
            "end": {"N": repr(time.time())},
            "outcome": {"S": outcome},
            "remaining_ms": {"N": str(context.get_remaining_time_in_millis())},
            "function": {"S": context.function_name},
            "arn": {"S": context.invoked_function_arn},
            "first": {"S": json.dumps(records[0])},
        }
        if os.environ.get("WHOAMI"):
            item["account"] = {"S": boto3.client("sts").get_caller_identity()["Account"]}
        ddb.put_item(TableName=TABLE, Item=item)
        if outcome == "error":
            raise RuntimeError("marker record " + ",".join(bad))
        if outcome == "timeout":
            time.sleep(3600)
        return result
    '''
)


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, text)
    return buf.getvalue()


class LambdaKit:
    """Creates uniquely named resources in the emulator and runtimes limited to them."""

    recorder_source = RECORDER_SOURCE
    make_zip = staticmethod(make_zip)

    def __init__(self, emulator: Emulator, tmp_path: Path) -> None:
        self.emu = emulator
        self.tmp_path = tmp_path
        self.tag = uuid.uuid4().hex[:8]
        self.function_arns: set[str] = set()
        self.mappings: list[tuple[str, str]] = []  # (account, uuid)
        self.runtimes: list[LocalLambdaRuntime] = []

    def client(self, service: str, account: str = "old") -> Any:
        return self.emu.client(service, account, REGION)

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.tag}"

    def role(self, account: str = "old") -> str:
        iam = self.client("iam", account)
        name = "turnout-test-function"
        try:
            return iam.get_role(RoleName=name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            doc = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(doc))["Role"][
                "Arn"
            ]

    def stream(self, account: str = "old", shards: int = 1, name: str | None = None) -> str:
        kinesis = self.client("kinesis", account)
        name = name or self.name("stream")
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "StreamARN"
        ]

    def table(self, account: str = "old", name: str | None = None) -> str:
        name = name or self.name("table")
        self.client("dynamodb", account).create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        return name

    def queue(self, account: str = "old") -> tuple[str, str]:
        sqs = self.client("sqs", account)
        url = sqs.create_queue(QueueName=self.name("failures"))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        return url, arn

    def function(
        self,
        account: str = "old",
        *,
        table: str,
        env: dict[str, str] | None = None,
        timeout: int = 10,
        name: str | None = None,
        source: str = RECORDER_SOURCE,
    ) -> str:
        lam = self.client("lambda", account)
        resp = lam.create_function(
            FunctionName=name or self.name("fn"),
            Runtime="python3.11",
            Role=self.role(account),
            Handler="recorder.handler",
            Code={"ZipFile": make_zip({"recorder.py": source})},
            Timeout=timeout,
            Environment={"Variables": {"TABLE": table, **(env or {})}},
        )
        self.function_arns.add(resp["FunctionArn"])
        return resp["FunctionArn"]

    def mapping(
        self, account: str, function_arn: str, stream_arn: str, settle: bool = True, **kwargs: Any
    ) -> str:
        """Create a mapping and (unless `settle` is False) wait until it has left Creating, as
        Terraform's provider waits: under the aws profile a new mapping is Creating for a while,
        as on AWS, and a pause or a drain check meanwhile would meet a half-made mapping."""
        kwargs.setdefault("StartingPosition", "TRIM_HORIZON")
        lam = self.client("lambda", account)
        resp = lam.create_event_source_mapping(
            FunctionName=function_arn, EventSourceArn=stream_arn, **kwargs
        )
        self.mappings.append((account, resp["UUID"]))
        if settle:
            self.wait_for(
                lambda: (
                    lam.get_event_source_mapping(UUID=resp["UUID"])["State"]
                    in ("Enabled", "Disabled")
                ),
                timeout=60,
            )
        return resp["UUID"]

    def set_enabled(self, account: str, mapping_uuid: str, enabled: bool) -> dict[str, Any]:
        """Enable/disable a mapping and wait until its state settles (under the aws profile a
        mapping spends a while Enabling/Disabling and refuses updates meanwhile, as on AWS)."""
        from turnout.aws.mappings import settle_mapping

        return settle_mapping(
            self.client("lambda", account),
            mapping_uuid,
            enabled,
            timeout_seconds=30,
            clock=time.monotonic,
            sleep=time.sleep,
            poll_seconds=0.2,
        )

    def put(
        self, stream_arn: str, datas: list[str], account: str = "old", key: str = "k"
    ) -> list[str]:
        """Put records in order (one partition key: one shard); returns sequence numbers."""
        kinesis = self.client("kinesis", account)
        seqs = []
        for data in datas:
            resp = kinesis.put_record(StreamARN=stream_arn, Data=data.encode(), PartitionKey=key)
            seqs.append(resp["SequenceNumber"])
        return seqs

    def invocations(self, table: str, account: str = "old") -> list[dict[str, Any]]:
        ddb = self.client("dynamodb", account)
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": table}
        while True:
            resp = ddb.scan(**kwargs)
            items.extend(resp["Items"])
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        out = []
        for item in items:
            if not item["pk"]["S"].startswith("inv#"):
                continue
            out.append(
                {
                    "seqs": json.loads(item["seqs"]["S"]),
                    "datas": json.loads(item["datas"]["S"]),
                    "shard": item["shard"]["S"],
                    "start": float(item["start"]["N"]),
                    "end": float(item["end"]["N"]),
                    "outcome": item["outcome"]["S"],
                    "remaining_ms": int(item["remaining_ms"]["N"]),
                    "function": item["function"]["S"],
                    "arn": item["arn"]["S"],
                    "first": json.loads(item["first"]["S"]),
                    "account": item.get("account", {}).get("S"),
                }
            )
        return sorted(out, key=lambda i: i["start"])

    def processed(self, table: str, account: str = "old") -> list[str]:
        """Data of every record of every successful invocation, in invocation order."""
        out: list[str] = []
        for inv in self.invocations(table, account):
            if inv["outcome"] == "ok":
                out.extend(inv["datas"])
        return out

    def runtime(self, state_dir: Path | None = None, **kwargs: Any) -> LocalLambdaRuntime:
        params: dict[str, Any] = {
            # Under the aws profile a shard serves 5 GetRecords calls a second to all its readers.
            "poll_interval": 0.2 if self.emu.profile.shard_limits else 0.05,
            "refresh_interval": 0.2,
            "retry_backoff": 0.05,
            "max_retry_backoff": 0.2,
            "stop_grace": 3.0,
            "mapping_filter": lambda m: m.function_arn in self.function_arns,
            "profile": self.emu.profile,
        }
        params.update(kwargs)
        rt = LocalLambdaRuntime(
            self.emu.endpoint_url,
            [self.emu.old_account_id, self.emu.new_account_id],
            [REGION],
            state_dir or self.tmp_path / "runtime",
            **params,
        )
        self.runtimes.append(rt)
        return rt

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        assert predicate(), "condition not reached in time"

    def close(self) -> None:
        for rt in self.runtimes:
            rt.stop()
        for account, mapping_uuid in self.mappings:
            with contextlib.suppress(Exception):
                self.client("lambda", account).delete_event_source_mapping(UUID=mapping_uuid)


@pytest.fixture
def lambda_kit(emulator: Emulator, tmp_path: Path) -> Iterator[LambdaKit]:
    kit = LambdaKit(emulator, tmp_path)
    try:
        yield kit
    finally:
        kit.close()


@pytest.fixture
def lambda_kit_for(tmp_path: Path) -> Iterator[Callable[[Emulator], LambdaKit]]:
    """``lambda_kit_for(emulator)``: a LambdaKit on another emulator (e.g. one of another
    fidelity profile), closed at the end of the test."""
    kits: list[LambdaKit] = []

    def make(emu: Emulator) -> LambdaKit:
        kit = LambdaKit(emu, tmp_path / f"kit-{len(kits)}")
        kits.append(kit)
        return kit

    yield make
    for kit in kits:
        kit.close()


# --------------------------------------------------------------------- the order of test files
# pytest-xdist gives each worker whole files (--dist loadfile) in collection order
# (--no-loadscope-reorder; its own order puts files with many tests first, which started the
# ten-minute single-test files last). The files that take minutes go first, slowest first, so the
# workers finish together. Their seconds come from the per-file table each run prints.
SLOW_FILES = Path(__file__).with_name("slow_files.json")
_file_seconds: dict[str, float] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seconds = json.loads(SLOW_FILES.read_text(encoding="utf-8"))
    items.sort(key=lambda item: -seconds.get(item.nodeid.split("::", 1)[0], 0))
    if os.environ.get("TURNOUT_TEST_SCOPE") != "full":
        # `make test` (CI) leaves out the scenarios marked full_scope, listed as deselected;
        # `make test-full` runs them (README says which and why).
        long = {item for item in items if item.get_closest_marker("full_scope")}
        if long:
            config.hook.pytest_deselected(items=list(long))
            items[:] = [item for item in items if item not in long]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    _file_seconds[path] = _file_seconds.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    slowest = sorted(_file_seconds.items(), key=lambda entry: -entry[1])[:25]
    if not slowest:
        return
    terminalreporter.write_sep(
        "=", f"seconds per test file (slowest {len(slowest)}; {SLOW_FILES.name})"
    )
    for path, seconds in slowest:
        terminalreporter.write_line(f"{seconds:8.1f}  {path}")
