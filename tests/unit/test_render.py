"""Rendering the spec into per-environment tfvars: deterministic, strict, and checkable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from turnout.cli import main
from turnout.deploy.render import render_environments
from turnout.errors import RenderError
from turnout.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the repository's terraform/ inputs, so tests may edit them."""
    terraform = tmp_path / "terraform"
    terraform.mkdir()
    shutil.copy(REPO / "terraform" / "migration.yaml", terraform)
    shutil.copytree(REPO / "terraform" / "templates", terraform / "templates")
    for environment in ("old", "new"):
        shutil.copy(REPO / "terraform" / f"{environment}.tfvars.json", terraform)
    return terraform


def test_rendering_twice_gives_identical_bytes(project):
    spec = load_spec(project / "migration.yaml")
    first = [rendered.content for rendered in render_environments(spec, project)]
    second = [rendered.content for rendered in render_environments(spec, project)]
    assert first == second
    for content in first:
        assert content.endswith("}\n")
        assert list(json.loads(content)) == sorted(json.loads(content))


def test_committed_tfvars_match_the_committed_spec(capsys):
    assert main(["render", "--check", "--spec", str(REPO / "terraform" / "migration.yaml")]) == 0


def test_check_fails_after_a_spec_edit_until_rendered_again(project, capsys):
    spec_path = project / "migration.yaml"
    assert main(["render", "--check", "--spec", str(spec_path)]) == 0
    spec_path.write_text(spec_path.read_text().replace("shards: 2", "shards: 4"))
    before = (project / "old.tfvars.json").read_text()
    capsys.readouterr()
    assert main(["render", "--check", "--spec", str(spec_path)]) == 1
    output = capsys.readouterr()
    assert '-      "shard_count": 2,' in output.out
    assert '+      "shard_count": 4,' in output.out
    assert "old.tfvars.json" in output.err
    assert (project / "old.tfvars.json").read_text() == before, "--check must change nothing"
    assert main(["render", "--spec", str(spec_path)]) == 0
    assert main(["render", "--check", "--spec", str(spec_path)]) == 0


def test_each_environment_gets_its_own_names_and_its_peer(project):
    spec = load_spec(project / "migration.yaml")
    old, new = (json.loads(rendered.content) for rendered in render_environments(spec, project))
    assert old["environment"]["account_id"] == "111111111111"
    assert old["peer"]["account_id"] == "222222222222"
    assert old["streams"]["audit"]["name"] == "audit-log"
    assert old["streams"]["audit"]["peer_name"] == "audit"
    assert new["streams"]["audit"]["name"] == "audit"
    assert old["route"]["managed_here"] is True
    assert new["route"]["managed_here"] is False
    assert old["control_plane"]["managed_here"] is True


@pytest.mark.parametrize(
    ("phase", "target", "direction"),
    [
        ("baseline", "old", "none"),
        ("switched", "new", "none"),
        ("mirrored", "new", "new_to_old"),
        ("new-live", "new", "new_to_old"),
        ("committed", "new", "none"),
        ("rolled-back", "old", "none"),
    ],
)
def test_phase_decides_route_and_replication_direction(project, phase, target, direction):
    spec = load_spec(project / "migration.yaml")
    for rendered in render_environments(spec, project, phase=phase):
        document = json.loads(rendered.content)
        assert document["migration"]["phase"] == phase
        assert document["route"]["target"] == target
        assert document["replication"]["active_direction"] == direction
        route = json.loads(document["route"]["value"])
        assert route["environment"] == target
        account = "111111111111" if target == "old" else "222222222222"
        assert route["streams"]["clicks"] == f"arn:aws:kinesis:eu-west-1:{account}:stream/clicks"


def test_halting_replication_in_the_spec_overrides_the_phase(project):
    spec_path = project / "migration.yaml"
    text = spec_path.read_text().replace("phase: baseline", "phase: mirrored")
    spec_path.write_text(text.replace("memory_mb: 256", "memory_mb: 256\n  enabled_directions: []"))
    spec = load_spec(spec_path)
    for rendered in render_environments(spec, project):
        assert json.loads(rendered.content)["replication"]["active_direction"] == "none"


