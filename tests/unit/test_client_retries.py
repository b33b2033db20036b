"""Every AWS client of the operator tool follows one retry policy (turnout.aws.client_config):
a cutover step rides out a short outage instead of stopping. The chaos suite found the state
bucket's client on botocore's default retries: a 5-s outage stopped the same Terraform step
run after run."""

from __future__ import annotations

import copy
from pathlib import Path

import boto3
import yaml

from turnout.aws.client_config import CLIENT_CONFIG
from turnout.deploy.state_bucket import state_client
from turnout.spec.model import MigrationSpec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((REPO / "terraform" / "migration.yaml").read_text())


class LoopbackAccess:
    endpoint_url = "http://127.0.0.1:9"
    assume_roles = False

    def session(self, environment: str) -> boto3.Session:
        return boto3.Session(
            aws_access_key_id="test", aws_secret_access_key="test", region_name="eu-west-1"
        )


def test_the_state_buckets_client_retries_like_every_other_client():
    spec = MigrationSpec.model_validate(copy.deepcopy(EXAMPLE))
    client = state_client(spec, "old", LoopbackAccess())
    reference = LoopbackAccess().session("old").client("s3", config=CLIENT_CONFIG)
    assert client.meta.config.retries == reference.meta.config.retries
    # Eight retries, nine attempts: with botocore's capped exponential backoff about a minute.
    assert client.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 9}
