"""The sample pipeline's consumers, created with boto3 the way the user's own tooling would have
created them (not by turnout's Terraform): per environment a processed table, a markers table
(unless turnout's Terraform already made it), an execution role, and for every Lambda consumer the
spec declares, a function running ``consumer.py`` with one event source mapping per stream.

Baseline: the old environment's mappings are enabled, the new one's are created disabled (paused).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from turnout.sandbox.names import consumer_role_name, processed_table_name
from turnout.spec.model import MigrationSpec
from turnout.spec.names import names, stream_arn
from turnout.spec.phases import ENVIRONMENTS

CONSUMER_SOURCE = Path(__file__).with_name("consumer.py")
CONSUMER_HANDLER = "consumer.handler"
CONSUMER_RUNTIME = "python3.12"
MAPPING_SETTINGS = {
    "BatchSize": 100,
    "MaximumBatchingWindowInSeconds": 1,
    "StartingPosition": "TRIM_HORIZON",
    "FunctionResponseTypes": ["ReportBatchItemFailures"],
}
_FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ConsumerFunction:
    environment: str
    function_name: str
    streams: tuple[str, ...]  # logical names
    stream_arns: tuple[str, ...]


def consumer_package() -> bytes:
    """The consumer's deployment zip (deterministic: same source, same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        entry = zipfile.ZipInfo("consumer.py", date_time=_FIXED_TIMESTAMP)
        entry.external_attr = 0o644 << 16
        entry.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(entry, CONSUMER_SOURCE.read_bytes())
    return buffer.getvalue()


def lambda_consumers(spec: MigrationSpec, environment: str | None = None) -> list[ConsumerFunction]:
    """The spec's Lambda consumers (other kinds are not part of the sample pipeline)."""
    streams = {stream.name: stream for stream in spec.streams}
    found = []
    for env in ENVIRONMENTS if environment is None else (environment,):
        place = getattr(spec.environments, env)
        for consumer in getattr(spec.consumers, env):
            if consumer.kind != "lambda":
                continue
            found.append(
                ConsumerFunction(
                    environment=env,
                    function_name=consumer.function_name,
                    streams=tuple(consumer.streams),
                    stream_arns=tuple(
                        stream_arn(place.region, place.account_id, streams[name].name_in(env))
                        for name in consumer.streams
                    ),
                )
            )
    return found


def create_pipeline(spec: MigrationSpec, aws: Any, progress: Progress = print) -> dict:
    """Create (or complete) the sample pipeline in both environments; returns what exists."""
    package = consumer_package()
    created: dict[str, Any] = {}
    for environment in ENVIRONMENTS:
        tables = _ensure_tables(spec, aws, environment)
        role = _ensure_role(spec, aws, environment)
        functions = {}
        for consumer in lambda_consumers(spec, environment):
            _ensure_function(spec, aws, consumer, role, package)
            functions[consumer.function_name] = _ensure_mappings(
                aws, consumer, enabled=environment == "old"
            )
        created[environment] = {**tables, "role": role, "functions": functions}
        progress(
            f"sample pipeline ({environment}): {len(functions)} consumer function(s), "
            f"{sum(len(m) for m in functions.values())} mapping(s) "
            f"{'enabled' if environment == 'old' else 'disabled (paused)'}, "
            f"table {tables['processed_table']}, markers table {tables['markers_table']} "
            f"({'from Terraform' if tables['markers_owner'] == 'terraform' else 'created here'})"
        )
    for environment in ENVIRONMENTS:
        _wait_until_created(spec, aws, environment, progress)
    return created


SETTLED = ("Enabled", "Disabled")


def _wait_until_created(
    spec: MigrationSpec, aws: Any, environment: str, progress: Progress, timeout: float = 180.0
) -> None:
    """A new mapping is Creating for a while (AWS, and the emulator's aws profile); the
    pipeline is ready once every mapping is Enabled or Disabled, as a deployed one would be."""
    deadline = time.monotonic() + timeout
    while True:
        pending = [
            m for m in consumer_mappings(spec, aws, environment) if m["state"] not in SETTLED
        ]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the sample consumers' mappings in {environment} did not settle within "
                f"{timeout:.0f} s: " + ", ".join(f"{m['uuid']} {m['state']}" for m in pending)
            )
        progress(f"waiting for {len(pending)} {environment} consumer mapping(s) to be created ...")
        time.sleep(2.0)


