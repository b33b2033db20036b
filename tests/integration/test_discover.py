"""`turnout discover` on an account built by hand with boto3 (no Terraform), then render and plan
the old environment with real Terraform: the streams are imported and nothing about them changes.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from turnout.cli import main
from turnout.deploy.terraform import TerraformRunner, terraform_settings
from turnout.project import Project

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "555555555555"  # used by no other test: discovery reads the whole account
EMPTY_ACCOUNT = "565656565656"
REGION = "eu-west-1"
LEASED_SHARDS = ["shardId-000000000000", "shardId-000000000001", "shardId-000000000002"]


def tiny_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return None\n")
    return buffer.getvalue()


def create_function(emulator, name: str) -> str:
    iam = emulator.client("iam", ACCOUNT, REGION)
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
    try:
        role = iam.get_role(RoleName="hand-made-consumer")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(
            RoleName="hand-made-consumer", AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]
    return emulator.client("lambda", ACCOUNT, REGION).create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": tiny_zip()},
    )["FunctionArn"]


def use_credentials(monkeypatch: pytest.MonkeyPatch, credentials: dict[str, str]) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="module")
def hand_built(emulator) -> dict:
    """Three streams, two mappings, one KCL lease table, one other table, one EFO consumer."""
    kinesis = emulator.client("kinesis", ACCOUNT, REGION)
    kms = emulator.client("kms", ACCOUNT, REGION)
    dynamodb = emulator.client("dynamodb", ACCOUNT, REGION)

    kinesis.create_stream(
        StreamName="Clickstream.Events", StreamModeDetails={"StreamMode": "ON_DEMAND"}
    )
    kinesis.start_stream_encryption(
        StreamName="Clickstream.Events", EncryptionType="KMS", KeyId="alias/aws/kinesis"
    )
    key_arn = kms.create_key(Description="orders, by hand")["KeyMetadata"]["Arn"]
    kinesis.create_stream(StreamName="orders", ShardCount=1)
    kinesis.increase_stream_retention_period(StreamName="orders", RetentionPeriodHours=48)
    kinesis.start_stream_encryption(StreamName="orders", EncryptionType="KMS", KeyId=key_arn)
    kinesis.add_tags_to_stream(StreamName="orders", Tags={"team": "payments", "cost-center": "42"})
    kinesis.create_stream(StreamName="audit-log", ShardCount=3)
    kinesis.start_stream_encryption(
        StreamName="audit-log", EncryptionType="KMS", KeyId="alias/aws/kinesis"
    )
    arns = {
        name: kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "StreamARN"
        ]
        for name in ("Clickstream.Events", "orders", "audit-log")
    }
    kinesis.register_stream_consumer(StreamARN=arns["audit-log"], ConsumerName="audit-reader")

    lambda_client = emulator.client("lambda", ACCOUNT, REGION)
    for function, stream, batch in (
        ("orders-processor", "orders", 50),
        ("clicks-archiver", "Clickstream.Events", 100),
    ):
        lambda_client.create_event_source_mapping(
            FunctionName=create_function(emulator, function),
            EventSourceArn=arns[stream],
            StartingPosition="LATEST",
            BatchSize=batch,
        )
    dynamodb.create_table(
        TableName="orders-processor-seen",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    dynamodb.create_table(
        TableName="audit-reader",
        KeySchema=[{"AttributeName": "leaseKey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "leaseKey", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for shard in LEASED_SHARDS:
        dynamodb.put_item(
            TableName="audit-reader",
            Item={
                "leaseKey": {"S": shard},
                "checkpoint": {"S": "TRIM_HORIZON"},
                "leaseOwner": {"S": "worker-1"},
                "leaseCounter": {"N": "1"},
            },
        )
    return {"arns": arns, "key_arn": key_arn, "credentials": emulator.credentials(ACCOUNT)}


def discover_args(emulator, out: Path, *extra: str) -> list[str]:
    return [
        "discover",
        "--env",
        "old",
        "--region",
        REGION,
        "--endpoint-url",
        emulator.endpoint_url,
        "--out",
        str(out),
        *extra,
    ]


@pytest.fixture(scope="module")
def discovered(hand_built, emulator, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("discover-out") / "old"
    with pytest.MonkeyPatch.context() as monkeypatch:
        use_credentials(monkeypatch, hand_built["credentials"])
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main(discover_args(emulator, out, "--account", ACCOUNT, "--json"))
    assert code == 0, buffer.getvalue()
    return {"out": out, "report": json.loads(buffer.getvalue())}


def test_three_streams_are_described_with_their_settings(discovered, hand_built):
    streams = {stream["name"]: stream for stream in discovered["report"]["streams"]}
    assert sorted(streams) == ["Clickstream.Events", "audit-log", "orders"]
    assert streams["Clickstream.Events"]["mode"] == "ON_DEMAND"
    assert streams["audit-log"]["mode"] == "PROVISIONED"
    assert streams["audit-log"]["open_shards"] == 3
    assert streams["orders"]["retention_hours"] == 48
    assert streams["orders"]["key_id"] == hand_built["key_arn"]
    assert streams["orders"]["tags"] == {"team": "payments", "cost-center": "42"}
    assert discovered["report"]["logical_names"]["Clickstream.Events"] == "clickstream-events"


def test_two_mappings_and_one_kcl_table_are_classified(discovered):
    report = discovered["report"]
    mappings = {(m["function_name"], m["stream"]) for m in report["mappings"]}
    assert mappings == {("orders-processor", "orders"), ("clicks-archiver", "Clickstream.Events")}
    assert [(t["table"], t["stream"], t["leases"]) for t in report["lease_tables"]] == [
        ("audit-reader", "audit-log", 3)
    ]
    consumers = report["streams"][[s["name"] for s in report["streams"]].index("audit-log")]
    assert consumers["consumers"][0]["used_by"] == "KCL application audit-reader"
    assert report["unclassified"] == []
    assert report["tables_examined"] == 2  # the lease table and one ordinary table


def test_the_skeleton_is_a_valid_spec_naming_the_real_streams_and_consumers(discovered):
    spec = yaml.safe_load((discovered["out"] / "migration.yaml").read_text())
    by_name = {stream["name"]: stream for stream in spec["streams"]}
    assert by_name["clickstream-events"]["old_name"] == "Clickstream.Events"
    assert by_name["audit-log"]["capacity"] == {"mode": "provisioned", "shards": 3}
    kinds = sorted((c["kind"], tuple(c["streams"])) for c in spec["consumers"]["old"])
    assert kinds == [
        ("kcl", ("audit-log",)),
        ("lambda", ("clickstream-events",)),
        ("lambda", ("orders",)),
    ]
    assert "PLACEHOLDER" in (discovered["out"] / "migration.yaml").read_text()


def test_render_then_plan_of_the_old_environment_imports_the_streams_and_changes_none(
    discovered, emulator, tmp_path_factory, terraform_ready, monkeypatch
):
    root = tmp_path_factory.mktemp("adopted-project")
    shutil.copytree(
        REPO / "terraform", root / "terraform", ignore=shutil.ignore_patterns(".terraform*")
    )
    shutil.copytree(REPO / "modules", root / "modules")
    for name in ("migration.yaml", "adopted.json"):
        shutil.copy(discovered["out"] / name, root / "terraform" / name)
    work = root / ".work"
    monkeypatch.setenv("TURNOUT_WORK_DIR", str(work))
    spec = str(root / "terraform" / "migration.yaml")
    assert main(["render", "--spec", spec]) == 0
    old_vars = json.loads((root / "terraform" / "old.tfvars.json").read_text())
    new_vars = json.loads((root / "terraform" / "new.tfvars.json").read_text())
    assert old_vars["imports"] == {
        "audit-log": "audit-log",
        "clickstream-events": "Clickstream.Events",
        "orders": "orders",
    }
    assert "imports" not in new_vars

    # The state bucket first (a discovered spec names none: on the emulator, the default one).
    assert (
        main(["state", "bootstrap", "--spec", spec, "--endpoint-url", emulator.endpoint_url]) == 0
    )
    assert (
        main(["plan", "--env", "old", "--spec", spec, "--endpoint-url", emulator.endpoint_url]) == 0
    )
    project = Project.locate(Path(spec), work)
    runner = TerraformRunner(terraform_settings(project, emulator.endpoint_url), "old")
    plan = runner.show_plan()
    streams = [c for c in plan["resource_changes"] if c["type"] == "aws_kinesis_stream"]
    assert sorted(c["address"] for c in streams) == [
        'module.stream["audit-log"].aws_kinesis_stream.this',
        'module.stream["clickstream-events"].aws_kinesis_stream.this',
        'module.stream["orders"].aws_kinesis_stream.this',
    ]
    for change in streams:
        assert change["change"]["actions"] == ["no-op"], (change["address"], change["change"])
        assert "importing" in change["change"], change["address"]
    touched = [
        c["address"]
        for c in plan["resource_changes"]
        if c["change"]["actions"] not in (["no-op"], ["create"], ["read"])
    ]
    assert touched == []


def run_failing(args: list[str], capsys) -> str:
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return captured.err


def test_credentials_of_another_account_are_refused_and_nothing_is_written(
    hand_built, emulator, tmp_path, monkeypatch, capsys
):
    # moto accepts any key and maps an unknown one to its default account: that is how wrong
    # credentials look here (AWS itself answers InvalidClientTokenId; see the unit tests).
    use_credentials(
        monkeypatch, {"AccessKeyId": "AKIAWRONGWRONG", "SecretAccessKey": "x", "SessionToken": ""}
    )
    error = run_failing(discover_args(emulator, tmp_path / "out", "--account", ACCOUNT), capsys)
    assert f"not in {ACCOUNT} (--account)" in error
    assert not (tmp_path / "out").exists()


def test_no_credentials_at_all_is_a_clear_error(emulator, tmp_path, monkeypatch, capsys):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    error = run_failing(discover_args(emulator, tmp_path / "out"), capsys)
    assert "no AWS credentials were found" in error
    assert not (tmp_path / "out").exists()


def test_an_account_without_streams_names_the_pattern_and_region(
    emulator, tmp_path, monkeypatch, capsys
):
    use_credentials(monkeypatch, emulator.credentials(EMPTY_ACCOUNT))
    error = run_failing(discover_args(emulator, tmp_path / "out", "--streams", "clicks*"), capsys)
    assert f"account {EMPTY_ACCOUNT} has no streams at all --streams 'clicks*'" in error
    assert f"in region {REGION}" in error
    assert not (tmp_path / "out").exists()


def test_an_unknown_region_is_refused_before_any_call(emulator, tmp_path, capsys):
    args = discover_args(emulator, tmp_path / "out")
    args[args.index("--region") + 1] = "mars-north-1"
    error = run_failing(args, capsys)
    assert "--region 'mars-north-1' is not an AWS region" in error
    assert not (tmp_path / "out").exists()


def test_existing_output_is_not_overwritten_without_force(
    discovered, hand_built, emulator, monkeypatch, capsys
):
    use_credentials(monkeypatch, hand_built["credentials"])
    before = (discovered["out"] / "migration.yaml").read_text()
    error = run_failing(discover_args(emulator, discovered["out"]), capsys)
    assert "pass --force" in error
    assert (discovered["out"] / "migration.yaml").read_text() == before
