"""Each preflight check on a setup that fails it and one that passes it; the rows' exit codes;
an unreadable environment is `unknown`, never a pass."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ClientError

from turnout.preflight.live import ConsumerMappings
from turnout.preflight.registry import CHECKS, PreflightContext
from turnout.preflight.result import Verdict
from turnout.preflight.runner import run_preflight
from turnout.spec.loader import load_spec
from turnout.spec.names import names

EXAMPLE = Path(__file__).resolve().parents[2] / "terraform" / "migration.yaml"


def spec_with(tmp_path: Path, change=lambda document: None):
    document = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    change(document)
    path = tmp_path / "terraform" / "migration.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_spec(path)


def run_check(name: str, spec, environments=(), mappings=None):
    context = PreflightContext(spec, environments, aws=object())
    context.mappings_read.update(mappings or {})
    return CHECKS[name].run(context)


def mapping(spec, logical: str, **fields) -> dict:
    return {
        "UUID": f"uuid-{logical}",
        "EventSourceArn": names(spec, "new").stream_arn(logical),
        "StartingPosition": "TRIM_HORIZON",
        **fields,
    }


def new_consumers(spec, *mappings_: dict) -> dict:
    """The new environment's clicks processor with these mappings, the archiver with a safe one."""
    return {
        "new": [
            ConsumerMappings("new", "v2-clicks-processor", ("clicks", "orders"), list(mappings_)),
            ConsumerMappings("new", "v2-audit-archiver", ("audit",), [mapping(spec, "audit")]),
        ]
    }


# --------------------------------------------------------------------------- starting-positions


def test_a_replicator_starting_at_latest_fails_with_the_reason(tmp_path):
    spec = spec_with(tmp_path, lambda d: d["replication"].update(starting_position="LATEST"))
    row = run_check("starting-positions", spec)
    assert row.verdict is Verdict.FAIL
    assert "replication.starting_position is LATEST" in row.fact
    assert "never reach the old streams" in row.fact
    assert "TRIM_HORIZON" in row.change


def test_a_replicator_starting_at_trim_horizon_passes(tmp_path):
    row = run_check("starting-positions", spec_with(tmp_path))
    assert row.verdict is Verdict.PASS
    assert "replication.starting_position is TRIM_HORIZON" in row.fact


def test_a_new_consumer_mapping_at_latest_fails_naming_the_mapping(tmp_path):
    spec = spec_with(tmp_path)
    found = new_consumers(
        spec, mapping(spec, "clicks", StartingPosition="LATEST"), mapping(spec, "orders")
    )
    row = run_check("starting-positions", spec, ("new",), found)
    assert row.verdict is Verdict.FAIL
    assert "lambda:v2-clicks-processor (new) mapping uuid-clicks on clicks starts at LATEST" in (
        row.fact
    )
    assert row.reads == "spec+new"


def test_new_consumer_mappings_at_trim_horizon_or_a_timestamp_pass(tmp_path):
    spec = spec_with(tmp_path)
    at_time = mapping(
        spec, "orders", StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=1.7e9
    )
    found = new_consumers(spec, mapping(spec, "clicks"), at_time)
    row = run_check("starting-positions", spec, ("new",), found)
    assert row.verdict is Verdict.PASS, row.fact
    assert "starts AT_TIMESTAMP" in row.fact


def at_timestamp(spec, stamp):
    return new_consumers(
        spec,
        mapping(spec, "clicks"),
        mapping(spec, "orders", StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=stamp),
    )


def run_at(spec, found, **migration):
    context = PreflightContext(spec, ("new",), aws=object(), clock=lambda: 2_000.0, **migration)
    context.mappings_read.update(found)
    return CHECKS["starting-positions"].run(context)


