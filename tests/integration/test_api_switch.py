"""The API switch on the emulator: real Terraform applies modules/api-switch with the weights of
each step's posture (rendered through the real template), real Route 53 records and health
checks in the emulator, whose health checks probe the sandbox's loopback HTTP APIs (one per
environment). After each phase the test resolves the record (ListResourceRecordSets, the
weights) and calls the endpoint it chose. The cutover's stream hooks are stand-ins (the sandbox
test runs them); the API hooks, the engine, its state, journal and lock are the real ones.

Proven: the weight moves at the declared point in steps, each gated by the health check, and a
rollback after the switch puts it back on the old endpoint; a record or zone that does not
exist, or a zone name held by no zone or by two, stops the cutover before anything changes (a
zone found by its name, through Terraform's data source and the hooks, is proven on the sandbox:
test_whole_move_sandbox.py); a health check that never turns healthy fails the step
after its bounded wait with one paragraph, the weights where they were and the live phase as the
journal says.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest
from datastores_kit import make_spec
from engine_kit import emulator_engine, hooks_of, stand_in_hooks
from test_monitoring_module import mirror_only_cli_config
from test_whole_move_engine import state_item

from turnout.apis.zones import hosted_zone_id
from turnout.deploy.render import phase_posture, render_environments
from turnout.deploy.terraform import EMULATOR_CREDENTIALS, TERRAFORM_GOGC
from turnout.engine.runner import CutoverFailed
from turnout.engine.steps import path
from turnout.sandbox.api_server import SandboxApi
from turnout.spec.model import MigrationSpec

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
API_HOOKS = ("check_apis", "verify_api_weights", "verify_api_healthy")
TERRAFORM_TIMEOUT = 240

ROOT = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}
variable "endpoint" { type = string }
variable "account_id" { type = string }
variable "apis" { type = any }
provider "aws" {
  region                      = "eu-west-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = "true"
  assume_role { role_arn = "arn:aws:iam::${var.account_id}:role/turnout-emulator-deployer" }
  endpoints {
    route53 = var.endpoint
    sts     = var.endpoint
  }
}
module "api_switch" {
  source       = "./api-switch"
  for_each     = var.apis
  zone_id      = each.value.zone_id
  zone_name    = each.value.zone_name
  record_name  = each.value.record_name
  ttl          = each.value.ttl
  endpoints    = each.value.endpoints
  new_weight   = each.value.new_weight
  health_check = each.value.health_check
}
"""


class ApiSwitchApplier:
    """Applies each posture's API weights with real Terraform (the rendered tfvars' `apis`
    through modules/api-switch), then plans again and requires no changes."""

    def __init__(self, spec: MigrationSpec, directory: Path, emulator) -> None:
        self.spec, self.dir, self.applied = spec, directory, []
        self.last_tfvars: str | None = None
        directory.mkdir()
        (directory / "main.tf").write_text(ROOT)
        shutil.copytree(REPO / "modules" / "api-switch", directory / "api-switch")
        self.env = {
            **os.environ,
            **EMULATOR_CREDENTIALS,
            "TF_IN_AUTOMATION": "1",
            "CHECKPOINT_DISABLE": "1",
            "TF_DATA_DIR": str(directory / ".terraform"),
            "GOGC": os.environ.get("GOGC", TERRAFORM_GOGC),  # as turnout runs Terraform
        }
        mirror = os.environ.get("TURNOUT_PROVIDER_MIRROR")
        if mirror:
            config = mirror_only_cli_config(directory / "terraform.rc", mirror)
            self.env["TF_CLI_CONFIG_FILE"] = str(config)
        self.base = {"endpoint": emulator.endpoint_url, "account_id": emulator.old_account_id}
        self.terraform("init", "-input=false")

    def terraform(self, *args: str, expect: tuple[int, ...] = (0,)) -> int:
        done = subprocess.run(
            [os.environ.get("TURNOUT_TERRAFORM_BIN", "terraform"), *args, "-no-color"],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=TERRAFORM_TIMEOUT,
            check=False,
        )
        assert done.returncode in expect, done.stdout[-3000:] + done.stderr[-3000:]
        return done.returncode

    def apply(self, phase, posture, label, environments=("old", "new")):
        files = render_environments(
            self.spec, REPO / "terraform", phase=phase, output_dir=self.dir, posture=posture
        )
        apis = json.loads(next(f.content for f in files if f.environment == "old"))["apis"]
        tfvars = json.dumps({**self.base, "apis": apis})
        # Like the engine, whose apply changes nothing when the plan shows no changes: vars the
        # records already have are not applied again (most postures carry the same weights).
        if tfvars != self.last_tfvars:
            (self.dir / "terraform.tfvars.json").write_text(tfvars)
            self.terraform("apply", "-input=false", "-auto-approve")
            self.terraform("plan", "-input=false", "-detailed-exitcode")  # 2 would be drift
            self.last_tfvars = tfvars
        self.applied.append((label.rsplit("/", 1)[-1], posture.api_weight("orders")))
        return {"posture": posture.describe()}

    def plan_texts(self, phase, posture, label):
        return []


