"""The spec's producers (docs/producers.md): declared principals reach their streams, and every
wrong value is one paragraph naming the field; the rendered tfvars carry them to Terraform."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from turnout.deploy.render import render_environments
from turnout.errors import SpecError
from turnout.spec.loader import load_spec
from turnout.spec.names import route_item_key, route_table

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "terraform" / "migration.yaml"
ROLE = "arn:aws:iam::333333333333:role/clickstream-producer"


def producer(**overrides) -> dict:
    return {
        "name": "web-tier",
        "account_id": "333333333333",
        "principal_arns": [ROLE],
        "streams": ["clicks", "orders"],
        **overrides,
    }


def spec_file(tmp_path: Path, producers: list[dict], **changes) -> Path:
    document = copy.deepcopy(yaml.safe_load(EXAMPLE.read_text()))
    document["producers"] = producers
    for dotted, value in changes.items():
        target = document
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value
    path = tmp_path / "migration.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_declared_producers_render_into_both_environments(tmp_path):
    spec = load_spec(
        spec_file(
            tmp_path,
            [
                producer(),
                producer(
                    name="batch",
                    account_id="111111111111",
                    principal_arns=["arn:aws:iam::111111111111:user/batch"],
                    streams=None,
                ),
            ],
            streams__2__encryption="customer_managed",  # a producer of old writes new's audit
        )
    )
    rendered = render_environments(spec, REPO / "terraform", output_dir=tmp_path)
    for file in rendered:
        producers = json.loads(file.content)["producers"]
        assert producers[0]["principal_arns"] == [ROLE]
        assert producers[0]["streams"] == ["clicks", "orders"]
        assert producers[1]["streams"] == ["clicks", "orders", "audit"], "default: every stream"
    place = route_table(spec)
    assert place.route_table_arn == (
        "arn:aws:dynamodb:eu-west-1:111111111111:table/legacy-turnout-route"
    )
    assert route_item_key(spec) == "clickstream"


def test_a_spec_without_producers_renders_an_empty_list(tmp_path):
    spec = load_spec(EXAMPLE)
    for file in render_environments(spec, REPO / "terraform", output_dir=tmp_path):
        assert json.loads(file.content)["producers"] == []


BAD = {
    "principal_of_another_account": (
        [producer(principal_arns=["arn:aws:iam::444444444444:role/x"])],
        {},
        "producers[0]",
        "belong(s) to another account",
    ),
    "account_root_principal": (
        [producer(principal_arns=["arn:aws:iam::333333333333:root"])],
        {},
        "producers[0].principal_arns[0]",
        "",
    ),
    "wildcard_principal": (
        [producer(principal_arns=["*"])],
        {},
        "producers[0].principal_arns[0]",
        "",
    ),
    "undeclared_stream": (
        [producer(streams=["clicks", "payments"])],
        {},
        "producers[0].streams",
        "writes undeclared stream(s) payments",
    ),
    "same_principal_in_two_producers": (
        [producer(), producer(name="again")],
        {},
        "producers",
        "must be unique across producers",
    ),
    "cross_account_producer_on_an_aws_managed_key": (
        [producer(streams=["audit"])],
        {},
        "streams[2].encryption",
        "an AWS managed key cannot be used from another account",
    ),
    "quiet_window_not_longer_than_the_route_cache": (
        [],
        {"route__cache_seconds": 5},
        "cutover.quiet_seconds",
        "not longer than route.cache_seconds",
    ),
    "route_cache_of_an_hour": ([], {"route__cache_seconds": 3600}, "route.cache_seconds", ""),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_wrong_producer_declaration_is_one_paragraph_naming_the_field(case, tmp_path):
    producers, changes, field, reason = BAD[case]
    with pytest.raises(SpecError) as refused:
        load_spec(spec_file(tmp_path, producers, **changes))
    message = str(refused.value)
    assert f"field '{field}'" in message, message
    assert reason in message
    assert "\n" not in message and "Traceback" not in message


def test_a_producer_of_the_streams_own_account_may_use_the_aws_managed_key(tmp_path):
    same_account = producer(
        account_id="111111111111",
        principal_arns=["arn:aws:iam::111111111111:role/p"],
        streams=["audit"],
    )
    with pytest.raises(SpecError, match="writes stream audit in the new environment's account"):
        load_spec(spec_file(tmp_path, [same_account]))
    both_accounts_same = spec_file(
        tmp_path, [same_account], environments__new__account_id="111111111111"
    )
    assert load_spec(both_accounts_same).producers[0].name == "web-tier"
