"""The state bucket's policy, evaluated against the requests it must allow and refuse.

The emulator does not evaluate bucket policies (docs/emulator.md), so the rendered document is
evaluated here with IAM's rules for a bucket policy: an explicit Deny wins; another account's
principal gets in only through an Allow that names it; a statement applies only when all its
conditions hold (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
"""

from __future__ import annotations

import copy
import fnmatch
from dataclasses import dataclass
from pathlib import Path

import yaml

from turnout.deploy.state_bucket import bucket_policy
from turnout.spec.model import MigrationSpec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = yaml.safe_load((REPO / "terraform" / "migration.yaml").read_text())
BUCKET = "arn:aws:s3:::clickstream-turnout-state"
OLD, NEW = "111111111111", "222222222222"


def spec(**state) -> MigrationSpec:
    document = copy.deepcopy(EXAMPLE)
    document["state"].update(state)
    return MigrationSpec.model_validate(document)


@dataclass
class Request:
    account: str
    action: str
    resource: str
    secure: bool = True
    prefix: str | None = None


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _applies(statement: dict, request: Request) -> bool:
    if not any(fnmatch.fnmatchcase(request.action, a) for a in _listed(statement["Action"])):
        return False
    if not any(fnmatch.fnmatchcase(request.resource, r) for r in _listed(statement["Resource"])):
        return False
    principal = statement["Principal"]
    if principal != "*" and f"arn:aws:iam::{request.account}:root" not in _listed(principal["AWS"]):
        return False
    for operator, conditions in statement.get("Condition", {}).items():
        for key, expected in conditions.items():
            actual = {
                "aws:SecureTransport": str(request.secure).lower(),
                "s3:prefix": request.prefix,
            }[key]
            if actual is None:
                return False
            if operator == "Bool" and actual != expected:
                return False
            if operator == "StringLike" and not any(
                fnmatch.fnmatchcase(actual, pattern) for pattern in _listed(expected)
            ):
                return False
    return True


def decision(policy: dict, request: Request, owner: str = OLD) -> str:
    applying = [s for s in policy["Statement"] if _applies(s, request)]
    if any(s["Effect"] == "Deny" for s in applying):
        return "denied"
    if any(s["Effect"] == "Allow" for s in applying):
        return "allowed"
    # Implicit: the owner account's own IAM policies decide; another account has no way in.
    return "owner's IAM decides" if request.account == owner else "denied"


def test_every_request_without_tls_is_denied_even_the_owners():
    policy = bucket_policy(spec(), OLD)
    for account in (OLD, NEW):
        for action, resource in (
            ("s3:GetObject", f"{BUCKET}/turnout/clickstream/old.tfstate"),
            ("s3:ListBucket", BUCKET),
            ("s3:PutBucketPolicy", BUCKET),
        ):
            assert decision(policy, Request(account, action, resource, secure=False)) == "denied"


def test_the_other_environments_account_reaches_only_its_own_state_and_lock():
    policy = bucket_policy(spec(), OLD)
    own = f"{BUCKET}/turnout/clickstream/new.tfstate"
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
        assert decision(policy, Request(NEW, action, own)) == "allowed"
        assert decision(policy, Request(NEW, action, f"{own}.tflock")) == "allowed"
    old_state = f"{BUCKET}/turnout/clickstream/old.tfstate"
    assert decision(policy, Request(NEW, "s3:GetObject", old_state)) == "denied"
    assert decision(policy, Request(NEW, "s3:PutBucketPolicy", BUCKET)) == "denied"
    listing = Request(NEW, "s3:ListBucket", BUCKET, prefix="turnout/clickstream/new.tfstate")
    assert decision(policy, listing) == "allowed"
    everything = Request(NEW, "s3:ListBucket", BUCKET, prefix="turnout/")
    assert decision(policy, everything) == "denied"
    assert decision(policy, Request(OLD, "s3:GetObject", old_state)) == "owner's IAM decides"


def test_with_a_state_role_no_other_account_is_let_in():
    policy = bucket_policy(spec(role_arn=f"arn:aws:iam::{OLD}:role/turnout-state"), OLD)
    assert [s["Sid"] for s in policy["Statement"]] == ["DenyInsecureTransport"]
    own = f"{BUCKET}/turnout/clickstream/new.tfstate"
    assert decision(policy, Request(NEW, "s3:GetObject", own)) == "denied"