@pytest.fixture
def apis(tmp_path):
    """The sandbox's HTTP API of each environment on loopback (the new one healthy unless the
    test says), bounded in time and stopped by PID."""
    started: list[SandboxApi] = []

    def start(new_healthy: bool = True) -> dict[str, int]:
        ports = {}
        for environment in ("old", "new"):
            api = SandboxApi(environment, tmp_path / "apis")
            healthy = new_healthy or environment == "old"
            ports[environment] = api.start(sys.executable, lifetime_seconds=900, healthy=healthy)
            started.append(api)
        return ports

    yield start
    for api in started:
        api.stop()


def api_spec(emulator, ports: dict[str, int], at: dict, **changes) -> tuple[MigrationSpec, str]:
    zone = f"api-{uuid.uuid4().hex[:8]}.test"
    created = emulator.client("route53", "old").create_hosted_zone(
        Name=zone, CallerReference=uuid.uuid4().hex
    )
    entry = {
        "name": "orders",
        "zone_id": created["HostedZone"]["Id"].split("/")[-1],
        "record": f"orders.{zone}",
        "ttl": 5,
        "endpoints": {"old": f"orders-old.{zone}", "new": f"orders-new.{zone}"},
        "at": at,
        "weights": [50, 100],
        "health_check": {
            "protocol": "HTTP",
            "port": ports["new"],
            "path": "/health",
            "ip_address": "127.0.0.1",
            "healthy_seconds": 2,
            "timeout_seconds": 10,
            "poll_seconds": 1,
        },
        **changes,
    }
    spec = make_spec(emulator, [])
    return MigrationSpec.model_validate({**spec.model_dump(mode="json"), "apis": [entry]}), zone


def engine_for(emulator, spec, tmp_path, monkeypatch):
    names = hooks_of(spec, [*path("baseline", "committed"), ("new-live", "rolled-back")])
    hooks = stand_in_hooks(tmp_path / "hooks", names, monkeypatch, real=API_HOOKS)
    applier = ApiSwitchApplier(spec, tmp_path / "terraform", emulator)
    progress: list[str] = []
    engine = emulator_engine(emulator, spec, hooks, applier, progress.append)
    return engine, applier, progress


def resolve_and_call(emulator, spec, ports: dict[str, int]) -> tuple[dict, str]:
    """The record's weights, and the environment of the endpoint a weighted answer chose (the
    heaviest record; the sandbox maps each endpoint name to its loopback port)."""
    api = spec.apis[0]
    route53 = emulator.client("route53", "old")
    records = route53.list_resource_record_sets(
        HostedZoneId=hosted_zone_id(route53, api),
        StartRecordName=api.record,
        StartRecordType="CNAME",
    )["ResourceRecordSets"]
    mine = [r for r in records if r["Name"].rstrip(".") == api.record]
    weights = {r["SetIdentifier"]: r["Weight"] for r in mine}
    chosen = max(mine, key=lambda r: r["Weight"])["ResourceRecords"][0]["Value"].rstrip(".")
    environment = "new" if chosen == api.endpoints.new else "old"
    with urllib.request.urlopen(f"http://127.0.0.1:{ports[environment]}/", timeout=5) as answer:
        return weights, json.loads(answer.read())["environment"]


