"""The end-to-end run (`make e2e-aws`'s script) on the emulator, through its command line, as CI
runs it: the sample pipeline and the cutover to switched, then the rollback, with a producer in a
third account that has only its own role.

- It writes the old streams at baseline, the new ones after the switch and the old ones after the
  rollback; nothing is lost; the teardown leaves nothing behind.
- The policies Terraform rendered (the run's plans, as JSON) admit exactly that producer's calls:
  judged by the emulator's small resource-policy evaluator, since the emulator does not evaluate
  KMS key policies (docs/producers.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from turnout.sandbox.e2e.settings import EMULATOR_PRODUCER_ROLE
from turnout.sandbox.emulator.resource_policy import allows
from turnout.spec.loader import load_spec
from turnout.spec.names import names, route_table
from turnout.spec.phases import ENVIRONMENTS

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]
REPO = Path(__file__).resolve().parents[2]
STRANGER = "arn:aws:iam::333333333333:role/not-declared"
WRITES = [
    "kinesis:PutRecords",
    "kinesis:PutRecord",
    "kinesis:ListShards",
    "kinesis:DescribeStreamSummary",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory, terraform_ready) -> dict:
    work = tmp_path_factory.mktemp("e2e")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_E2E_")}
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "turnout.sandbox.e2e",
            "--emulator",
            "--rollback",
            # From switched: the third-account producer has followed the route to new and back,
            # which is what this run proves; the other transitions run on the sandbox in
            # test_cutover_sandbox.py, and `make e2e-aws` on AWS goes through new-live.
            "--rollback-from",
            "switched",
            "--json",
            # 20 events/s: every report reads every processed item, and CI's time is short.
            "--rate",
            "20",
            "--keys",
            "100",
            "--root",
            str(REPO),
            "--work-dir",
            str(work),
        ],
        capture_output=True,
        text=True,
        timeout=3300,
        env=environment,
        cwd=REPO,
    )
    print(completed.stderr[-6000:])
    assert completed.stdout, f"the run printed no result (rc {completed.returncode})"
    result = json.loads(completed.stdout)
    result["returncode"] = completed.returncode
    return result


def _why_it_failed(run: dict) -> dict:
    """What a failed run's result says about the failure (the report's losses with samples)."""
    environments = run["report"].get("environments", {})
    return {
        "error": run.get("error"),
        "lost": {name: (e["lost"], e["lost_sample"]) for name, e in environments.items()},
        "unsent_never_accepted": run["producer"].get("unsent_never_accepted"),
        "teardown": run["teardown"],
    }


def test_the_run_loses_nothing_and_leaves_nothing_behind(run):
    assert run["returncode"] == 0, _why_it_failed(run)
    assert run["error"] is None
    assert run["nothing_lost"] and run["report"]["lost"] == 0
    assert run["report"]["produced"]["total"] >= 1000
    assert run["teardown"]["terraform"] == ["old", "new"]
    assert run["producer"]["unsent_never_accepted"] == 0
    assert run["left_behind"] == [] and run["teardown"]["problems"] == []
    assert run["teardown"]["pipeline"]["functions"] == 4


def test_the_third_account_producer_writes_new_after_the_switch_and_old_after_the_rollback(run):
    assert "333333333333" in run["where"]
    stretches = run["writes_by_route"]
    assert [stretch["route"] for stretch in stretches] == ["old", "new", "old"], stretches
    baseline, switched, rolled_back = stretches
    assert baseline["old"] > 0 and baseline["new"] == 0
    assert switched["new"] > 0 and switched["old"] == 0
    assert rolled_back["old"] > 0 and rolled_back["new"] == 0


def planned(run: dict, environment: str) -> dict[str, list[dict]]:
    plan = json.loads(Path(run["plans"][environment]).read_text())
    found: dict[str, list[dict]] = {}
    pending = [plan["planned_values"]["root_module"]]
    while pending:
        module = pending.pop()
        for resource in module.get("resources", []):
            found.setdefault(resource["type"], []).append(resource["values"])
        pending.extend(module.get("child_modules", []))
    return found


def test_the_rendered_policies_admit_exactly_the_producers_calls(run):
    spec = load_spec(Path(run["work_dir"]) / "migration.yaml")
    for environment in ENVIRONMENTS:
        plan, mine = planned(run, environment), names(spec, environment)
        stream_policies = [json.loads(p["policy"]) for p in plan["aws_kinesis_resource_policy"]]
        key_policies = {p["description"]: json.loads(p["policy"]) for p in plan["aws_kms_key"]}
        for stream in spec.streams:
            arn = mine.stream_arn(stream.name)
            (policy,) = [p for p in stream_policies if p["Statement"][0]["Resource"] == arn]
            for action in WRITES:
                assert allows(policy, principal=EMULATOR_PRODUCER_ROLE, action=action, resource=arn)
                assert not allows(policy, principal=STRANGER, action=action, resource=arn)
            assert not allows(
                policy, principal=EMULATOR_PRODUCER_ROLE, action="kinesis:GetRecords", resource=arn
            )
            key = key_policies[
                f"Server-side encryption of the Kinesis stream {mine.stream(stream.name)}"
            ]
            through_kinesis = {
                "kms:ViaService": f"kinesis.{mine.place.region}.amazonaws.com",
                "kms:EncryptionContext:aws:kinesis:arn": arn,
            }
            key_arn = f"arn:aws:kms:{mine.place.region}:{mine.place.account_id}:key/any"
            call = {"action": "kms:GenerateDataKey", "resource": key_arn}
            assert allows(key, principal=EMULATOR_PRODUCER_ROLE, context=through_kinesis, **call)
            assert not allows(key, principal=STRANGER, context=through_kinesis, **call)
            assert not allows(key, principal=EMULATOR_PRODUCER_ROLE, **call), "only through Kinesis"
            assert not allows(
                key,
                principal=EMULATOR_PRODUCER_ROLE,
                action="kms:Decrypt",
                resource=key_arn,
                context=through_kinesis,
            )
    table = route_table(spec)
    (route_policy,) = planned(run, table.environment)["aws_dynamodb_resource_policy"]
    policy = json.loads(route_policy["policy"])
    arn = table.route_table_arn
    assert allows(policy, principal=EMULATOR_PRODUCER_ROLE, action="dynamodb:GetItem", resource=arn)
    assert not allows(policy, principal=STRANGER, action="dynamodb:GetItem", resource=arn)
    assert not allows(
        policy, principal=EMULATOR_PRODUCER_ROLE, action="dynamodb:PutItem", resource=arn
    )


def test_without_the_accounts_make_e2e_aws_refuses_in_one_paragraph_and_creates_nothing(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TURNOUT_E2E_")}
    completed = subprocess.run(
        [sys.executable, "-m", "turnout.sandbox.e2e", "--work-dir", str(tmp_path / "work")],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        cwd=REPO,
    )
    assert completed.returncode == 2
    assert (
        "TURNOUT_E2E_OLD_ACCOUNT" in completed.stderr and "Nothing was started" in completed.stderr
    )
    assert "Traceback" not in completed.stderr and completed.stderr.count("\n") == 1
    assert not (tmp_path / "work").exists()