def consumer_mappings(spec: MigrationSpec, aws: Any, environment: str) -> list[dict]:
    """The event source mappings of the environment's sample consumers."""
    lam = aws.client(environment, "lambda")
    found = []
    for consumer in lambda_consumers(spec, environment):
        for mapping in _mappings_of(lam, consumer.function_name):
            found.append(
                {
                    "uuid": mapping["UUID"],
                    "function": consumer.function_name,
                    "stream_arn": mapping["EventSourceArn"],
                    "state": mapping["State"],
                }
            )
    return found


def set_consumers_enabled(
    spec: MigrationSpec, aws: Any, environment: str, enabled: bool
) -> list[str]:
    """Enable (resume) or disable (pause) every sample consumer mapping of an environment.

    The cutover uses its own hooks for this; tests and the manual walkthrough use this one. The
    mappings change together and are waited for until their states settle (AWS changes them
    asynchronously and refuses an update meanwhile)."""
    from turnout.aws.mappings import settle_mappings

    uuids = [mapping["uuid"] for mapping in consumer_mappings(spec, aws, environment)]
    outcomes = settle_mappings(
        aws.client(environment, "lambda"),
        uuids,
        enabled,
        timeout_seconds=60,
        clock=time.monotonic,
        sleep=time.sleep,
        poll_seconds=0.5,
    )
    errors = [outcome["error"] for outcome in outcomes.values() if "error" in outcome]
    if errors:
        raise TimeoutError("; ".join(errors))
    return uuids


def markers_table_exists(spec: MigrationSpec, aws: Any, environment: str) -> bool:
    try:
        aws.client(environment, "dynamodb").describe_table(
            TableName=names(spec, environment).markers_table
        )
    except ClientError as problem:
        if problem.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return True


# ---------------------------------------------------------------------------------- internals
def _ensure_tables(spec: MigrationSpec, aws: Any, environment: str) -> dict:
    ddb = aws.client(environment, "dynamodb")
    processed = processed_table_name(spec, environment)
    ensure_table(ddb, processed, "processing_id")
    markers = names(spec, environment).markers_table
    # turnout's control plane creates the markers table once it is in Terraform; the sandbox
    # stands in for it only while it is not there (never a second owner of one table).
    markers_owner = "terraform"
    if not markers_table_exists(spec, aws, environment):
        ensure_table(ddb, markers, "marker_id")
        markers_owner = "sandbox"
    return {"processed_table": processed, "markers_table": markers, "markers_owner": markers_owner}


def ensure_table(ddb: Any, name: str, hash_key: str) -> None:
    """A sandbox table (on-demand, one string hash key), created unless it exists, ACTIVE."""
    try:
        ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": hash_key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": hash_key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            Tags=[{"Key": "sandbox", "Value": "sample-pipeline"}],
        )
    except ClientError as problem:
        if problem.response["Error"]["Code"] != "ResourceInUseException":
            raise
    deadline = time.monotonic() + 30
    while ddb.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise TimeoutError(f"table {name} did not become ACTIVE")
        time.sleep(0.2)


def _ensure_role(spec: MigrationSpec, aws: Any, environment: str) -> str:
    iam = aws.client(environment, "iam")
    name = consumer_role_name(spec, environment)
    try:
        return iam.get_role(RoleName=name)["Role"]["Arn"]
    except ClientError as problem:
        if problem.response["Error"]["Code"] != "NoSuchEntity":
            raise
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=name,
        PolicyName="sample-consumer",
        PolicyDocument=json.dumps(consumer_role_policy(spec, environment)),
    )
    return arn


