"""`turnout preflight --env new` on the emulator: it reads the new consumers' real event source
mappings (ListEventSourceMappings through the environment's credentials) and fails on one that
starts at LATEST, warns on one that discards failed batches to an SQS queue, and says what
could not be read as `unknown`."""

from __future__ import annotations

import json

import pytest
import yaml
from hooks_kit import create_streams, make_spec

from turnout.cli import main
from turnout.spec.loader import load_spec

pytestmark = pytest.mark.integration


def preflight(capsys, emulator, spec_path, *extra: str, env: str = "new") -> tuple[int, dict]:
    code = main(
        [
            "preflight",
            "--env",
            env,
            "--spec",
            str(spec_path),
            "--endpoint-url",
            emulator.endpoint_url,
            "--json",
            *extra,
        ]
    )
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
def two_new_consumers(emulator, lambda_kit, tmp_path):
    """A new-environment spec with two Lambda consumers of one stream; the stream exists in the
    new account, the consumers' functions too, but no mapping yet."""
    latest_fn, retrying_fn = lambda_kit.name("pf-latest"), lambda_kit.name("pf-retrying")
    consumers = [
        {"kind": "lambda", "function_name": name, "streams": ["events"]}
        for name in (latest_fn, retrying_fn)
    ]
    spec = make_spec(emulator, consumers_new=consumers)
    spec_path = tmp_path / "project" / "terraform" / "migration.yaml"
    spec_path.parent.mkdir(parents=True)
    spec_path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    stream_arn = create_streams(emulator, spec, "new")["events"]
    table = lambda_kit.table("new")
    functions = {
        name: lambda_kit.function("new", table=table, name=name)
        for name in (latest_fn, retrying_fn)
    }
    return spec_path, stream_arn, functions, latest_fn, retrying_fn


def test_a_latest_mapping_fails_and_a_discarding_one_warns_naming_its_queue(
    emulator, lambda_kit, two_new_consumers, capsys
):
    spec_path, stream_arn, functions, latest_fn, retrying_fn = two_new_consumers

    # No mappings yet: nothing shows where the consumers will start, so neither passes.
    code, report = preflight(capsys, emulator, spec_path)
    rows = {row["name"]: row for row in report["checks"]}
    assert code == 3, report
    assert rows["starting-positions"]["verdict"] == "unknown"
    assert (
        f"lambda:{latest_fn} (new) has no event source mapping"
        in rows["starting-positions"]["fact"]
    )

    # As a cutover would find them: created paused before the switch.
    latest = lambda_kit.mapping(
        "new", functions[latest_fn], stream_arn, StartingPosition="LATEST", Enabled=False
    )
    _queue_url, queue_arn = lambda_kit.queue("new")
    discarding = lambda_kit.mapping(
        "new",
        functions[retrying_fn],
        stream_arn,
        Enabled=False,
        MaximumRetryAttempts=2,
        MaximumRecordAgeInSeconds=3600,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )

    code, report = preflight(capsys, emulator, spec_path)
    rows = {row["name"]: row for row in report["checks"]}
    assert code == 1, report
    assert report["verdict"] == "fail"
    starting = rows["starting-positions"]
    assert starting["verdict"] == "fail" and starting["reads"] == "spec+new"
    assert (
        f"lambda:{latest_fn} (new) mapping {latest} on events starts at LATEST" in starting["fact"]
    )
    assert retrying_fn not in starting["fact"]  # its mapping starts at TRIM_HORIZON
    retries = rows["consumer-retries"]
    assert retries["verdict"] == "warn" and retries["reads"] == "new"
    assert f"lambda:{retrying_fn} (new) mapping {discarding} on events has " in retries["fact"]
    assert "MaximumRetryAttempts 2 and MaximumRecordAgeInSeconds 3600" in retries["fact"]
    assert f"sends discarded batches to {queue_arn}" in retries["fact"]
    assert latest_fn not in retries["fact"]  # moto answers no retry settings: AWS's -1


def test_an_environment_whose_credentials_fail_is_unknown_naming_what_was_not_read(
    emulator, two_new_consumers, capsys, monkeypatch, tmp_path
):
    spec_path, *_ = two_new_consumers
    document = yaml.safe_load(spec_path.read_text())
    # A named profile that no AWS config defines: the new environment's session cannot be made.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    document["environments"]["new"]["profile"] = "turnout-missing-profile"
    spec_path.write_text(yaml.safe_dump(document))
    code, report = preflight(capsys, emulator, spec_path)
    rows = {row["name"]: row for row in report["checks"]}
    assert code == 3, report
    assert rows["consumer-retries"]["verdict"] == "unknown"
    assert rows["consumer-retries"]["fact"].startswith("could not read the new environment")
    assert "turnout-missing-profile" in rows["consumer-retries"]["fact"]
    assert rows["starting-positions"]["verdict"] == "unknown"


def test_read_across_without_the_partial_failures_the_old_consumers_mapping_reports_fails(
    emulator, lambda_kit, tmp_path, capsys
):
    """Read-across mode: the old consumer's own mapping (real, in the emulator's old account)
    has ReportBatchItemFailures and the spec's read_across_mapping does not: the mapping the
    cutover would create on the new stream would skip the records its batches report failed.
    Declared as its own mapping is, the row passes."""
    function_name = lambda_kit.name("pf-across")
    consumer = {
        "kind": "lambda",
        "function_name": function_name,
        "streams": ["events"],
        "drain_evidence": "markers",
        "execution_role_arn": lambda_kit.role("old"),
        "read_across_mapping": {"batch_size": 100},
    }
    document = make_spec(emulator, consumers_old=[consumer]).model_dump(
        mode="json", exclude_none=True
    )
    document["replication"]["mode"] = "read-across"
    document["streams"][0]["encryption"] = "customer_managed"
    spec_path = tmp_path / "project" / "terraform" / "migration.yaml"
    spec_path.parent.mkdir(parents=True)
    spec_path.write_text(yaml.safe_dump(document))
    stream_arn = create_streams(emulator, load_spec(spec_path), "old")["events"]
    function = lambda_kit.function("old", table=lambda_kit.table("old"), name=function_name)
    own = lambda_kit.mapping(
        "old",
        function,
        stream_arn,
        BatchSize=100,
        FunctionResponseTypes=["ReportBatchItemFailures"],
        Enabled=False,
    )

    code, report = preflight(capsys, emulator, spec_path, env="old")
    row = {row["name"]: row for row in report["checks"]}["read-across-settings"]
    assert code == 1 and row["verdict"] == "fail", row
    assert (
        f"lambda:{function_name} (old) mapping {own} on events has ReportBatchItemFailures"
        in (row["fact"])
    )
    assert "report_batch_item_failures to true" in row["change"]

    document["consumers"]["old"][0]["read_across_mapping"]["report_batch_item_failures"] = True
    spec_path.write_text(yaml.safe_dump(document))
    code, report = preflight(capsys, emulator, spec_path, env="old")
    row = {row["name"]: row for row in report["checks"]}["read-across-settings"]
    assert row["verdict"] == "pass", row
