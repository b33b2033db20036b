"""An environment deployed with the previous module layout upgrades to the current one with moves
only: no alarm, key, alias or key policy of it is changed, replaced or destroyed; what later
versions added (two retention and two buffered-retention alarms, on the dashboard; the
replicator's code) is all else.

The previous layout (commit 676c0cb: KMS key, alias and policy inside kinesis-stream, replicator
and control-plane; seven alarm resources in monitoring) is kept as test data under
fixtures/previous-modules/. One small root configuration in a scratch directory calls those
modules with realistic inputs and is applied with real Terraform to the session's emulator; the
same root and state are then pointed at the current modules/, and the plan must contain the
expected moves and nothing else. A second, never-applied plan replaces the three keys to read the
policies the current modules would write, which must equal the deployed ones byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from test_monitoring_module import mirror_only_cli_config

from turnout.deploy.terraform import EMULATOR_CREDENTIALS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PREVIOUS_MODULES = Path(__file__).resolve().parent / "fixtures" / "previous-modules"
CURRENT_MODULES = REPO / "modules"
# An account of its own in the session's emulator: no other test has resources there.
ACCOUNT = "333333333333"
TERRAFORM_TIMEOUT = 240

STREAM_KEY = 'module.stream["clicks"].module.key[0]'
REPLICATOR_KEY = "module.replicator.module.key[0]"
CONTROL_PLANE_KEY = "module.control_plane.module.key[0]"
MONITORING = "module.monitoring"
ALARM = "aws_cloudwatch_metric_alarm"

# previous address -> current address: the moved blocks of the current modules, for this root.
EXPECTED_MOVES = {
    'module.stream["clicks"].aws_kms_key.this[0]': f"{STREAM_KEY}.aws_kms_key.this",
    'module.stream["clicks"].aws_kms_alias.this[0]': f"{STREAM_KEY}.aws_kms_alias.this",
    "module.replicator.aws_kms_key.this[0]": f"{REPLICATOR_KEY}.aws_kms_key.this",
    "module.replicator.aws_kms_alias.this[0]": f"{REPLICATOR_KEY}.aws_kms_alias.this",
    "module.control_plane.aws_kms_key.this[0]": f"{CONTROL_PLANE_KEY}.aws_kms_key.this",
    "module.control_plane.aws_kms_alias.this[0]": f"{CONTROL_PLANE_KEY}.aws_kms_alias.this",
    **{
        f'{MONITORING}.{ALARM}.{old}["{key}"]': f'{MONITORING}.module.alarms["{kind}"].{ALARM}.this["{key}"]'
        for old, kind, key in (
            ("replication_lag", "replication_lag", "clicks"),
            ("replication_lag", "replication_lag", "orders"),
            ("replicator_throttles", "replicator_throttles", "clicks"),
            ("replicator_throttles", "replicator_throttles", "orders"),
            ("lambda_consumer_iterator_age", "consumer_iterator_age", "upg-clicks-processor"),
            ("kcl_consumer_behind_latest", "consumer_behind_latest", "upg-orders-app"),
        )
    },
    **{
        f"{MONITORING}.{ALARM}.{old}": f'{MONITORING}.module.alarms["replicator"].{ALARM}.this["{key}"]'
        for old, key in (
            ("replicator_iterator_age", "iterator_age"),
            ("replicator_errors", "errors"),
            ("failure_queue_depth", "failure_queue_depth"),
        )
    },
}

ROOT = """
terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

variable "emulator_endpoint" {
  type = string
}

variable "account_id" {
  type = string
}

variable "package" {
  type = object({ filename = string, source_code_hash = string })
}

