"""The Terraform follows the house rules: complete modules, typed and described variables,
outputs that cannot fail."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULES = sorted(path for path in (REPO / "modules").iterdir() if path.is_dir())
# Modules used only inside one module (modules/<module>/modules/<name>) follow the same rules.
NESTED_MODULES = sorted(path for path in (REPO / "modules").glob("*/modules/*") if path.is_dir())
CONFIGURATIONS = [*MODULES, *NESTED_MODULES, REPO / "terraform"]


def blocks(text: str, kind: str) -> dict[str, str]:
    """Top-level `kind "name" { ... }` blocks by name (brace matching, strings respected)."""
    found = {}
    for match in re.finditer(rf'^{kind} "([^"]+)" \{{', text, re.MULTILINE):
        depth, index, in_string = 0, match.end() - 1, False
        while index < len(text):
            char = text[index]
            if char == '"' and text[index - 1] != "\\":
                in_string = not in_string
            elif not in_string and char == "{":
                depth += 1
            elif not in_string and char == "}":
                depth -= 1
                if depth == 0:
                    break
            index += 1
        found[match.group(1)] = text[match.end() : index]
    return found


def test_there_are_the_seven_modules():
    assert [path.name for path in MODULES] == [
        "api-switch",
        "control-plane",
        "kinesis-stream",
        "kms-key",
        "monitoring",
        "replicator",
        "writer-role",
    ]
    assert [str(path.relative_to(REPO / "modules")) for path in NESTED_MODULES] == [
        "monitoring/modules/alarm-set",
    ]


@pytest.mark.parametrize("module", [*MODULES, *NESTED_MODULES], ids=lambda path: path.name)
def test_each_module_has_the_standard_files(module):
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (module / name).is_file(), f"{module.name} lacks {name}"


@pytest.mark.parametrize("configuration", CONFIGURATIONS, ids=lambda path: path.name)
def test_every_variable_is_typed_and_described_and_never_any(configuration):
    variables = blocks((configuration / "variables.tf").read_text(), "variable")
    assert variables, f"{configuration.name} declares no variables"
    for name, body in variables.items():
        assert re.search(r"^\s*type\s*=", body, re.MULTILINE), (
            f"{configuration.name}: var.{name} has no type"
        )
        assert re.search(r"^\s*description\s*=", body, re.MULTILINE), (
            f"{configuration.name}: var.{name} has no description"
        )
        assert not re.search(r"\bany\b", body.split("description")[0]), (
            f"{configuration.name}: var.{name} uses any"
        )


@pytest.mark.parametrize("configuration", CONFIGURATIONS, ids=lambda path: path.name)
def test_every_computed_output_is_wrapped_in_try(configuration):
    outputs = blocks((configuration / "outputs.tf").read_text(), "output")
    assert outputs, f"{configuration.name} declares no outputs"
    for name, body in outputs.items():
        value = re.search(r"^\s*value\s*=\s*(.*)", body, re.MULTILINE)
        # A plain input variable cannot fail; anything computed must be wrapped in try().
        assert value and value.group(1).startswith(("try(", "var.")), (
            f"{configuration.name}: output {name} is not try(...)"
        )


def test_the_root_refuses_an_unknown_replication_direction():
    variables = blocks((REPO / "terraform" / "variables.tf").read_text(), "variable")
    assert "old_to_new" in variables["replication"] and "new_to_old" in variables["replication"]
    assert "validation" in variables["replication"]


def test_every_alarm_decides_how_missing_data_is_treated():
    # The default ("missing") leaves a quiet replicator or a paused consumer in
    # INSUFFICIENT_DATA; every alarm must say what silence means for it.
    alarms = {}
    for configuration in CONFIGURATIONS:
        for path in configuration.glob("*.tf"):
            text = path.read_text()
            for name, body in blocks(text, 'resource "aws_cloudwatch_metric_alarm"').items():
                alarms[f"{configuration.name}/{name}"] = body
    assert sorted(alarms) == ["alarm-set/this"], "the alarms come from one resource"
    for name, body in alarms.items():
        assert re.search(
            r'^\s*treat_missing_data\s*=\s*("(notBreaching|breaching|ignore)"|each\.value\.treat_missing_data)\s*$',
            body,
            re.M,
        ), f"{name} leaves treat_missing_data to the default"

    # The one resource takes it from each entry, and the entry type requires it (no default).
    alarm_set = REPO / "modules" / "monitoring" / "modules" / "alarm-set"
    entry_type = blocks((alarm_set / "variables.tf").read_text(), "variable")["alarms"]
    assert re.search(r"^\s*treat_missing_data\s*=\s*string\s*$", entry_type, re.M), entry_type

    # Every entry of the monitoring module's alarm map decides, with a comment saying why.
    text = (REPO / "modules" / "monitoring" / "main.tf").read_text()
    alarm_map = text[text.index("  alarms = {") : text.index('module "alarms"')]
    entries = re.findall(r'^\s*name\s*=\s*"\$\{var\.name\}-', alarm_map, re.M)
    decided = re.findall(
        r'^[ \t]*#.*\n[ \t]*treat_missing_data\s*=\s*"(notBreaching|breaching|ignore)"\s*$',
        alarm_map,
        re.M,
    )
    assert len(entries) == 9, (
        "lag, throttles, iterator age, errors, queue, Lambda, KCL, retention, buffered retention"
    )
    assert len(decided) == len(entries), "an alarm entry has no commented treat_missing_data"


def test_monitoring_refuses_thresholds_periods_and_topics_that_would_misfire():
    variables = blocks((REPO / "modules" / "monitoring" / "variables.tf").read_text(), "variable")
    for name, must_check in (
        ("thresholds", "> 0"),
        ("period_seconds", "% 60 == 0"),
        ("evaluation_periods", ">= 1"),
        ("alarm_actions", ":sns:"),
        ("ok_actions", ":sns:"),
    ):
        conditions = re.findall(r"condition\s*=\s*(.*)", variables[name])
        assert any(must_check in condition for condition in conditions), (name, conditions)
