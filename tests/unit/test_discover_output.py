"""What discovery writes, and how render turns the adoption file into imports of one environment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_discover_classify import KEY_ARN, stream

from turnout.deploy.render import SHARD_LEVEL_METRICS, render_environments
from turnout.discover.classify import Discovery, LeaseTableFacts, MappingFacts
from turnout.discover.output import DiscoveryFiles, discovery_text, import_blocks, write_discovery
from turnout.discover.reader import DiscoveryError
from turnout.errors import RenderError
from turnout.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]


def discovery() -> Discovery:
    return Discovery(
        account_id="555555555555",
        region="eu-west-1",
        pattern="*",
        streams=[
            stream("Clicks.Raw", 4, mode="ON_DEMAND"),
            stream(
                "orders",
                2,
                key_id=KEY_ARN,
                retention_hours=48,
                tags={"team": "payments"},
                shard_level_metrics=["IncomingBytes"],
            ),
        ],
        mappings=[
            MappingFacts("m1", "orders-fn", "orders", "Enabled", 100, 0, 1, "LATEST"),
            MappingFacts("m2", "orders-fn", "Clicks.Raw", "Enabled", 100, 0, 1, "LATEST"),
        ],
        lease_tables=[LeaseTableFacts("orders-app", "orders", 2, "single-stream")],
        unclassified=[],
        warnings=[],
    )


@pytest.fixture
def written(tmp_path: Path) -> Path:
    """A project whose terraform/ holds the discovered skeleton and adoption file."""
    terraform = tmp_path / "terraform"
    shutil.copytree(REPO / "terraform" / "templates", terraform / "templates")
    write_discovery(discovery(), "old", "adopted", terraform, force=False)
    return terraform


def test_the_skeleton_is_a_valid_spec_with_the_streams_and_consumers_found(written):
    spec = load_spec(written / "migration.yaml")
    streams = {s.name: s for s in spec.streams}
    assert streams["clicks-raw"].old_name == "Clicks.Raw"
    assert streams["clicks-raw"].capacity.mode == "on_demand"
    assert streams["orders"].capacity.shards == 2
    assert streams["orders"].encryption == KEY_ARN
    assert streams["orders"].retention_hours == 48
    consumers = [(c.kind, c.streams) for c in spec.consumers.old]
    assert consumers == [("lambda", ["orders", "clicks-raw"]), ("kcl", ["orders"])]
    text = (written / "migration.yaml").read_text()
    assert text.count("# PLACEHOLDER") == 3


def test_render_imports_the_adopted_streams_in_their_environment_only(written):
    spec = load_spec(written / "migration.yaml")
    old, new = (json.loads(r.content) for r in render_environments(spec, written))
    assert old["imports"] == {"clicks-raw": "Clicks.Raw", "orders": "orders"}
    assert old["streams"]["orders"]["tags"] == {"team": "payments"}
    assert old["streams"]["orders"]["shard_level_metrics"] == ["IncomingBytes"]
    assert old["streams"]["clicks-raw"]["tags"] == {}
    assert "imports" not in new
    assert "tags" not in new["streams"]["orders"]
    assert new["streams"]["orders"]["shard_level_metrics"] == list(SHARD_LEVEL_METRICS)


def test_without_an_adoption_file_nothing_is_imported(written):
    (written / "adopted.json").unlink()
    spec = load_spec(written / "migration.yaml")
    for rendered in render_environments(spec, written):
        document = json.loads(rendered.content)
        assert "imports" not in document
        assert all("tags" not in entry for entry in document["streams"].values())


def test_import_addresses_are_the_roots_stream_module_instances():
    assert import_blocks(discovery()) == [
        {"to": 'module.stream["clicks-raw"].aws_kinesis_stream.this', "id": "Clicks.Raw"},
        {"to": 'module.stream["orders"].aws_kinesis_stream.this', "id": "orders"},
    ]
    imports_tf = (REPO / "terraform" / "imports.tf").read_text()
    assert "to       = module.stream[each.key].aws_kinesis_stream.this" in imports_tf


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        (lambda doc: doc.update(account_id="111111111111"), "discovered in account 111111111111"),
        (lambda doc: doc["streams"].update(ghost=doc["streams"]["orders"]), "'ghost' is not"),
        (lambda doc: doc["streams"]["orders"].update(name="orders-v1"), "but 'orders-v1' here"),
        (lambda doc: doc["streams"]["orders"].update(tags=["x"]), "'tags' must map"),
        (lambda doc: doc.update(format=9), "'format' must be 1"),
    ],
)
def test_an_adoption_file_that_disagrees_with_the_spec_is_refused(written, edit, complaint):
    path = written / "adopted.json"
    document = json.loads(path.read_text())
    edit(document)
    path.write_text(json.dumps(document))
    spec = load_spec(written / "migration.yaml")
    with pytest.raises(RenderError, match=complaint):
        render_environments(spec, written)


def test_existing_files_are_kept_unless_forced(written):
    before = (written / "migration.yaml").read_text()
    (written / "discovery.json").unlink()
    with pytest.raises(DiscoveryError, match="already exist"):
        write_discovery(discovery(), "old", "other-name", written, force=False)
    assert (written / "migration.yaml").read_text() == before
    assert not (written / "discovery.json").exists()
    write_discovery(discovery(), "old", "other-name", written, force=True)
    assert "migration: other-name" in (written / "migration.yaml").read_text()


def test_the_summary_names_every_finding_and_the_next_steps(written):
    found = discovery()
    found.unclassified.append({"kind": "kcl_lease_table", "name": "old-app", "reason": "no match"})
    found.warnings.append("stream x is not encrypted")
    text = discovery_text(found, DiscoveryFiles.in_directory(written))
    assert "Clicks.Raw -> spec stream 'clicks-raw': on-demand" in text
    assert "orders -> spec stream 'orders': 2 shards, 48 h, KMS " + KEY_ARN in text
    assert "orders-fn <- orders: Enabled, batch 100" in text
    assert "orders-app -> orders (2 leases, single-stream)" in text
    assert "kcl_lease_table old-app: no match" in text
    assert "warning: stream x is not encrypted" in text
    assert 'module.stream["orders"].aws_kinesis_stream.this' in text
