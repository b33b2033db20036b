"""AWS failing mid-command (unreachable endpoint, refused call) is one paragraph, never a
traceback: the chaos suite's emulator outages hit the CLI while it wrote its journal."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from turnout import cli
from turnout.project import Project


@pytest.mark.parametrize(
    "failure",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "PutItem"
        ),
    ],
    ids=["unreachable", "refused"],
)
def test_an_aws_failure_mid_command_is_one_paragraph_that_says_how_to_resume(
    monkeypatch, capsys, failure
):
    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr(Project, "locate", fail)
    code = cli.main(["status"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: an AWS call failed (")
    assert type(failure).__name__ in err
    assert "run the same command again" in err
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0