def test_the_api_moves_in_gated_steps_and_a_rollback_after_the_switch_puts_it_back(
    emulator, terraform_ready, apis, tmp_path, monkeypatch
):
    ports = apis()
    at = {"transition": "mirrored->new-live", "when": "post"}
    spec, _ = api_spec(emulator, ports, at)
    engine, applier, progress = engine_for(emulator, spec, tmp_path, monkeypatch)
    applier.apply("baseline", phase_posture(spec, "baseline"), "setup")
    old_only = {"turnout-old": 100, "turnout-new": 0}
    assert resolve_and_call(emulator, spec, ports) == (old_only, "old")
    for phase in ("switched", "mirrored"):
        engine.run(phase)
        assert resolve_and_call(emulator, spec, ports) == (old_only, "old"), phase
    engine.run("new-live")
    assert resolve_and_call(emulator, spec, ports) == (
        {"turnout-old": 0, "turnout-new": 100},
        "new",
    )
    assert [label for label, _ in applier.applied][-3:] == [
        "new-live-vars",
        "api-orders-50",
        "api-orders-100",
    ]
    assert [weight for _, weight in applier.applied][-3:] == [0, 50, 100]
    assert any("healthy for" in line and "s of 2 s wanted" in line for line in progress), (
        "the gate shows its wait"
    )
    engine.run("rolled-back")
    assert resolve_and_call(emulator, spec, ports) == (old_only, "old")
    assert [weight for _, weight in applier.applied][-3:] == [100, 0, 0], (
        "the weight stays on new until the producers go back to old, then goes back with them"
    )


def by_zone_name(spec: MigrationSpec, zone: str, **changes) -> MigrationSpec:
    document = spec.model_dump(mode="json")
    document["apis"][0].update(zone_id=None, zone=zone, **changes)
    return MigrationSpec.model_validate(document)


@pytest.mark.parametrize(
    "missing", ["record", "hosted zone", "zone by name", "zone name held twice"]
)
def test_an_api_record_that_does_not_exist_stops_the_cutover_before_anything_changes(
    emulator, terraform_ready, apis, tmp_path, monkeypatch, missing
):
    at = {"transition": "baseline->switched", "when": "pre"}
    changes = {"zone_id": "ZNOSUCHZONE0001"} if missing == "hosted zone" else {}
    spec, zone = api_spec(emulator, apis(), at, **changes)  # Terraform never made the records
    if missing == "zone by name":
        spec = by_zone_name(spec, f"gone-{zone}", record=f"orders.gone-{zone}")
    elif missing == "zone name held twice":
        route53 = emulator.client("route53", "old")
        route53.create_hosted_zone(Name=zone, CallerReference=uuid.uuid4().hex)
        spec = by_zone_name(spec, zone)
    engine, applier, _ = engine_for(emulator, spec, tmp_path, monkeypatch)
    dynamodb = emulator.client("dynamodb", "old")
    engine.run("baseline")
    before = state_item(dynamodb, spec)
    with pytest.raises(CutoverFailed) as refused:
        engine.run("switched")
    message = str(refused.value)
    if missing == "record":
        assert "apis[0].record" in message and "has no weighted CNAME record" in message
    elif missing == "hosted zone":
        assert "apis[0].zone_id" in message and "ZNOSUCHZONE0001 does not exist" in message
    elif missing == "zone by name":
        assert (
            "apis[0].zone" in message and f"no public hosted zone is named 'gone-{zone}'" in message
        )
    else:
        assert "apis[0].zone" in message and f"2 public hosted zones are named '{zone}'" in message
        assert "zone_id instead" in message
    assert "Nothing was changed: no step ran, the live phase is still 'baseline'" in message
    assert "\n" not in message and "Traceback" not in message
    assert state_item(dynamodb, spec) == before, "the migration state is exactly as it was"
    assert applier.applied == [] and not (tmp_path / "hooks.log").exists(), "no step ran"


