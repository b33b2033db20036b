"""`terraform validate` for every module and root, with providers from the configured mirror.

Usage: python -m turnout.deploy.validate modules/kinesis-stream ... terraform
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

from turnout.deploy.terraform import TerraformRunner, terraform_settings
from turnout.errors import TurnoutError
from turnout.project import Project


def validate_directories(directories: list[Path]) -> list[str]:
    project = Project.locate()
    failures = []
    for directory in directories:
        settings = replace(terraform_settings(project), root_dir=directory.resolve())
        runner = TerraformRunner(settings, f"validate-{directory.name}")
        try:
            runner.init_without_backend()
            runner.validate()
            print(f"{directory}: valid")
        except TurnoutError as problem:
            failures.append(f"{directory}: {problem}")
    return failures


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m turnout.deploy.validate DIR [DIR ...]", file=sys.stderr)
        return 2
    os.environ.setdefault("TURNOUT_SPEC", "terraform/migration.yaml")
    failures = validate_directories([Path(arg) for arg in argv])
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