@pytest.mark.parametrize(
    ("stamp", "migration", "verdict", "says"),
    [
        (1_000.0, {"phase": "baseline"}, Verdict.PASS, "before the switch, which has not started"),
        (2_500.0, {"phase": "baseline"}, Verdict.FAIL, "later than now (1970-01-01T00:33:20"),
        (2_500.0, {}, Verdict.FAIL, "the switch is not known here"),
        (1_000.0, {}, Verdict.PASS, "`turnout preflight` does not read the migration state"),
        (
            1_000.0,
            {"phase": "mirrored", "switched_at": 1_500.0},
            Verdict.PASS,
            "no later than the switch (1970-01-01T00:25:00+00:00)",
        ),
        (
            1_600.0,
            {"phase": "switched", "switched_at": 1_500.0},
            Verdict.FAIL,
            "later than the switch, which started at 1970-01-01T00:25:00+00:00: the records "
            "written to the new stream from 1970-01-01T00:25:00+00:00 to "
            "1970-01-01T00:26:40+00:00 are never processed",
        ),
        (1_000.0, {"phase": "mirrored"}, Verdict.UNKNOWN, "holds no start of baseline->switched"),
        ("soon", {"phase": "baseline"}, Verdict.UNKNOWN, "is not a time"),
    ],
)
def test_an_at_timestamp_mapping_is_compared_with_the_switch(
    tmp_path, stamp, migration, verdict, says
):
    spec = spec_with(tmp_path)
    row = run_at(spec, at_timestamp(spec, stamp), **migration)
    assert row.verdict is verdict, row.fact
    assert says in row.fact
    assert "lambda:v2-clicks-processor (new) mapping uuid-orders on orders" in row.fact


def test_an_at_timestamp_given_as_a_datetime_by_boto3_is_compared_too(tmp_path):
    spec = spec_with(tmp_path)
    later = datetime(1970, 1, 1, 0, 26, 40, tzinfo=UTC)
    row = run_at(spec, at_timestamp(spec, later), phase="switched", switched_at=1_500.0)
    assert row.verdict is Verdict.FAIL, row.fact


def test_a_new_consumer_without_a_mapping_is_unknown(tmp_path):
    spec = spec_with(tmp_path)
    row = run_check("starting-positions", spec, ("new",), new_consumers(spec))
    assert row.verdict is Verdict.UNKNOWN
    assert "v2-clicks-processor (new) has no event source mapping reading clicks, orders" in (
        row.fact
    )


def test_a_new_kcl_consumer_is_warned_because_its_start_cannot_be_read(tmp_path):
    def add_kcl(document):
        document["consumers"]["new"].append(
            {"kind": "kcl", "application": "v2-app", "lease_table": "v2-app", "streams": ["audit"]}
        )

    spec = spec_with(tmp_path, add_kcl)
    found = new_consumers(spec, mapping(spec, "clicks"), mapping(spec, "orders"))
    row = run_check("starting-positions", spec, ("new",), found)
    assert row.verdict is Verdict.WARN
    assert "kcl:v2-app (new)" in row.fact and "InitialPositionInStream" in row.change


# --------------------------------------------------------------------------- replicator-retries


def test_replicator_retries_pass_for_a_loaded_spec(tmp_path):
    row = run_check("replicator-retries", spec_with(tmp_path))
    assert row.verdict is Verdict.PASS
    assert "maximum_attempts -1" in row.fact and "parallelization_factor 1" in row.fact


def test_replicator_retries_fail_for_a_spec_built_without_validation(tmp_path):
    spec = spec_with(tmp_path)
    retry = spec.replication.retry.model_copy(update={"maximum_attempts": 3})
    replication = spec.replication.model_copy(update={"retry": retry, "parallelization_factor": 2})
    row = run_check("replicator-retries", spec.model_copy(update={"replication": replication}))
    assert row.verdict is Verdict.FAIL
    assert "replication.retry.maximum_attempts is 3" in row.fact
    assert "replication.parallelization_factor is 2" in row.fact
    assert "contiguous prefix" in row.fact
    assert "set replication.retry.maximum_attempts to -1" in row.change
    assert "set replication.parallelization_factor to 1" in row.change


# --------------------------------------------------------------------------- consumer-retries


def test_consumer_mappings_that_discard_are_warned_naming_the_destination(tmp_path):
    spec = spec_with(tmp_path)
    queue = "arn:aws:sqs:eu-west-1:222222222222:v2-clicks-failures"
    discarding = mapping(
        spec,
        "clicks",
        MaximumRetryAttempts=2,
        MaximumRecordAgeInSeconds=-1,
        DestinationConfig={"OnFailure": {"Destination": queue}},
    )
    found = new_consumers(spec, discarding, mapping(spec, "orders"))
    row = run_check("consumer-retries", spec, ("new",), found)
    assert row.verdict is Verdict.WARN
    assert "mapping uuid-clicks on clicks has MaximumRetryAttempts 2" in row.fact
    assert f"sends discarded batches to {queue}" in row.fact
    assert "the drain and verify checks fail on what an SQS destination receives" in row.fact