def test_a_health_check_that_never_turns_healthy_fails_the_gate_with_the_weights_unchanged(
    emulator, terraform_ready, apis, tmp_path, monkeypatch
):
    ports = apis(new_healthy=False)  # the new API answers /health with 503
    at = {"transition": "baseline->switched", "when": "pre"}
    spec, _ = api_spec(emulator, ports, at)
    engine, applier, progress = engine_for(emulator, spec, tmp_path, monkeypatch)
    applier.apply("baseline", phase_posture(spec, "baseline"), "setup")
    with pytest.raises(CutoverFailed) as failed:
        engine.run("switched")
    message = str(failed.value)
    assert "health check" in message and "HTTP Status Code 503" in message, message
    assert "apis[0].health_check" in message and "Traceback" not in message
    assert "Nothing was applied in this transition" in message
    assert "The records keep their weights (the new endpoint has 0% of the answers" in message
    waits = [line for line in progress if "unhealthy" in line and "s of 10 s" in line]
    assert len(waits) >= 5, "the bounded wait shows its progress"
    old_only = {"turnout-old": 100, "turnout-new": 0}
    assert resolve_and_call(emulator, spec, ports) == (old_only, "old"), "weights unchanged"
    assert [label for label, _ in applier.applied] == ["setup"], "no weight step was applied"
    state = engine.store.load()
    assert state.phase == "baseline", "the live phase is unchanged"
    assert state.transition.to_phase == "switched"
    assert "api-orders-healthy" not in state.transition.completed_steps
    # The on-failure queues' baselines are recorded before the API's gate (a record in the
    # markers table, nothing of the pipeline); no apply started.
    assert state.transition.started_side_effects == ["discard-baselines"], "no apply started"
    journal = engine.store.read_journal(newest_first=False)
    assert ("step", "failed", "api-orders-healthy") in [
        (e["kind"], e["action"], e["details"].get("step")) for e in journal
    ]


def test_a_5xx_alarm_in_alarm_blocks_the_weight_step_and_once_ok_lets_it_move(
    emulator, terraform_ready, apis, tmp_path, monkeypatch
):
    """The gate reads the operator's CloudWatch alarm instead of the Route 53 health check (the
    new API answers its health path with 503, so only the alarm can let the step pass). The
    emulator evaluates an alarm only once its metric has a datum, and this one has none: the test
    sets its state, as CloudWatch would on AWS when the 5xx count crosses the threshold or falls
    back under it."""
    ports = apis(new_healthy=False)
    alarm = f"orders-new-5xx-{uuid.uuid4().hex[:6]}"
    cloudwatch = emulator.client("cloudwatch", "new")
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/ApiGateway",
        MetricName="5XXError",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="5xx: 12 >= 1")
    at = {"transition": "baseline->switched", "when": "pre"}
    health = {"healthy_seconds": 2, "timeout_seconds": 10, "poll_seconds": 1}
    spec, _ = api_spec(emulator, ports, at)
    entry = spec.apis[0].model_dump(mode="json", exclude_none=True)
    entry["health_check"] = {**entry["health_check"], **health, "alarm": {"name": alarm}}
    entry["weights"] = [100]  # one step: the gate, not the stepping, is under test here
    document = {**spec.model_dump(mode="json"), "apis": [entry]}
    spec = MigrationSpec.model_validate(document)
    engine, applier, progress = engine_for(emulator, spec, tmp_path, monkeypatch)
    applier.apply("baseline", phase_posture(spec, "baseline"), "setup")
    with pytest.raises(CutoverFailed) as failed:
        engine.run("switched")
    message = str(failed.value)
    assert f"CloudWatch alarm '{alarm}' (new environment)" in message, message
    assert "alarm state ALARM (5xx: 12 >= 1)" in message
    assert "The records keep their weights (the new endpoint has 0% of the answers" in message
    assert [label for label, _ in applier.applied] == ["setup"], "no weight step was applied"
    assert engine.store.load().phase == "baseline"

    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="5xx: 0 < 1")
    engine.run("switched")
    assert engine.store.load().phase == "switched"
    moved = [label.rsplit("/", 1)[-1] for label, _ in applier.applied]
    assert "api-orders-100" in moved
    assert any(f"CloudWatch alarm '{alarm}'" in line and "healthy" in line for line in progress)
