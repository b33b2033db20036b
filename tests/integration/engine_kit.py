"""A cutover engine on the emulator's DynamoDB with stand-in hooks, for tests of one concern of
the engine (its bookkeeping, a preflight gate, the API switch, the whole move's data stores).

Hooks are small files in a temporary hooks folder that log their call and fail on demand
(unit-level fault injection); the real hooks a test is about are copied in beside them.
Terraform is a recorder unless the test brings its own applier.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from datastores_kit import prepare_control_plane

from turnout.aws.access import AwsAccess
from turnout.engine.hook_runner import HookRunner
from turnout.engine.runner import CutoverEngine
from turnout.engine.steps import HookStep, transition
from turnout.spec.model import MigrationSpec
from turnout.spec.names import control_plane

REPO = Path(__file__).resolve().parents[2]

HOOK_TEMPLATE = """
import json, os
from pathlib import Path
from turnout.hooks import Hook, HookArgs, HookFailed

class Args(HookArgs):
    model_config = {{"extra": "allow"}}

class {cls}(Hook):
    Args = Args
    def run(self, context):
        log = Path(os.environ["ENGINE_TEST_LOG"])
        with log.open("a") as out:
            out.write(json.dumps({{"hook": "{name}", "args": self.args.model_dump()}}) + "\\n")
        fail = Path(os.environ["ENGINE_TEST_FAIL"])
        if fail.exists() and fail.read_text().strip() == "{name}":
            raise HookFailed("{name}: injected failure")
        return {{"ran": "{name}"}}
"""

# The preflight gate before each transition (hook check_preflight) passes here: its checks and
# decisions are proved in test_preflight_gate.py and tests/unit/test_preflight_gate.py. This
# stand-in logs nothing, so the hook calls the tests compare are the transitions' steps only.
GATE_STAND_IN = """
from turnout.hooks import Hook, HookArgs

class Args(HookArgs):
    model_config = {"extra": "allow"}

class CheckPreflight(Hook):
    Args = Args
    def run(self, context):
        return {"checks": [], "accepted": []}
"""


class RecordingApplier:
    """Stands in for Terraform: records the step of each apply."""

    def __init__(self) -> None:
        self.applied: list[str] = []

    def apply(self, phase, posture, label, environments=("old", "new")):
        self.applied.append(label.rsplit("/", 1)[-1])
        return {"posture": posture.describe()}

    def plan_texts(self, phase, posture, label):
        return []


def write_gate_stand_in(hooks_dir: Path) -> None:
    (hooks_dir / "check_preflight.py").write_text(GATE_STAND_IN)


def hooks_of(spec: MigrationSpec, pairs: Iterable[tuple[str, str]]) -> set[str]:
    """The hooks the steps of the transitions `pairs` call."""
    return {
        step.hook
        for pair in pairs
        for step in transition(*pair, spec).steps
        if isinstance(step, HookStep)
    }


def stand_in_hooks(
    hooks_dir: Path,
    names: Iterable[str],
    monkeypatch: Any,
    real: Iterable[str] = (),
    gate_stand_in: bool = True,
) -> Path:
    """A hooks folder: a logging stand-in for each of `names`, the repository's own hook for
    each of `real`, and (unless `gate_stand_in` is False) a preflight gate that passes. The
    stand-ins log to `<hooks_dir>/../hooks.log` and fail when `<hooks_dir>/../fail` names them."""
    hooks_dir.mkdir(parents=True, exist_ok=True)
    real = set(real)
    for name in set(names) - real:
        cls = "".join(part.title() for part in name.split("_"))
        (hooks_dir / f"{name}.py").write_text(HOOK_TEMPLATE.format(cls=cls, name=name))
    for name in real:
        shutil.copy(REPO / "hooks" / f"{name}.py", hooks_dir)
    if gate_stand_in and "check_preflight" not in real:
        write_gate_stand_in(hooks_dir)
    monkeypatch.setenv("ENGINE_TEST_LOG", str(hooks_dir.parent / "hooks.log"))
    monkeypatch.setenv("ENGINE_TEST_FAIL", str(hooks_dir.parent / "fail"))
    return hooks_dir


def create_lock_table(dynamodb: Any, spec: MigrationSpec) -> None:
    dynamodb.create_table(
        TableName=control_plane(spec).lock_table,
        KeySchema=[{"AttributeName": "lock_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "lock_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def emulator_engine(
    emulator: Any,
    spec: MigrationSpec,
    hooks_dir: Path,
    applier: Any,
    progress: Callable[[str], None] = lambda message: None,
) -> CutoverEngine:
    """The engine on the emulator's control plane (state and lock tables created here)."""
    prepare_control_plane(emulator, spec)
    create_lock_table(emulator.client("dynamodb", "old"), spec)
    aws = AwsAccess.for_emulator(spec, emulator)
    return CutoverEngine(spec, aws, applier, HookRunner(hooks_dir), progress)
