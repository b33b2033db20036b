"""The sandbox's sample pipeline with live traffic: baseline, a switch made by hand, and `down`
leaving no process behind. One sandbox (its own emulator, real Terraform) for the whole module.
(The data stores' copy runs through the cutover: tests/integration/test_whole_move_sandbox.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from state_kit import SANDBOX_LIFETIME_SECONDS

from turnout.project import Project
from turnout.sandbox.box import Sandbox
from turnout.sandbox.pipeline.create import consumer_mappings, set_consumers_enabled
from turnout.sandbox.pipeline.report import assert_nothing_lost, format_report, read_events
from turnout.sandbox.processes import descendants, pid_alive
from turnout.spec.names import direction_parameter, names, route_value

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RATE = 200.0


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, terraform_ready):
    work_dir = tmp_path_factory.mktemp("sandbox-work")
    project = Project(root=REPO, spec_path=REPO / "terraform" / "migration.yaml", work_dir=work_dir)
    box = Sandbox(project, runtime_poll_interval=0.5, runtime_refresh_interval=1.0)
    started = time.monotonic()
    try:
        box.up(progress=lambda message: None, rate=RATE, lifetime_seconds=SANDBOX_LIFETIME_SECONDS)
        box.up_seconds = time.monotonic() - started
        yield box
    finally:
        box.down(progress=lambda message: None)


def _wait(predicate, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def test_up_starts_everything_records_pids_and_is_idempotent(sandbox):
    status = sandbox.status()
    assert status["running"]
    processes = status["processes"]
    assert processes["producer"]["alive"] and processes["runtime"]["alive"]
    assert int(sandbox.producer.pid_file.read_text().split()[0]) == processes["producer"]["pid"]
    assert int(sandbox.runtime.pid_file.read_text().split()[0]) == processes["runtime"]["pid"]
    spec = sandbox.spec()
    aws = sandbox.aws()
    for environment, expected in (("old", "Enabled"), ("new", "Disabled")):
        mappings = consumer_mappings(spec, aws, environment)
        assert len(mappings) == 3  # clicks+orders, audit
        assert {mapping["state"] for mapping in mappings} == {expected}
    assert processes["api-old"]["alive"] and processes["api-new"]["alive"]
    (api,) = spec.apis
    new_port = int((sandbox.api_dir / "api-new.port").read_text())
    assert (api.health_check.ip_address, api.health_check.port) == ("127.0.0.1", new_port), (
        "the spec the sandbox runs probes its new API"
    )
    route53 = aws.client("old", "route53")
    zones = route53.list_hosted_zones_by_name(DNSName=api.zone)["HostedZones"]
    zone_id = next(z["Id"] for z in zones if z["Name"] == f"{api.zone}.")
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    check_id = next(r["HealthCheckId"] for r in records if r.get("SetIdentifier") == "turnout-new")
    config = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]
    assert config["Port"] == new_port, "Terraform's health check probes the new API's port"
    started = time.monotonic()
    again = sandbox.up(progress=lambda message: None, rate=RATE)
    assert time.monotonic() - started < 20, "a second up must reuse what runs (no Terraform)"
    assert again["processes"] == processes
    print(f"sandbox up took {sandbox.up_seconds:.1f} s")


def test_baseline_old_consumers_process_every_event_new_ones_nothing(sandbox):
    spec = sandbox.spec()
    aws = sandbox.aws()
    time.sleep(8)
    # A turnout marker and a record that is not an event travel with the traffic.
    kinesis = aws.client("old", "kinesis")
    clicks = spec.streams[0].name_in("old")
    kinesis.put_record(
        StreamName=clicks,
        Data=json.dumps({"turnout_marker": {"id": "marker-baseline-1"}}).encode(),
        PartitionKey="marker",
    )
    kinesis.put_record(StreamName=clicks, Data=b"\xffnot json", PartitionKey="garbage")
    sandbox.stop_traffic(progress=lambda message: None)
    produced = sandbox.producer_status()
    assert produced["state"] == "stopped" and produced["unsent_never_accepted"] == 0
    report = report_from_the_cli(sandbox, wait=60)
    print(format_report(report))
    assert_nothing_lost(report)
    old, new = report["environments"]["old"], report["environments"]["new"]
    assert report["produced"]["total"] >= 6 * RATE
    assert report["produced"]["new"] == 0
    assert old["processed"] == old["expected"] == report["produced"]["old"]
    assert new["processings"] == 0
    assert old["order_violations"] == 0
    assert old["unparseable"] == 1 and old["unknown_events"] == 0
    assert report["produced"]["keys"] > 800  # of 1,000 (uniform draws)
    marker = aws.client("old", "dynamodb").get_item(
        TableName=names(spec, "old").markers_table, Key={"marker_id": {"S": "marker-baseline-1"}}
    )
    assert marker["Item"]["consumer"]["S"] == "legacy-clicks-processor"


def report_from_the_cli(sandbox: Sandbox, wait: float) -> dict:
    """`turnout sandbox report --wait N --json` on this sandbox: the report on stdout, what it
    waits for on stderr, exit 0 when nothing is lost."""
    completed = subprocess.run(
        [sys.executable, "-m", "turnout.cli", "sandbox", "report", "--wait", str(wait), "--json"],
        env={**os.environ, "TURNOUT_WORK_DIR": str(sandbox.project.work_dir)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=wait + 120,
    )
    assert "waiting for consumers to settle: processed old" in completed.stderr
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    return json.loads(completed.stdout)


def _set_route(sandbox, environment: str) -> float:
    """Writes the route parameter; returns the wall time just before the write, so that no event
    the producer wrote under the new route can have been accepted earlier."""
    spec = sandbox.spec()
    ssm = sandbox.aws().client(spec.route.environment, "ssm")
    before = time.time()
    ssm.put_parameter(
        Name=spec.route.parameters[0], Value=route_value(spec, environment), Overwrite=True
    )
    return before


def _set_replication(sandbox, direction: str) -> None:
    """What the cutover engine does through Terraform, by hand: both accounts' active-direction
    parameter, and the new replicator's mappings enabled iff the direction is new_to_old."""
    spec = sandbox.spec()
    aws = sandbox.aws()
    for environment in ("old", "new"):
        aws.client(environment, "ssm").put_parameter(
            Name=direction_parameter(spec), Value=direction, Type="String", Overwrite=True
        )
    lam = aws.client("new", "lambda")
    for mapping in lam.list_event_source_mappings(FunctionName=names(spec, "new").replicator)[
        "EventSourceMappings"
    ]:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=direction == "new_to_old")


