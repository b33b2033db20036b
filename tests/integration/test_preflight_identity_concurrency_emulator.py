"""`turnout preflight --env old` on the emulator shows the deploy path's two refusals as rows:
`account-identity` (GetCallerIdentity over HTTP) and `lambda-concurrency` (GetAccountSettings,
which the emulator computes from its functions' reservations as AWS does, and GetFunction).
The example spec passes both; credentials of the other account and a reservation the account
cannot spare fail, naming the figures."""

from __future__ import annotations

import json

import pytest
from state_kit import profile_acting_in, run_cli, scratch_project

from turnout.spec.loader import load_spec
from turnout.spec.names import names

pytestmark = pytest.mark.integration

OLD, NEW = "111111111111", "222222222222"


def rows(spec, emulator, work, monkeypatch, capsys) -> tuple[int, dict]:
    code, out, error = run_cli(
        [
            "preflight",
            "--env",
            "old",
            "--spec",
            str(spec),
            "--endpoint-url",
            emulator.endpoint_url,
            "--json",
        ],
        work,
        monkeypatch,
        capsys,
    )
    assert out, error
    return code, {row["name"]: row for row in json.loads(out)["checks"]}


def unreserved_after(emulator, spec_path, spec_reservation: int) -> int:
    """What the row must compute, read here independently: unreserved now, plus what the
    replicator holds (if deployed by an earlier test), minus the spec's reservation."""
    lambda_client = emulator.client("lambda", OLD)
    unreserved = lambda_client.get_account_settings()["AccountLimit"][
        "UnreservedConcurrentExecutions"
    ]
    replicator = names(load_spec(spec_path), "old").replicator
    held = 0
    if replicator in {f["FunctionName"] for f in lambda_client.list_functions()["Functions"]}:
        held = lambda_client.get_function_concurrency(FunctionName=replicator).get(
            "ReservedConcurrentExecutions", 0
        )
    return unreserved + held - spec_reservation


def test_the_example_spec_passes_identity_and_concurrency_with_the_figures(
    emulator, tmp_path, monkeypatch, capsys
):
    spec = scratch_project(tmp_path / "p")
    _, found = rows(spec, emulator, tmp_path / "work", monkeypatch, capsys)
    identity, concurrency = found["account-identity"], found["lambda-concurrency"]
    assert identity["verdict"] == "pass", identity
    assert "old: arn:aws:" in identity["fact"] and f" in {OLD}" in identity["fact"]
    assert concurrency["verdict"] == "pass", concurrency
    assert "old: account of 1000 concurrent executions" in concurrency["fact"]
    assert (
        "the replicator reserves 10 and runs at least 7 shards x parallelization 1 = 7"
        in (concurrency["fact"])
    )
    assert f"{unreserved_after(emulator, spec, 10)} stay unreserved" in concurrency["fact"]


def test_other_accounts_credentials_and_a_reservation_too_large_fail(
    emulator, tmp_path, monkeypatch, capsys
):
    profile_acting_in(NEW, "looks-like-old", emulator, tmp_path, monkeypatch)

    def wrong(document: dict) -> None:
        document["environments"]["old"]["profile"] = "looks-like-old"

    code, found = rows(
        scratch_project(tmp_path / "wrong", wrong), emulator, tmp_path / "w1", monkeypatch, capsys
    )
    identity = found["account-identity"]
    assert code == 1 and identity["verdict"] == "fail", identity
    assert f"old: the credentials act in account {NEW} as arn:aws:sts::{NEW}:" in identity["fact"]
    assert f"but the spec names {OLD} (environments.old.account_id)" in identity["fact"]

    def greedy(document: dict) -> None:
        document["replication"]["reserved_concurrency"] = 950

    greedy_spec = scratch_project(tmp_path / "greedy", greedy)
    code, found = rows(greedy_spec, emulator, tmp_path / "w2", monkeypatch, capsys)
    concurrency = found["lambda-concurrency"]
    assert code == 1 and concurrency["verdict"] == "fail", concurrency
    left = unreserved_after(emulator, greedy_spec, 950)
    assert f"{left} stay unreserved" in concurrency["fact"]
    assert (
        "Lambda keeps at least 100 unreserved and refuses this reservation" in (concurrency["fact"])
    )
    assert f"at most {left + 950 - 100} (it needs 7)" in concurrency["change"]