# The root's emulator mode (terraform/providers.tf): every endpoint at the emulator, no account
# lookups, and the account chosen by assuming a role in it.
provider "aws" {
  region = "eu-west-1"

  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = "true"
  skip_region_validation      = true

  assume_role {
    role_arn     = "arn:aws:iam::${var.account_id}:role/turnout-emulator-deployer"
    session_name = "turnout-upgrade-test"
  }

  endpoints {
    cloudwatch = var.emulator_endpoint
    dynamodb   = var.emulator_endpoint
    iam        = var.emulator_endpoint
    kinesis    = var.emulator_endpoint
    kms        = var.emulator_endpoint
    lambda     = var.emulator_endpoint
    logs       = var.emulator_endpoint
    sqs        = var.emulator_endpoint
    ssm        = var.emulator_endpoint
    sts        = var.emulator_endpoint
  }
}

locals {
  tags = { "turnout:migration" = "upgrade", "turnout:environment" = "old" }
  streams = {
    clicks = { name = "upg-clicks", kms_key = "customer_managed", peer_name = "clicks" }
    orders = { name = "upg-orders", kms_key = "aws_managed", peer_name = "orders" }
  }
}

module "stream" {
  source   = "./modules/kinesis-stream"
  for_each = local.streams

  name                = each.value.name
  mode                = "PROVISIONED"
  shard_count         = 1
  retention_hours     = 24
  kms_key             = each.value.kms_key
  kms_alias_name      = "alias/upg-${each.key}-kinesis"
  # No shard_level_metrics: each stream update waits ~10 s for ACTIVE, and the test stays short.

  tags = merge(local.tags, { "turnout:stream" = each.key })
}

module "control_plane" {
  source = "./modules/control-plane"

  manage_tables      = true
  state_table_name   = "upg-turnout-state"
  lock_table_name    = "upg-turnout-lock"
  markers_table_name = "upg-turnout-markers"
  kms_alias_name     = "alias/upg-turnout-control-plane"

  route = {
    managed_here = true
    parameters   = ["/upgrade/kinesis-target"]
    value        = jsonencode({ environment = "old" })
  }

  active_direction_parameter_name = "/turnout/upgrade/active-direction"
  active_direction                = "none"

  tags = local.tags
}

module "replicator" {
  source = "./modules/replicator"

  name              = "upg-turnout-replicator-old-to-new"
  direction         = "old_to_new"
  enabled           = false
  ledger_table_name = "upg-turnout-ledger-old-to-new"

  source_streams = {
    for k, s in local.streams : k => {
      name        = module.stream[k].name
      arn         = module.stream[k].arn
      kms_key_arn = module.stream[k].kms_key_arn
      target_name = s.peer_name
    }
  }

  target = {
    role_arn    = "arn:aws:iam::444444444444:role/v2-turnout-writer-from-old"
    external_id = "turnout-upgrade-test"
    region      = "eu-west-1"
  }

  direction_parameter = {
    name = "/turnout/upgrade/active-direction"
    arn  = module.control_plane.active_direction_parameter_arn
  }

  package = var.package

  tags = local.tags
}

module "monitoring" {
  source = "./modules/monitoring"

  name   = "upg-turnout-upgrade-old"
  region = "eu-west-1"

  replicator = {
    function_name      = module.replicator.function_name
    direction          = "old_to_new"
    source_streams     = { for k, m in module.stream : k => m.name }
    failure_queue_name = element(split(":", module.replicator.failure_queue_arn), 5)
  }

  consumers = {
    lambda_functions = ["upg-clicks-processor"]
    kcl_applications = ["upg-orders-app"]
  }

  thresholds = { replication_lag_ms = 60000 }

  tags = local.tags
}

# What callers read from the modules: the upgrade must not change any of it.
output "alarm_names" {
  value = module.monitoring.alarm_names
}

output "alarm_arns" {
  value = module.monitoring.alarm_arns
}

output "dashboard_name" {
  value = module.monitoring.dashboard_name
}

