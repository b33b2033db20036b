"""Names of the sandbox's own resources (the sample pipeline). turnout's resources are named
by `turnout.spec.names`."""

from __future__ import annotations

from turnout.spec.model import MigrationSpec


def processed_table_name(spec: MigrationSpec, environment: str) -> str:
    """One per environment: an item per processing of an event by that environment's consumers."""
    return f"{getattr(spec.environments, environment).name_prefix}sandbox-processed"


def consumer_role_name(spec: MigrationSpec, environment: str) -> str:
    return f"{getattr(spec.environments, environment).name_prefix}sandbox-consumer"


def consumer_log_group(function_name: str) -> str:
    """The log group Lambda writes a sample consumer's output to (on AWS; created by Lambda)."""
    return f"/aws/lambda/{function_name}"
