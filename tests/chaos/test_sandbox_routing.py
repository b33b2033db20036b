"""Clients routed through the chaos proxy: the endpoint every sandbox client is started with,
the CLI's view of the emulator during an outage, function code served through the proxy, and the
processes under the runtime found for a crash."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from turnout.project import Project
from turnout.sandbox.box import Sandbox
from turnout.sandbox.chaos.proxy import LoopbackProxy
from turnout.sandbox.processes import descendants

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox(emulator, tmp_path) -> Sandbox:
    """A sandbox whose emulator is the session's (its state files copied, nothing started)."""
    box = Sandbox(Project(REPO, REPO / "terraform" / "migration.yaml", tmp_path / "work"))
    box.emulator_dir.mkdir(parents=True)
    for name in ("emulator.json", "emulator.pid"):
        shutil.copy(emulator.work_dir / name, box.emulator_dir / name)
    return box


def test_clients_go_to_the_emulator_until_a_proxy_is_recorded(sandbox, emulator):
    assert sandbox.client_endpoint_url(emulator) == emulator.endpoint_url
    assert sandbox.client_emulator().endpoint_url == emulator.endpoint_url
    with LoopbackProxy(target_port=emulator.port) as proxy:
        sandbox.route_clients_through(proxy.endpoint_url)
        assert sandbox.client_endpoint_url(emulator) == proxy.endpoint_url
        seen = sandbox.client_emulator()
        assert seen.endpoint_url == proxy.endpoint_url and seen.pid == emulator.pid
        proxy.outage(30)  # unreachable for clients; the sandbox still knows it runs
        assert sandbox.client_emulator().endpoint_url == proxy.endpoint_url
        assert sandbox._running_emulator().endpoint_url == emulator.endpoint_url
        proxy.heal()
        sandbox.route_clients_through(None)
    assert sandbox.client_emulator().endpoint_url == emulator.endpoint_url


def test_function_code_is_fetched_through_the_host_the_client_called(emulator):
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return event\n")
    iam = emulator.client("iam", "old")
    role = iam.create_role(RoleName=f"chaos-code-{time.time_ns()}", AssumeRolePolicyDocument="{}")[
        "Role"
    ]["Arn"]
    name = f"chaos-code-{time.time_ns()}"
    emulator.client("lambda", "old").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": package.getvalue()},
    )
    with LoopbackProxy(target_port=emulator.port) as proxy:
        session = emulator.session("old")
        through_proxy = session.client("lambda", endpoint_url=proxy.endpoint_url)
        location = through_proxy.get_function(FunctionName=name)["Code"]["Location"]
        assert location.startswith(f"{proxy.endpoint_url}/_turnout/lambda-code/")
    direct = emulator.client("lambda", "old").get_function(FunctionName=name)["Code"]["Location"]
    assert direct.startswith(f"{emulator.endpoint_url}/_turnout/lambda-code/")


def test_descendants_include_children_in_sessions_of_their_own():
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "subprocess.Popen(['sleep', '30'], start_new_session=True)\n"
            "time.sleep(30)\n",
        ]
    )
    try:
        deadline = time.monotonic() + 10
        found: list[int] = []
        while not found and time.monotonic() < deadline:
            found = descendants(parent.pid)
            time.sleep(0.05)
        assert [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] for pid in found] == [
            b"sleep"
        ]
    finally:
        for pid in descendants(parent.pid):
            subprocess.run(["kill", "-9", str(pid)], check=False)
        parent.kill()
        parent.wait()