def test_consumer_mappings_that_retry_until_expiry_pass(tmp_path):
    spec = spec_with(tmp_path)
    # moto leaves the two settings out when they were not given; AWS answers -1 (unbounded).
    unbounded = mapping(
        spec, "clicks", MaximumRetryAttempts=-1, DestinationConfig={"OnFailure": {}}
    )
    found = new_consumers(spec, unbounded, mapping(spec, "orders"))
    row = run_check("consumer-retries", spec, ("new",), found)
    assert row.verdict is Verdict.PASS, row.fact


def test_consumer_retries_run_only_when_an_environment_is_read(tmp_path):
    report = run_preflight(spec_with(tmp_path))
    assert "consumer-retries" not in [check.name for check in report.checks]


# --------------------------------------------------------------------------- read-across-settings


def read_across(document: dict) -> None:
    document["replication"]["mode"] = "read-across"
    for stream in document["streams"]:
        stream["encryption"] = "customer_managed"
    for consumer in document["consumers"]["old"]:
        consumer["execution_role_arn"] = "arn:aws:iam::111111111111:role/legacy-consumers"
        consumer["read_across_mapping"] = {"batch_size": 100}


def old_consumers(spec, clicks_mapping: dict) -> dict:
    """The old clicks processor with this mapping (on clicks), the archiver with a matching one."""
    audit = {
        "UUID": "uuid-audit",
        "EventSourceArn": names(spec, "old").stream_arn("audit"),
        "BatchSize": 100,
    }
    return {
        "old": [
            ConsumerMappings(
                "old", "legacy-clicks-processor", ("clicks", "orders"), [clicks_mapping]
            ),
            ConsumerMappings("old", "legacy-audit-archiver", ("audit",), [audit]),
        ]
    }


def old_mapping(spec, **fields) -> dict:
    return {
        "UUID": "uuid-clicks",
        "EventSourceArn": names(spec, "old").stream_arn("clicks"),
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 0,
        **fields,
    }


def test_a_read_across_mapping_without_the_partial_failures_its_function_answers_fails(tmp_path):
    """The function answers batchItemFailures on its own mappings: a read-across mapping without
    ReportBatchItemFailures takes that answer for success and skips the records not stored."""
    spec = spec_with(tmp_path, read_across)
    found = old_consumers(
        spec, old_mapping(spec, FunctionResponseTypes=["ReportBatchItemFailures"])
    )
    row = run_check("read-across-settings", spec, ("old", "new"), found)
    assert row.verdict is Verdict.FAIL, row.fact
    assert "lambda:legacy-clicks-processor (old) mapping uuid-clicks on clicks" in row.fact
    assert "has ReportBatchItemFailures" in row.fact and "skip the records" in row.fact
    assert (
        "set consumers.old[legacy-clicks-processor].read_across_mapping."
        "report_batch_item_failures to true" in row.change
    )


def test_read_across_batches_unlike_the_functions_own_are_warned_naming_each_setting(tmp_path):
    spec = spec_with(tmp_path, read_across)
    own = old_mapping(
        spec, BatchSize=500, MaximumBatchingWindowInSeconds=5, BisectBatchOnFunctionError=True
    )
    row = run_check("read-across-settings", spec, ("old",), old_consumers(spec, own))
    assert row.verdict is Verdict.WARN, row.fact
    assert "BatchSize 500 where" in row.fact and ".batch_size is 100" in row.fact
    assert "MaximumBatchingWindowInSeconds 5 where" in row.fact
    assert "BisectBatchOnFunctionError True where" in row.fact


def test_read_across_settings_that_match_the_functions_own_mappings_pass(tmp_path):
    spec = spec_with(tmp_path, read_across)
    row = run_check("read-across-settings", spec, ("old",), old_consumers(spec, old_mapping(spec)))
    assert row.verdict is Verdict.PASS, row.fact


def test_read_across_settings_are_unknown_when_the_old_mappings_are_unread_and_pass_in_copy_mode(
    tmp_path,
):
    spec = spec_with(tmp_path, read_across)
    unread = {
        "old": [ConsumerMappings("old", "legacy-clicks-processor", ("clicks",), [], "denied")]
    }
    assert run_check("read-across-settings", spec, ("old",), unread).verdict is Verdict.UNKNOWN
    assert run_check("read-across-settings", spec, ("new",)).verdict is Verdict.UNKNOWN
    copy_mode = spec_with(tmp_path)
    assert run_check("read-across-settings", copy_mode, ("old",)).verdict is Verdict.PASS


# --------------------------------------------------------------------------- retention-window