output "keys" {
  value = {
    streams       = { for k, m in module.stream : k => [m.kms_key_arn, m.kms_key_id, m.kms_alias_name] }
    replicator    = module.replicator.kms_key_arn
    control_plane = module.control_plane.kms_key_arn
  }
}
"""


# --------------------------------------------------------------------------- the plan checks


def _action(actions: list[str]) -> str:
    if actions in (["delete", "create"], ["create", "delete"]):
        return "replace"
    return "/".join(actions)


# In-place updates that come with the upgrade but not from the layout: the replicator's
# behaviour changed since the previous modules (its metrics became embedded-metric-format log
# lines, so its role lost cloudwatch:PutMetricData, and its code and settings changed). Updated in
# place, never created, destroyed or replaced.
# What later versions add or change in place (features, not the move): the replicator's code and
# policy; two retention and two buffered-retention alarms, which the dashboard's alarm widget
# and the outputs list.
LATER_UPDATES = frozenset(
    {
        "module.replicator.aws_iam_role_policy.this",
        "module.replicator.aws_lambda_function.this",
        f"{MONITORING}.aws_cloudwatch_dashboard.this",
    }
)
LATER_ADDITIONS = frozenset(
    f'{MONITORING}.module.alarms["{kind}"].{ALARM}.this["{key}"]'
    for kind in ("retention", "buffering")
    for key in ("50pct", "80pct")
)
LATER_OUTPUT_UPDATES = frozenset({"alarm_names", "alarm_arns"})


def moves_only_violations(
    plan: dict,
    updates: frozenset[str] = frozenset(),
    additions: frozenset[str] = frozenset(),
    output_updates: frozenset[str] = frozenset(),
) -> list[str]:
    """Everything in a `terraform show -json` plan document that is not a pure move (or an
    in-place update of one of `updates`, the creation of one of `additions`, a change of one of
    `output_updates`)."""
    problems = []
    for change in plan.get("resource_changes", []):
        actions = change.get("change", {}).get("actions", [])
        if actions == ["update"] and change.get("address") in updates:
            continue
        if actions == ["create"] and change.get("address") in additions:
            continue
        if actions != ["no-op"]:
            problems.append(f"{change.get('address')}: {_action(actions)}")
        if change.get("change", {}).get("importing") is not None:
            problems.append(f"{change.get('address')}: import")
    for name, change in plan.get("output_changes", {}).items():
        if change.get("actions") == ["update"] and name in output_updates:
            continue
        if change.get("actions") != ["no-op"]:
            problems.append(f"output {name}: {_action(change.get('actions', []))}")
    return problems


def assert_moves_only(
    plan: dict,
    expected_moves: dict[str, str],
    updates: frozenset[str] = frozenset(),
    additions: frozenset[str] = frozenset(),
    output_updates: frozenset[str] = frozenset(),
) -> None:
    """The plan moves exactly `expected_moves` (previous address -> address) and changes nothing
    (but `updates` in place, `additions` created, `output_updates`)."""
    problems = moves_only_violations(plan, updates, additions, output_updates)
    assert not problems, "the upgrade plan is not moves-only: " + "; ".join(problems)
    moves = {
        change["previous_address"]: change["address"]
        for change in plan.get("resource_changes", [])
        if change.get("previous_address")
    }
    missing = {k: v for k, v in expected_moves.items() if moves.get(k) != v}
    unexpected = {k: v for k, v in moves.items() if expected_moves.get(k) != v}
    assert not missing and not unexpected, (
        f"{len(moves)} moves instead of {len(expected_moves)}: missing {missing}, "
        f"unexpected {unexpected}"
    )


def _change(address: str, actions: list[str], previous: str | None = None) -> dict:
    change = {"address": address, "mode": "managed", "change": {"actions": actions}}
    if previous:
        change["previous_address"] = previous
    return change


MOVE = ("module.a.aws_kms_key.this[0]", "module.a.module.key[0].aws_kms_key.this")


def test_the_check_accepts_a_plan_of_moves_only():
    plan = {
        "resource_changes": [
            _change(MOVE[1], ["no-op"], previous=MOVE[0]),
            _change("module.a.aws_kinesis_stream.this", ["no-op"]),
        ],
        "output_changes": {"keys": {"actions": ["no-op"]}},
    }
    assert_moves_only(plan, dict([MOVE]))


@pytest.mark.parametrize(
    ("actions", "word"),
    [
        (["create"], "create"),
        (["update"], "update"),
        (["delete"], "delete"),
        (["delete", "create"], "replace"),
        (["create", "delete"], "replace"),
        (["read"], "read"),
    ],
)
def test_the_check_refuses_a_plan_that_does_more_than_move(actions, word):
    plan = {
        "resource_changes": [
            _change(MOVE[1], ["no-op"], previous=MOVE[0]),
            _change('module.monitoring.aws_cloudwatch_metric_alarm.this["x"]', actions),
        ]
    }
    with pytest.raises(AssertionError, match=rf"not moves-only: .*this\[\"x\"\]: {word}"):
        assert_moves_only(plan, dict([MOVE]))


def test_the_check_refuses_a_moved_resource_that_also_changes():
    plan = {"resource_changes": [_change(MOVE[1], ["update"], previous=MOVE[0])]}
    with pytest.raises(AssertionError, match=r"aws_kms_key\.this: update"):
        assert_moves_only(plan, dict([MOVE]))


def test_the_check_refuses_a_changed_output_and_an_import():
    plan = {
        "resource_changes": [
            {
                **_change(MOVE[1], ["no-op"], previous=MOVE[0]),
                "change": {"actions": ["no-op"], "importing": {"id": "k"}},
            },
        ],
        "output_changes": {"alarm_names": {"actions": ["update"]}},
    }
    with pytest.raises(AssertionError, match=r"import.*output alarm_names: update"):
        assert_moves_only(plan, dict([MOVE]))


def test_the_check_refuses_a_missing_or_an_unexpected_move():
    plan = {"resource_changes": [_change(MOVE[1], ["no-op"], previous=MOVE[0])]}
    with pytest.raises(AssertionError, match="1 moves instead of 2"):
        assert_moves_only(plan, {**dict([MOVE]), "aws_kms_alias.this[0]": "module.key.x"})
    with pytest.raises(AssertionError, match="1 moves instead of 0"):
        assert_moves_only(plan, {})


# --------------------------------------------------------------------------- the upgrade


def _sha256_sums(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.glob("*/*.tf"))
    }


def test_the_previous_layout_is_unchanged_test_data():
    recorded = dict(
        reversed(line.split())
        for line in (PREVIOUS_MODULES / "SHA256SUMS").read_text().splitlines()
    )
    assert _sha256_sums(PREVIOUS_MODULES) == recorded
    assert {Path(name).parent.name for name in recorded} == {
        "control-plane",
        "kinesis-stream",
        "monitoring",
        "replicator",
    }


class Root:
    """The scratch root configuration and the Terraform commands run on it."""

    def __init__(self, directory: Path, endpoint: str) -> None:
        self.dir = directory
        self.dir.mkdir()
        (self.dir / "main.tf").write_text(ROOT)
        package = self.dir / "replicator.zip"
        with zipfile.ZipFile(package, "w") as archive:
            info = zipfile.ZipInfo("replicator.py", date_time=(2020, 1, 1, 0, 0, 0))
            archive.writestr(info, "def handler(event, context):\n    return None\n")
        digest = base64.b64encode(hashlib.sha256(package.read_bytes()).digest()).decode()
        (self.dir / "test.auto.tfvars.json").write_text(
            json.dumps(
                {
                    "emulator_endpoint": endpoint,
                    "account_id": ACCOUNT,
                    "package": {"filename": str(package), "source_code_hash": digest},
                }
            )
        )
        self.env = {
            **os.environ,
            **EMULATOR_CREDENTIALS,
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "TF_DATA_DIR": str(self.dir / ".terraform"),
        }
        mirror = os.environ.get("TURNOUT_PROVIDER_MIRROR")
        if mirror:
            self.env["TF_CLI_CONFIG_FILE"] = str(
                mirror_only_cli_config(directory.parent / "terraform.rc", mirror)
            )
        self.binary = os.environ.get("TURNOUT_TERRAFORM_BIN", "terraform")

    def use_modules(self, source: Path) -> None:
        """Point the root's ./modules at a module layout; the module manifest is rebuilt (init
        records a local module's directory once and would keep the previous one)."""
        shutil.rmtree(self.dir / "modules", ignore_errors=True)
        shutil.copytree(
            source, self.dir / "modules", ignore=shutil.ignore_patterns(".terraform*", "tests")
        )
        shutil.rmtree(self.dir / ".terraform" / "modules", ignore_errors=True)
        self.run("init", "-input=false")

    def run(self, *args: str) -> str:
        completed = subprocess.run(
            [self.binary, *args, "-no-color"],
            cwd=self.dir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TERRAFORM_TIMEOUT,
            check=False,
        )
        assert completed.returncode == 0, (
            f"terraform {' '.join(args)} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
        )
        return completed.stdout

    def plan(self, name: str, *args: str) -> dict:
        self.run("plan", "-input=false", f"-out={name}.tfplan", *args)
        return json.loads(self.run("show", "-json", f"{name}.tfplan"))


