"""Every malformed spec gets one clear paragraph naming the field, and no traceback."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from turnout.cli import main
from turnout.errors import SpecError
from turnout.spec.loader import load_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "terraform" / "migration.yaml"


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def mutated(change) -> str:
    document = copy.deepcopy(example())
    change(document)
    return yaml.safe_dump(document, sort_keys=False)


def _set(path, value):
    def change(document):
        target = document
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


def _delete(path):
    def change(document):
        target = document
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return change


MALFORMED = {
    "retention_8761": (
        mutated(_set(["streams", 0, "retention_hours"], 8761)),
        "streams[0].retention_hours",
    ),
    "retention_as_text": (
        mutated(_set(["streams", 0, "retention_hours"], "a week")),
        "streams[0].retention_hours",
    ),
    "retention_below_24": (
        mutated(_set(["streams", 1, "retention_hours"], 12)),
        "streams[1].retention_hours",
    ),
    "missing_phase": (mutated(_delete(["phase"])), "phase"),
    "unknown_phase": (mutated(_set(["phase"], "halfway")), "phase"),
    "unknown_top_level_key": (mutated(_set(["replicaton"], {"batch_size": 5})), "replicaton"),
    "unknown_nested_key": (
        mutated(_set(["environments", "old", "acount_id"], "1")),
        "environments.old.acount_id",
    ),
    "account_id_too_short": (
        mutated(_set(["environments", "new", "account_id"], "12345")),
        "environments.new.account_id",
    ),
    "account_id_as_number": (
        mutated(_set(["environments", "old", "account_id"], 111111111111)),
        "environments.old.account_id",
    ),
    "bad_region": (
        mutated(_set(["environments", "old", "region"], "europe")),
        "environments.old.region",
    ),
    "both_directions_enabled": (
        mutated(_set(["replication", "enabled_directions"], ["old_to_new", "new_to_old"])),
        "replication.enabled_directions",
    ),
    "direction_contradicts_phase": (
        mutated(_set(["replication", "enabled_directions"], ["new_to_old"])),
        "replication.enabled_directions",
    ),
    "duplicate_stream_names": (mutated(_set(["streams", 1, "name"], "clicks")), "streams"),
    "duplicate_environment_stream_names": (
        mutated(_set(["streams", 2, "old_name"], "orders")),
        "old_name",
    ),
    "zero_shards": (
        mutated(_set(["streams", 0, "capacity"], {"mode": "provisioned", "shards": 0})),
        "streams[0].capacity.shards",
    ),
    "shards_with_on_demand": (
        mutated(_set(["streams", 2, "capacity"], {"mode": "on_demand", "shards": 4})),
        "streams[2].capacity.shards",
    ),
    "unknown_ordering": (
        mutated(_set(["streams", 1, "ordering"], "loose")),
        "streams[1].ordering",
    ),
    "replicator_timeout_too_short_to_finish_a_call": (
        mutated(_set(["replication", "timeout_seconds"], 20)),
        "replication.timeout_seconds",
    ),
    "unknown_capacity_mode": (
        mutated(_set(["streams", 0, "capacity"], {"mode": "serverless"})),
        "streams[0].capacity",
    ),
    "consumer_reads_undeclared_stream": (
        mutated(_set(["consumers", "old", 0, "streams"], ["payments"])),
        "consumers.old[0].streams",
    ),
    "unknown_consumer_kind": (
        mutated(_set(["consumers", "new", 0], {"kind": "flink", "streams": ["clicks"]})),
        "consumers.new[0]",
    ),
    "batch_size_too_large": (
        mutated(_set(["replication", "batch_size"], 20000)),
        "replication.batch_size",
    ),
    "parallelization_factor_11": (
        mutated(_set(["replication", "parallelization_factor"], 11)),
        "replication.parallelization_factor",
    ),
    "replicator_discards_after_finite_retries": (
        mutated(_set(["replication", "retry", "maximum_attempts"], 3)),
        "replication.retry.maximum_attempts",
    ),
    "replicator_discards_old_records": (
        mutated(_set(["replication", "retry", "maximum_record_age_seconds"], 3600)),
        "replication.retry.maximum_record_age_seconds",
    ),
    "replicator_parallelization_breaks_the_ledger_prefix": (
        mutated(_set(["replication", "parallelization_factor"], 2)),
        "replication.parallelization_factor",
    ),
    "planned_window_of_zero_hours": (
        mutated(_set(["cutover", "planned_window_hours"], 0)),
        "cutover.planned_window_hours",
    ),
    "negative_retention_margin": (
        mutated(_set(["cutover", "retention_margin_hours"], -1)),
        "cutover.retention_margin_hours",
    ),
    "starting_position_unknown": (
        mutated(_set(["replication", "starting_position"], "EARLIEST")),
        "replication.starting_position",
    ),
    "at_timestamp_without_timestamp": (
        mutated(_set(["replication", "starting_position"], "AT_TIMESTAMP")),
        "replication",
    ),
    "missing_external_id": (
        mutated(_delete(["replication", "external_id"])),
        "replication.external_id",
    ),
    "route_parameter_without_slash": (
        mutated(_set(["route", "parameters"], ["kinesis-target"])),
        "route.parameters[0]",
    ),
    "same_account_region_and_prefix": (
        mutated(
            _set(
                ["environments", "new"],
                {"account_id": "111111111111", "region": "eu-west-1", "name_prefix": "legacy-"},
            )
        ),
        "environments",
    ),
    "bad_encryption_value": (
        mutated(_set(["streams", 0, "encryption"], "yes please")),
        "streams[0].encryption",
    ),
    "record_age_out_of_range": (
        mutated(_set(["replication", "retry", "maximum_record_age_seconds"], 30)),
        "replication.retry.maximum_record_age_seconds",
    ),
    "monitoring_period_not_a_minute_multiple": (
        mutated(_set(["monitoring", "period_seconds"], 90)),
        "monitoring.period_seconds",
    ),
    "monitoring_zero_evaluation_periods": (
        mutated(_set(["monitoring", "evaluation_periods"], 0)),
        "monitoring.evaluation_periods",
    ),
    "monitoring_window_longer_than_a_day": (
        mutated(_set(["monitoring"], {"period_seconds": 3600, "evaluation_periods": 25})),
        "monitoring.evaluation_periods",
    ),
    "monitoring_zero_lag_threshold": (
        mutated(_set(["monitoring", "replication_lag_seconds"], 0)),
        "monitoring.replication_lag_seconds",
    ),
    "monitoring_unknown_key": (
        mutated(_set(["monitoring", "replication_lag_ms"], 5000)),
        "monitoring.replication_lag_ms",
    ),
    "monitoring_topic_not_sns": (
        mutated(_set(["monitoring", "notify", "old", "alarm"], ["oncall@example.com"])),
        "monitoring.notify.old.alarm[0]",
    ),
    "monitoring_topic_in_another_region": (
        mutated(
            _set(
                ["monitoring", "notify", "new", "ok"],
                ["arn:aws:sns:us-east-1:222222222222:oncall"],
            )
        ),
        "monitoring.notify.new.ok[0]",
    ),
    "kcl_application_unfit_for_an_alarm_name": (
        mutated(
            _set(
                ["consumers", "new", 1],
                {
                    "kind": "kcl",
                    "application": "orders app",
                    "lease_table": "orders-app",
                    "streams": ["orders"],
                },
            )
        ),
        "consumers.new[1].application",
    ),
    "newer_format_version": (mutated(_set(["version"], 2)), "version"),
    "yaml_syntax_error": ("version: 1\nmigration: [clickstream\nphase: baseline\n", "line"),
    "yaml_tab_indentation": ("version: 1\nenvironments:\n\told: {}\n", "line"),
    "not_a_mapping": ("- just\n- a\n- list\n", "YAML mapping"),
    "empty_file": ("", "YAML mapping"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_spec_gets_one_paragraph_naming_the_field(case, tmp_path):
    text, field = MALFORMED[case]
    spec = tmp_path / "terraform" / "migration.yaml"
    spec.parent.mkdir()
    spec.write_text(text)
    with pytest.raises(SpecError) as raised:
        load_spec(spec)
    message = str(raised.value)
    assert field in message, message
    assert str(spec) in message
    assert "\n" not in message
    assert "Traceback" not in message


@pytest.mark.parametrize("case", ["retention_8761", "yaml_syntax_error", "both_directions_enabled"])
def test_cli_prints_spec_errors_without_traceback_and_changes_nothing(case, tmp_path, capsys):
    text, field = MALFORMED[case]
    terraform_dir = tmp_path / "terraform"
    terraform_dir.mkdir()
    (terraform_dir / "migration.yaml").write_text(text)
    before = sorted(path.name for path in terraform_dir.iterdir())
    code = main(["render", "--spec", str(terraform_dir / "migration.yaml")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("error: ")
    assert field in captured.err
    assert "Traceback" not in captured.err + captured.out
    assert sorted(path.name for path in terraform_dir.iterdir()) == before


def test_errors_name_the_line_where_the_yaml_parser_knows_it(tmp_path):
    spec = tmp_path / "migration.yaml"
    text = EXAMPLE.read_text().replace("retention_hours: 168", "retention_hours: 9000", 1)
    spec.write_text(text)
    line = next(number for number, content in enumerate(text.splitlines(), 1) if "9000" in content)
    with pytest.raises(SpecError, match=rf"\(line {line}\)"):
        load_spec(spec)


def test_missing_spec_file_is_a_clear_error(tmp_path):
    with pytest.raises(SpecError, match="no migration spec there"):
        load_spec(tmp_path / "nope.yaml")


def test_the_example_spec_is_valid():
    spec = load_spec(EXAMPLE)
    assert spec.phase == "baseline"
    assert [stream.name for stream in spec.streams] == ["clicks", "orders", "audit"]