def test_a_window_longer_than_retention_fails_naming_the_stream_and_both_figures(tmp_path):
    def window(document):
        document["streams"][1]["retention_hours"] = 24
        document["cutover"].update(planned_window_hours=26, retention_margin_hours=6)

    row = run_check("retention-window", spec_with(tmp_path, window))
    assert row.verdict is Verdict.FAIL
    assert "stream orders keeps records 24 h" in row.fact
    assert "planned window 26 h + margin 6 h = 32 h" in row.fact
    assert "clicks" not in row.fact  # 168 h: it fits
    assert "retention_hours to at least 32" in row.change


def test_a_window_within_retention_passes(tmp_path):
    def window(document):
        document["cutover"].update(planned_window_hours=100, retention_margin_hours=68)

    row = run_check("retention-window", spec_with(tmp_path, window))
    assert row.verdict is Verdict.PASS, row.fact
    assert "168 h" in row.fact


def test_no_planned_window_is_warned(tmp_path):
    row = run_check(
        "retention-window", spec_with(tmp_path, lambda d: d["cutover"].pop("planned_window_hours"))
    )
    assert row.verdict is Verdict.WARN
    assert row.fact.startswith("no planned window declared")


# --------------------------------------------------------------------------- direction-flag-rate


def one_stream_of(shards: int, same_account: bool = False):
    def change(document):
        document["streams"] = [
            {"name": "clicks", "capacity": {"mode": "provisioned", "shards": shards}}
        ]
        document["consumers"] = {"old": [], "new": []}
        document["replication"].pop("reserved_concurrency")
        if same_account:
            document["environments"]["new"]["account_id"] = "111111111111"

    return change


@pytest.mark.parametrize(
    ("shards", "same_account", "verdict", "share"),
    [
        (40, False, Verdict.PASS, "20%"),  # 8 reads/s in each account
        (120, False, Verdict.WARN, "60%"),  # 24/s
        (200, False, Verdict.FAIL, "100%"),  # 40/s: the whole default throughput
        (60, True, Verdict.WARN, "60%"),  # both sides in one account and region: 2 x 12/s
    ],
)
def test_the_direction_flags_read_rate_against_ssm_throughput(
    tmp_path, shards, same_account, verdict, share
):
    spec = spec_with(tmp_path, one_stream_of(shards, same_account))
    row = run_check("direction-flag-rate", spec)
    assert row.verdict is verdict, row.fact
    assert f"{shards} shards x parallelization 1 x 2 accounts / 5 s cache" in row.fact
    assert f"{share} of the default 40/s" in row.fact
    assert ("old and new share it" in row.fact) is same_account


# --------------------------------------------------------------------------- the runner


class UnreadableAws:
    """Every client call of the new environment is refused (fault injection)."""

    def caller(self, environment):
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "not allowed"}}, "GetCallerIdentity"
        )

    def client(self, environment, service):
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}},
            "ListEventSourceMappings",
        )


def test_an_unreadable_environment_is_unknown_and_exits_3(tmp_path):
    report = run_preflight(spec_with(tmp_path), ("new",), UnreadableAws())
    rows = {check.name: check for check in report.checks}
    assert rows["consumer-retries"].verdict is Verdict.UNKNOWN
    assert rows["starting-positions"].verdict is Verdict.UNKNOWN
    fact = rows["consumer-retries"].fact
    assert fact.startswith("could not read the new environment (lambda:ListEventSourceMappings)")
    assert fact.count("could not read") == 1  # one unreadable place, said once
    assert "AccessDeniedException" in rows["consumer-retries"].fact
    assert report.exit_code == 3


def test_exit_codes_pass_and_warn_0_fail_1(tmp_path):
    assert run_preflight(spec_with(tmp_path)).exit_code == 0
    no_window = spec_with(tmp_path, lambda d: d["cutover"].pop("planned_window_hours"))
    assert run_preflight(no_window).verdict is Verdict.WARN
    assert run_preflight(no_window).exit_code == 0
    latest = spec_with(tmp_path, lambda d: d["replication"].update(starting_position="LATEST"))
    assert run_preflight(latest).exit_code == 1


def test_a_fail_outranks_what_could_not_be_read(tmp_path):
    latest = spec_with(tmp_path, lambda d: d["replication"].update(starting_position="LATEST"))
    report = run_preflight(latest, ("new",), UnreadableAws())
    assert report.verdict is Verdict.FAIL
    assert report.exit_code == 1
