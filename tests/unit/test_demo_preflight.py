"""`make demo` runs `turnout preflight --env both`'s checks against the sandbox before the
cutover and prints the table (and puts it in its --json result). Tested at unit level with the
sandbox's example spec and its consumers' mappings as the sandbox creates them (TRIM_HORIZON,
retries unbounded), read through a fake Lambda client; the demo itself runs in the slow suite."""

from __future__ import annotations

from pathlib import Path

from turnout.sandbox.demo import DemoResult, demo_text, run_sandbox_preflight
from turnout.sandbox.emulator.lambda_account import DEFAULT_CONCURRENCY
from turnout.sandbox.pipeline.create import MAPPING_SETTINGS
from turnout.sandbox.pipeline.report import compute_report
from turnout.spec.loader import load_spec
from turnout.spec.names import names

EXAMPLE = Path(__file__).resolve().parents[2] / "terraform" / "migration.yaml"


class SandboxMappings:
    """Each environment's consumers' mappings as the sandbox's pipeline creates them."""

    def __init__(self, spec, environment: str) -> None:
        place = names(spec, environment)
        self.reserved = spec.replication.reserved_concurrency or 0
        self.by_function = {
            consumer.function_name: [
                {
                    **MAPPING_SETTINGS,
                    "UUID": f"{consumer.function_name}-{stream}",
                    "EventSourceArn": place.stream_arn(stream),
                }
                for stream in consumer.streams
            ]
            for consumer in getattr(spec.consumers, environment)
        }

    def list_event_source_mappings(self, FunctionName: str, **_) -> dict:
        return {"EventSourceMappings": self.by_function.get(FunctionName, [])}

    def get_account_settings(self) -> dict:
        """The emulator's answer once the sandbox's replicator reserves its concurrency."""
        limits = {"ConcurrentExecutions": DEFAULT_CONCURRENCY}
        limits["UnreservedConcurrentExecutions"] = DEFAULT_CONCURRENCY - self.reserved
        return {"AccountLimit": limits}

    def get_function(self, FunctionName: str) -> dict:
        return {"Concurrency": {"ReservedConcurrentExecutions": self.reserved}}


class EmptyStreams:
    """The new environment's streams before the cutover: one shard each, no record yet."""

    def describe_stream_summary(self, StreamName: str) -> dict:
        return {"StreamDescriptionSummary": {"RetentionPeriodHours": 24}}

    def list_shards(self, **_) -> dict:
        return {"Shards": [{"ShardId": "shardId-000000000000"}]}

    def get_shard_iterator(self, **_) -> dict:
        return {"ShardIterator": "trim-horizon"}

    def get_records(self, **_) -> dict:
        return {"Records": [], "MillisBehindLatest": 0, "NextShardIterator": "next"}


class NoMetrics:
    """CloudWatch of an environment whose old streams publish no PutRecords.Latency (the
    emulator's): the hot-keys row times ListShards round trips instead."""

    def get_metric_data(self, **_) -> dict:
        return {"MetricDataResults": []}


class FakeSandbox:
    def __init__(self) -> None:
        self.example = load_spec(EXAMPLE)

    def spec(self):
        return self.example

    def client_aws(self):
        spec = self.example

        class Access:
            def caller(self, environment):
                account = getattr(spec.environments, environment).account_id
                return f"arn:aws:sts::{account}:assumed-role/turnout-emulator/sandbox"

            def client(self, environment, service):
                if service == "kinesis":
                    return EmptyStreams()
                if service == "cloudwatch":
                    return NoMetrics()
                assert service == "lambda"
                return SandboxMappings(spec, environment)

        return Access()


def test_the_demo_prints_the_preflight_table_of_both_environments_before_the_cutover():
    printed: list[str] = []
    report = run_sandbox_preflight(FakeSandbox(), printed.append)
    assert printed[0] == "=== preflight (turnout preflight --env both) ==="
    assert printed[-1] == "preflight (old, new): pass", printed
    verdicts = {check.name: check.verdict.value for check in report.checks}
    assert verdicts == {
        "account-identity": "pass",
        "aggregated-records": "pass",
        "consumer-retries": "pass",
        "lambda-concurrency": "pass",
        "read-across-settings": "pass",
        "direction-flag-rate": "pass",
        "hot-keys": "pass",
        "replicator-retries": "pass",
        "retention-clock": "pass",
        "retention-window": "pass",
        "starting-positions": "pass",
    }, "the sandbox's example spec passes every check, so the demo's cutover is not refused"

    result = DemoResult(
        path="baseline -> new-live -> committed",
        report=compute_report([], {"old": [], "new": []}, {}, new_required=True),
        preflight=report.to_dict(),
        preflight_table=report.text(),
    )
    text = demo_text(result)
    table_at = text.index("preflight before the cutover (turnout preflight --env both):")
    assert table_at < text.index("time per phase:")
    for name in verdicts:
        assert f"  pass    {name}" in text
    assert "  preflight (old, new): pass" in text
    assert result.as_dict()["preflight"]["verdict"] == "pass"
    assert {row["name"] for row in result.as_dict()["preflight"]["checks"]} == set(verdicts)