def test_switch_mirror_and_new_live_by_hand_producer_follows_the_route(sandbox):
    spec = sandbox.spec()
    aws = sandbox.aws()
    sandbox.start_traffic(RATE, progress=lambda message: None)
    time.sleep(3)
    flipped_at = _set_route(sandbox, "new")  # switched: new streams buffer, new consumers paused
    time.sleep(3)
    _set_replication(sandbox, "new_to_old")  # mirrored: old consumers fed by replication
    time.sleep(3)
    set_consumers_enabled(spec, aws, "new", True)  # new-live
    time.sleep(4)
    sandbox.stop_traffic(progress=lambda message: None)
    events = read_events(sandbox.events_log)
    last_old = max(e["accepted_at"] for e in events if e["env"] == "old")
    first_new = min(e["accepted_at"] for e in events if e["env"] == "new")
    print(
        f"route followed: last old {last_old - flipped_at:+.2f} s, "
        f"first new {first_new - flipped_at:+.2f} s after the flip"
    )
    # How soon the producer follows depends on its 1 s route cache and on the machine's load (a
    # 2-core CI box under three test workers took 2.2 s once), so the test proves the switch's
    # shape rather than its speed: nothing went new before the flip, and the producer's single
    # writer moved once and cleanly, every old event before every new one.
    assert first_new >= flipped_at
    assert last_old <= first_new
    report = sandbox.wait_for_report(
        timeout=60,
        new_required=True,
        until=lambda r: r["lost"] == 0 and r["pending"] == 0,
    )
    print(format_report(report))
    assert_nothing_lost(report, allow_pending=False)
    old, new = report["environments"]["old"], report["environments"]["new"]
    assert report["produced"]["new"] >= 5 * RATE  # ~10 s of traffic after the flip, less the lag
    assert new["processed"] == report["produced"]["new"]
    # Old processed everything: its own events, then the new ones through replication.
    assert old["processed"] == report["produced"]["total"]
    assert old["replicated_processed"] == report["produced"]["new"]
    assert old["order_violations"] == 0 and new["order_violations"] == 0
    assert report["route_changes"][-1]["to"] == "new"


def test_rollback_by_hand_replication_drains_the_tail_inversions_are_counted(sandbox):
    spec = sandbox.spec()
    aws = sandbox.aws()
    sandbox.start_traffic(RATE, progress=lambda message: None)
    time.sleep(3)
    _set_route(sandbox, "old")
    set_consumers_enabled(spec, aws, "new", False)
    time.sleep(4)
    sandbox.stop_traffic(progress=lambda message: None)
    report = sandbox.wait_for_report(
        timeout=60, until=lambda r: r["lost"] == 0 and r["pending"] == 0
    )
    _set_replication(sandbox, "none")
    print(format_report(report))
    assert report["environments"]["new"]["required"] is False  # paused again: auto-detected
    assert_nothing_lost(report, allow_pending=False)
    old = report["environments"]["old"]
    assert old["processed"] == report["produced"]["total"]
    # Every reordering in old is one of the flip's inversions, counted, never hidden.
    assert old["order_violations"] == old["flip_inversions"]
    print(f"flip inversions around the rollback: {old['flip_inversions']}")


def test_down_stops_every_process_it_started(sandbox):
    status = sandbox.status()
    pids = {
        "emulator": status["pid"],
        "runtime": status["processes"]["runtime"]["pid"],
        # the example spec's API: one loopback HTTP API per environment (docs/apis.md)
        "api-old": status["processes"]["api-old"]["pid"],
        "api-new": status["processes"]["api-new"]["pid"],
    }
    assert None not in pids.values()
    # The producer was stopped by the previous test; start it again so down has to stop it.
    pids["producer"] = sandbox.start_traffic(RATE, progress=lambda message: None)
    everything = set(pids.values())
    for pid in list(everything):
        everything |= set(descendants(pid))
    assert len(everything) > 3  # the runtime's function workers are among them
    stopped = sandbox.down(progress=lambda message: None)
    assert stopped == pids
    assert _wait(lambda: not [pid for pid in everything if pid_alive(pid)], timeout=10)
    assert not sandbox.producer.pid_file.exists() and not sandbox.runtime.pid_file.exists()
    assert sandbox.status() == {
        "running": False,
        "processes": {
            name: {"pid": None, "alive": False}
            for name in ("producer", "runtime", "api-old", "api-new")
        },
    }
