"""The run's migration spec: the repository's example spec (the sandbox's), with the run's
accounts and roles, names unique to the run (so it can share accounts with anything else), every
stream under a customer-managed key (a producer of another account cannot use an AWS managed
one), and the run's producer declared."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from turnout.sandbox.e2e.settings import E2eSettings
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec

EXAMPLE = Path("terraform") / "migration.yaml"
# Waits sized for AWS (mappings take seconds to change state; Lambda polls about once a second).
CUTOVER = {
    "quiet_seconds": 10,
    "unrouted_timeout_seconds": 600,
    "drain_timeout_seconds": 1200,
    "max_replication_lag_seconds": 60,
    "lock_ttl_seconds": 120,
    # An e2e run lasts minutes: the preflight gate compares this window (plus the margin) with
    # the streams' retention before the switch, and refuses a cutover that declares none.
    "planned_window_hours": 1,
    "retention_margin_hours": 6,
}


def e2e_document(example: dict, settings: E2eSettings, run_id: str) -> dict:
    document = copy.deepcopy(example)
    document["migration"] = f"e2e-{run_id}"
    document["phase"] = "baseline"
    for environment, account, role in (
        ("old", settings.old_account, settings.old_role_arn),
        ("new", settings.new_account, settings.new_role_arn),
    ):
        place = document["environments"][environment]
        place.update(account_id=account, region=settings.region)
        place["name_prefix"] = f"e2e{run_id}{environment[0]}-"
        if role:
            place["deploy_role_arn"] = role
    for stream in document["streams"]:
        stream["old_name"] = stream["new_name"] = f"e2e-{run_id}-{stream['name']}"
        stream["encryption"] = "customer_managed"
    for environment, consumers in document.get("consumers", {}).items():
        for consumer in consumers:
            if consumer.get("kind") == "lambda":
                consumer["function_name"] = (
                    f"e2e{run_id}{environment[0]}-{consumer['function_name']}"
                )
    document["route"]["parameters"] = [f"/turnout-e2e/{run_id}/kinesis-target"]
    document["route"]["cache_seconds"] = 2
    document["replication"]["external_id"] = f"turnout-e2e-{run_id}"
    document["cutover"] = dict(CUTOVER)
    # The example's data stores are sandbox buckets and tables with fixed, global names; the run
    # moves streams, consumers and producers only (the data stores' copy is proven on the
    # sandbox: tests/integration/test_whole_move_sandbox.py, docs/e2e.md).
    document["data_stores"] = []
    # The example's API is the sandbox's: a loopback HTTP API probed at 127.0.0.1, which AWS's
    # health checkers cannot reach and Route 53 refuses as a health check address
    # (https://docs.aws.amazon.com/Route53/latest/APIReference/API_HealthCheckConfig.html), in a
    # zone the sandbox creates. The API switch is proven on the sandbox instead
    # (tests/integration/test_whole_move_sandbox.py, test_api_switch.py; docs/e2e.md).
    document["apis"] = []
    document["producers"] = [
        {
            "name": "e2e-producer",
            "account_id": settings.producer_account,
            "principal_arns": [settings.producer_role_arn],
        }
    ]
    document["tags"] = {**document.get("tags", {}), "turnout:e2e": run_id}
    if "state" in document:
        # The run's state lives and dies with its work directory, not in the example's bucket.
        document["state"] = {"backend": "local"}
    return document


def write_e2e_spec(root: Path, settings: E2eSettings, run_id: str, path: Path) -> MigrationSpec:
    """Write the run's spec to `path` and load it (validated like any spec)."""
    example = yaml.safe_load((root / EXAMPLE).read_text(encoding="utf-8"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by the end-to-end run (turnout.sandbox.e2e) from terraform/migration.yaml.\n"
        + yaml.safe_dump(e2e_document(example, settings, run_id), sort_keys=False),
        encoding="utf-8",
    )
    return load_spec(path)