def _resource(plan: dict, address: str) -> dict:
    (change,) = [c for c in plan["resource_changes"] if c["address"] == address]
    return change


def test_an_environment_of_the_previous_layout_upgrades_with_moves_only(
    tmp_path, terraform_ready, emulator
):
    root = Root(tmp_path / "root", emulator.endpoint_url)

    root.use_modules(PREVIOUS_MODULES)
    root.run("apply", "-input=false", "-auto-approve")
    previous_addresses = {
        address
        for address in root.run("state", "list").split()
        if not address.startswith("data.") and ".data." not in address
    }
    assert set(EXPECTED_MOVES) <= previous_addresses, sorted(previous_addresses)

    root.use_modules(CURRENT_MODULES)
    upgrade = root.plan("upgrade")
    assert_moves_only(upgrade, EXPECTED_MOVES, LATER_UPDATES, LATER_ADDITIONS, LATER_OUTPUT_UPDATES)
    moved = [c for c in upgrade["resource_changes"] if c.get("previous_address")]
    # 3 keys and their aliases; 2 lag, 2 throttle, 3 replicator, 1 Lambda and 1 KCL alarm.
    assert len(moved) == 15
    # Every other resource of the environment is in the plan too, unchanged; and the additions.
    assert len(upgrade["resource_changes"]) == len(previous_addresses) + len(LATER_ADDITIONS)

    # Applying the moves rewrites the state only.
    root.run("apply", "-input=false", "upgrade.tfplan")
    upgraded_addresses = set(root.run("state", "list").split())
    assert set(EXPECTED_MOVES.values()) <= upgraded_addresses
    assert not set(EXPECTED_MOVES) & upgraded_addresses

    # The upgrade plan cannot show a policy difference the provider considers equivalent
    # (it keeps the deployed text then). Replacing the keys in a plan that is never applied
    # shows the exact policy text the current modules would write.
    keys = [f"{STREAM_KEY}.aws_kms_key.this", f"{REPLICATOR_KEY}.aws_kms_key.this"]
    keys.append(f"{CONTROL_PLANE_KEY}.aws_kms_key.this")
    probe = root.plan("probe", "-refresh=false", *[f"-replace={key}" for key in keys])
    kms = emulator.client("kms", ACCOUNT)
    for key in keys:
        change = _resource(probe, key)["change"]
        assert _action(change["actions"]) == "replace"
        written_now = change["after"]["policy"]
        assert written_now == change["before"]["policy"], key
        deployed_policy = kms.get_key_policy(KeyId=change["before"]["key_id"], PolicyName="default")
        assert json.loads(written_now) == json.loads(deployed_policy["Policy"]), key
    replicator_policy = json.loads(_resource(probe, keys[1])["change"]["after"]["policy"])
    assert [s["Sid"] for s in replicator_policy["Statement"]] == [
        "DelegateToAccountIam",
        "AllowCloudWatchLogsForThisLogGroup",
    ]