def test_a_template_using_an_unknown_name_fails_instead_of_rendering_empty(project):
    template = project / "templates" / "environment.tfvars.json.j2"
    template.write_text(
        template.read_text().replace("{{ own.region | tojson }}", "{{ own.zone | tojson }}")
    )
    spec = load_spec(project / "migration.yaml")
    with pytest.raises(RenderError, match="zone"):
        render_environments(spec, project)


def test_a_template_syntax_error_names_the_line(project):
    template = project / "templates" / "environment.tfvars.json.j2"
    template.write_text(template.read_text() + "{% for %}\n")
    spec = load_spec(project / "migration.yaml")
    with pytest.raises(RenderError, match=r"line \d+: template syntax error"):
        render_environments(spec, project)


def test_the_rendered_package_hash_follows_the_handler_code(project, tmp_path):
    from turnout.deploy.package import build_replicator_package

    handler = tmp_path / "replicator.py"
    handler.write_text("def handler(event, context):\n    return {}\n")
    first = build_replicator_package(handler)
    assert build_replicator_package(handler).content == first.content
    handler.write_text("def handler(event, context):\n    return {'batchItemFailures': []}\n")
    assert build_replicator_package(handler).sha256_base64 != first.sha256_base64


def test_each_environment_monitors_its_own_consumers_and_notifies_its_own_topics(project):
    spec_path = project / "migration.yaml"
    topic = "arn:aws:sns:eu-west-1:222222222222:oncall"
    text = spec_path.read_text()
    assert "    new: { alarm: [], ok: [] }" in text
    spec_path.write_text(
        text.replace("    new: { alarm: [], ok: [] }", f'    new: {{ alarm: ["{topic}"], ok: [] }}')
        .replace("replication_lag_seconds: 60", "replication_lag_seconds: 45")
        .replace("period_seconds: 60", "period_seconds: 120")
    )
    spec = load_spec(spec_path)
    old, new = (
        json.loads(rendered.content)["monitoring"]
        for rendered in render_environments(spec, project)
    )
    assert old["lambda_consumers"] == ["legacy-clicks-processor", "legacy-audit-archiver"]
    assert new["lambda_consumers"] == ["v2-clicks-processor", "v2-audit-archiver"]
    assert old["alarm_actions"] == [] and new["alarm_actions"] == [topic]
    for monitoring in (old, new):
        assert monitoring["replication_lag_threshold_ms"] == 45000
        assert monitoring["period_seconds"] == 120
        assert monitoring["kcl_consumers"] == []


def test_a_spec_without_a_monitoring_section_renders_the_default_alarms(project):
    spec_path = project / "migration.yaml"
    document = yaml.safe_load(spec_path.read_text())
    del document["monitoring"]
    document["consumers"]["old"].append(
        {
            "kind": "kcl",
            "application": "orders-app",
            "lease_table": "orders-app",
            "streams": ["orders"],
        }
    )
    spec_path.write_text(yaml.safe_dump(document, sort_keys=False))
    old, new = (
        json.loads(rendered.content)["monitoring"]
        for rendered in render_environments(load_spec(spec_path), project)
    )
    assert old["kcl_consumers"] == ["orders-app"] and new["kcl_consumers"] == []
    assert old["replication_lag_threshold_ms"] == 60000
    assert old["consumer_iterator_age_threshold_ms"] == 300000
    assert old["replicator_throttles_threshold"] == 100
    assert (old["period_seconds"], old["evaluation_periods"]) == (60, 3)


def test_each_streams_order_rule_reaches_both_environments_tfvars(project):
    spec_path = project / "migration.yaml"
    document = yaml.safe_load(spec_path.read_text())
    document["streams"][1]["ordering"] = "relaxed"
    spec_path.write_text(yaml.safe_dump(document, sort_keys=False))
    relaxed_stream = document["streams"][1]["name"]
    for rendered in render_environments(load_spec(spec_path), project):
        streams = json.loads(rendered.content)["streams"]
        assert streams[relaxed_stream]["ordering"] == "relaxed"
        assert {s["ordering"] for k, s in streams.items() if k != relaxed_stream} == {"strict"}
