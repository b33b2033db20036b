"""The package's import rules hold (docs/architecture.md, "Import rules"), and the checker
catches each kind of forbidden import when one is planted in a copy of the package."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from import_rules import find_violations

PACKAGE = Path(__file__).resolve().parents[2] / "cli" / "turnout"


def test_the_package_keeps_every_import_rule():
    assert find_violations(PACKAGE) == []


PLANTED = {
    "the_operator_tool_imports_the_sandbox": (
        "drain/check.py",
        "from turnout.sandbox.box import Sandbox\n",
        "only targets and cli import the sandbox",
    ),
    "the_engine_imports_typer": (
        "engine/steps.py",
        "import typer\n",
        "the engine knows no command line",
    ),
    "the_lambda_handler_imports_turnout": (
        "lambdas/replicator/invocation.py",
        "from turnout.errors import TurnoutError\n",
        "the Lambda handler is zipped alone",
    ),
    "the_producer_helper_imports_turnout": (
        "producer.py",
        "from turnout.spec.names import stream_arn\n",
        "the producer helper is vendored alone",
    ),
    "a_private_name_is_imported": (
        "verify/run.py",
        "from turnout.deploy.render import _template_line\n",
        "uses the private turnout.deploy.render._template_line",
    ),
    "a_private_attribute_is_used": (
        "verify/run.py",
        "import turnout.aws.access as access\nCONFIG = access._lock_free\n",
        "uses the private turnout.aws.access._lock_free",
    ),
    "a_lower_layer_imports_a_higher_one": (
        "spec/names.py",
        "from turnout.engine.runner import CutoverEngine\n",
        "a higher layer",
    ),
    "siblings_of_one_layer_import_each_other": (
        "verify/compare.py",
        "from turnout.drain.verdicts import Verdict\n",
        "a sibling of its layer",
    ),
    "two_modules_import_each_other": (
        "spec/phases.py",
        "from turnout.spec.model import MigrationSpec\n",
        "import circle: turnout.spec.model -> turnout.spec.phases -> turnout.spec.model",
    ),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_a_planted_forbidden_import_is_caught(case, tmp_path):
    relative, line, expected = PLANTED[case]
    copy = tmp_path / "turnout"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / relative
    target.write_text(target.read_text(encoding="utf-8") + "\n" + line, encoding="utf-8")
    problems = find_violations(copy)
    assert any(expected in problem for problem in problems), problems