def consumer_role_policy(spec: MigrationSpec, environment: str) -> dict:
    """What the consumers need on AWS (the emulator does not enforce it): read the streams, write
    the processed and markers tables, use the account's keys through Kinesis and DynamoDB, log."""
    account = getattr(spec.environments, environment).account_id
    region = getattr(spec.environments, environment).region
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "kinesis:DescribeStream",
                    "kinesis:DescribeStreamSummary",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                ],
                "Resource": f"arn:aws:kinesis:{region}:{account}:stream/*",
            },
            {
                "Effect": "Allow",
                "Action": ["dynamodb:PutItem", "dynamodb:BatchWriteItem"],
                "Resource": [
                    f"arn:aws:dynamodb:{region}:{account}:table/{processed_table_name(spec, environment)}",
                    f"arn:aws:dynamodb:{region}:{account}:table/{names(spec, environment).markers_table}",
                ],
            },
            # Customer-managed keys of the streams and of the markers table: their key policies
            # delegate to the account's IAM, so this statement is what lets the consumer use them.
            {
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": f"arn:aws:kms:{region}:{account}:key/*",
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": [
                            f"kinesis.{region}.amazonaws.com",
                            f"dynamodb.{region}.amazonaws.com",
                        ]
                    }
                },
            },
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/*",
            },
        ],
    }


def _ensure_function(
    spec: MigrationSpec, aws: Any, consumer: ConsumerFunction, role: str, package: bytes
) -> None:
    lam = aws.client(consumer.environment, "lambda")
    variables = {
        "SANDBOX_PROCESSED_TABLE": processed_table_name(spec, consumer.environment),
        "SANDBOX_MARKERS_TABLE": names(spec, consumer.environment).markers_table,
        "SANDBOX_ENVIRONMENT": consumer.environment,
    }
    sha = base64.b64encode(hashlib.sha256(package).digest()).decode("ascii")
    try:
        current = lam.get_function_configuration(FunctionName=consumer.function_name)
    except ClientError as problem:
        if problem.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        _create_function_when_the_role_is_ready(
            lam,
            FunctionName=consumer.function_name,
            Runtime=CONSUMER_RUNTIME,
            Role=role,
            Handler=CONSUMER_HANDLER,
            Code={"ZipFile": package},
            Timeout=30,
            MemorySize=256,
            Environment={"Variables": variables},
            Tags={"sandbox": "sample-pipeline"},
        )
        return
    if current.get("CodeSha256") != sha:
        lam.update_function_code(FunctionName=consumer.function_name, ZipFile=package)
    if (current.get("Environment") or {}).get("Variables") != variables:
        lam.update_function_configuration(
            FunctionName=consumer.function_name, Environment={"Variables": variables}
        )


def _create_function_when_the_role_is_ready(
    lam: Any, timeout: float = 90.0, **request: Any
) -> None:
    """On AWS a role created a moment ago cannot be assumed by Lambda yet (IAM is eventually
    consistent: CreateFunction answers "The role defined for the function cannot be assumed by
    Lambda"); try again for up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            lam.create_function(**request)
            return
        except ClientError as problem:
            not_ready = problem.response["Error"]["Code"] == "InvalidParameterValueException" and (
                "cannot be assumed" in str(problem)
            )
            if not not_ready or time.monotonic() > deadline:
                raise
        time.sleep(3)


def _mappings_of(lam: Any, function_name: str) -> list[dict]:
    mappings: list[dict] = []
    marker = None
    while True:
        page = lam.list_event_source_mappings(
            FunctionName=function_name, **({"Marker": marker} if marker else {})
        )
        mappings.extend(page.get("EventSourceMappings", []))
        marker = page.get("NextMarker")
        if not marker:
            return mappings


def _ensure_mappings(aws: Any, consumer: ConsumerFunction, enabled: bool) -> list[str]:
    """One mapping per stream; existing ones are left as they are (their state is the phase's)."""
    lam = aws.client(consumer.environment, "lambda")
    existing = {m["EventSourceArn"]: m["UUID"] for m in _mappings_of(lam, consumer.function_name)}
    uuids = []
    for arn in consumer.stream_arns:
        if arn in existing:
            uuids.append(existing[arn])
            continue
        response = lam.create_event_source_mapping(
            FunctionName=consumer.function_name,
            EventSourceArn=arn,
            Enabled=enabled,
            **MAPPING_SETTINGS,
        )
        uuids.append(response["UUID"])
    return uuids
