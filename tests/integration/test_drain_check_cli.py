"""`turnout drain-check` on the emulator: per consumer and per shard verdicts, exit codes 0 / 1 / 3,
--json, --consumer, and the replicator's ledger when the replicator is deployed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml
from hooks_kit import create_streams, create_table, make_spec, put_to_shard, shard_ids

from turnout.cli import main
from turnout.spec.names import names

pytestmark = pytest.mark.integration


@pytest.fixture
def kcl_project(emulator, tmp_path):
    leases = f"app-leases-{uuid.uuid4().hex[:8]}"
    consumer = {"kind": "kcl", "application": "app", "lease_table": leases, "streams": ["events"]}
    spec = make_spec(emulator, consumers_old=[consumer])
    spec_path = tmp_path / "project" / "terraform" / "migration.yaml"
    spec_path.parent.mkdir(parents=True)
    spec_path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    create_streams(emulator, spec, "old")
    return spec, spec_path, leases


def run(capsys, emulator, spec_path: Path, *extra: str) -> tuple[int, str, str]:
    code = main(
        [
            "drain-check",
            "--env",
            "old",
            "--spec",
            str(spec_path),
            "--endpoint-url",
            emulator.endpoint_url,
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def checkpoint_every_shard(emulator, spec, leases: str) -> dict[str, str]:
    name = spec.streams[0].name_in("old")
    ddb = emulator.client("dynamodb", "old")
    done = {}
    for shard in shard_ids(emulator, "old", name):
        done[shard] = put_to_shard(emulator, "old", name, shard, "x")["SequenceNumber"]
        ddb.put_item(
            TableName=leases,
            Item={"leaseKey": {"S": shard}, "checkpoint": {"S": done[shard]}},
        )
    return done


def test_exit_codes_follow_the_verdicts(emulator, kcl_project, capsys):
    spec, spec_path, leases = kcl_project
    code, out, _ = run(capsys, emulator, spec_path)
    assert code == 3, out
    assert f"lease table {leases} not found" in out
    assert f"skipped: replicator {names(spec, 'old').replicator} is not deployed" in out

    create_table(emulator, "old", leases, "leaseKey")
    done = checkpoint_every_shard(emulator, spec, leases)
    code, out, _ = run(capsys, emulator, spec_path)
    assert code == 0, out
    assert "kcl:app (leases): drained, 2/2 shards drained" in out

    name = spec.streams[0].name_in("old")
    behind = sorted(done)[1]
    put_to_shard(emulator, "old", name, behind, "unprocessed")
    code, out, _ = run(capsys, emulator, spec_path, "--json")
    assert code == 1
    report = json.loads(out)
    assert report["verdict"] == "not_drained"
    assert report["exit_code"] == 1
    (consumer,) = report["consumers"]
    verdicts = {shard["shard"]: shard["verdict"] for shard in consumer["shards"]}
    assert verdicts == {sorted(done)[0]: "drained", behind: "not_drained"}


def test_the_replicator_ledger_is_checked_where_the_replicator_is_deployed(
    emulator, kcl_project, lambda_kit, capsys
):
    spec, spec_path, _leases = kcl_project
    lambda_kit.function(table=lambda_kit.table(), name=names(spec, "old").replicator)
    code, out, _ = run(capsys, emulator, spec_path, "--consumer", "replicator", "--json")
    assert code == 3
    (replicator,) = json.loads(out)["consumers"]
    assert replicator["consumer"] == f"replicator:{names(spec, 'old').replicator}"
    assert names(spec, "old").ledger_table in replicator["note"]

    table = create_table(emulator, "old", names(spec, "old").ledger_table, "shard_key")
    name = spec.streams[0].name_in("old")
    ddb = emulator.client("dynamodb", "old")
    for shard in shard_ids(emulator, "old", name):
        seq = put_to_shard(emulator, "old", name, shard, "x")["SequenceNumber"]
        ddb.put_item(
            TableName=table,
            Item={"shard_key": {"S": f"{name}/{shard}"}, "last_sequence_number": {"S": seq}},
        )
    code, out, _ = run(capsys, emulator, spec_path, "--consumer", "replicator")
    assert code == 0, out


def test_an_unknown_consumer_is_refused_naming_the_valid_ones(emulator, kcl_project, capsys):
    _spec, spec_path, _leases = kcl_project
    code, _out, err = run(capsys, emulator, spec_path, "--consumer", "nope")
    assert code == 2
    assert "--consumer nope" in err and "kcl:app" in err
    assert "Traceback" not in err


def test_help_says_what_it_changes(capsys):
    assert main(["drain-check", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Read-only, except" in text and "marker record" in text
    assert "Example: turnout drain-check" in text
