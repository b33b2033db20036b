"""The sandbox's sample pipeline: "the user's existing system" that turnout migrates.

- ``consumer``: the consumer Lambda's code (zipped by ``pipeline.consumer_package``).
- ``pipeline``: creates the consumer tables, role, functions and event source mappings with boto3.
- ``producer``: the synthetic producer that follows the route parameter (a subprocess).
- ``processes``: start and stop background processes by PID.
- ``report``: what was produced, processed, lost, duplicated and reordered.

See docs/sandbox.md.
"""

from __future__ import annotations

from turnout.spec import MigrationSpec


def processed_table_name(spec: MigrationSpec, environment: str) -> str:
    """One per environment: an item per processing of an event by that environment's consumers."""
    return f"{getattr(spec.environments, environment).name_prefix}sandbox-processed"


def markers_table_name(spec: MigrationSpec, environment: str) -> str:
    """Where consumers acknowledge turnout marker records (hash key ``marker_id``)."""
    return f"{getattr(spec.environments, environment).name_prefix}turnout-markers"


def consumer_role_name(spec: MigrationSpec, environment: str) -> str:
    return f"{getattr(spec.environments, environment).name_prefix}sandbox-consumer"


def ledger_table_name(spec: MigrationSpec, environment: str) -> str:
    """The ledger of the replicator deployed in ``environment`` (docs/replicator.md)."""
    peer = "new" if environment == "old" else "old"
    prefix = getattr(spec.environments, environment).name_prefix
    return f"{prefix}turnout-ledger-{environment}-to-{peer}"
