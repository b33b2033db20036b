"""The hashicorp/aws provider is pinned: the root's lock file is committed, and every
configuration asks for at least the first release that has each argument it uses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "terraform"
LOCK_FILE = ROOT / ".terraform.lock.hcl"
CONFIGURATIONS = [
    *sorted(path for path in (REPO / "modules").iterdir() if path.is_dir()),
    *sorted(path for path in (REPO / "modules").glob("*/modules/*") if path.is_dir()),
    ROOT,
]

# (resource type, argument) -> the first provider release that accepts it, from the provider's
# CHANGELOG. Arguments older than 5.0 are not listed: every configuration asks for >= 5.0.
FIRST_RELEASE = {
    # 5.70.0 (October 4, 2024): "resource/aws_lambda_event_source_mapping: Add `tags` argument
    # and `tags_all` attribute (#39535)"
    ("aws_lambda_event_source_mapping", "tags"): (5, 70, 0),
}


def version(text: str) -> tuple[int, ...]:
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def aws_constraint(configuration: Path) -> str:
    text = (configuration / "versions.tf").read_text()
    block = re.search(r"aws\s*=\s*\{(.*?)\}", text, re.DOTALL)
    assert block, f"{configuration.name}/versions.tf declares no aws provider"
    found = re.search(r'version\s*=\s*"([^"]+)"', block.group(1))
    assert found, f"{configuration.name}/versions.tf gives the aws provider no version"
    return found.group(1)


def minimum(constraint: str) -> tuple[int, ...]:
    bounds = [version(v) for v in re.findall(r">=\s*([0-9.]+)", constraint)]
    assert bounds, f"no minimum in {constraint!r}"
    return max(bounds)


def arguments_used(configuration: Path) -> set[tuple[str, str]]:
    used = set()
    for path in configuration.glob("*.tf"):
        text = path.read_text()
        for kind, argument in FIRST_RELEASE:
            for body in re.findall(rf'resource "{kind}" "[^"]+" \{{(.*?)\n\}}', text, re.DOTALL):
                if re.search(rf"^\s+{argument}\s*=", body, re.MULTILINE):
                    used.add((kind, argument))
    return used


def test_the_root_lock_file_is_committed_not_ignored():
    assert LOCK_FILE.is_file()
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "terraform/.terraform.lock.hcl" not in ignored


def test_the_locked_provider_satisfies_the_roots_constraint():
    text = LOCK_FILE.read_text()
    locked = re.search(
        r'provider "registry.terraform.io/hashicorp/aws" \{\s*version\s*=\s*"([0-9.]+)"', text
    )
    assert locked, "the lock file pins no hashicorp/aws"
    pinned = version(locked.group(1))
    constraint = aws_constraint(ROOT)
    assert constraint == ">= 5.70, < 6.0"
    assert minimum(constraint) <= pinned < (6, 0, 0)
    assert re.search(r'"h1:[A-Za-z0-9+/=]{44}"', text), "the lock file records no package hash"


@pytest.mark.parametrize("configuration", CONFIGURATIONS, ids=lambda path: path.name)
def test_each_configuration_asks_for_the_first_release_of_every_argument_it_uses(configuration):
    needed = max((FIRST_RELEASE[used] for used in arguments_used(configuration)), default=(5, 0, 0))
    assert minimum(aws_constraint(configuration)) >= needed, (
        f"{configuration.name} uses {sorted(arguments_used(configuration))}, which need the aws "
        f"provider {'.'.join(map(str, needed))} or newer"
    )


def test_the_root_asks_for_what_its_modules_need():
    needed = max(minimum(aws_constraint(path)) for path in CONFIGURATIONS)
    assert minimum(aws_constraint(ROOT)) >= needed


def test_the_scanner_finds_the_mappings_tags():
    assert ("aws_lambda_event_source_mapping", "tags") in arguments_used(
        REPO / "modules/replicator"
    )
