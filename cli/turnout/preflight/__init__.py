"""Preflight: refuse a migration that would lose data before it starts (docs/preflight.md).

One module per check, registered by name in `registry.CHECKS` when this package is imported
(the imports below); `runner.run_preflight` runs the spec-only checks, or the spec and live ones
for the environments it is given, and returns one row per check.
"""

from turnout.preflight import (
    account_identity,  # noqa: F401
    aggregated_records,  # noqa: F401
    consumer_retries,  # noqa: F401
    direction_flag_rate,  # noqa: F401
    hot_keys,  # noqa: F401
    lambda_concurrency,  # noqa: F401
    read_across_settings,  # noqa: F401
    replicator_retries,  # noqa: F401
    retention_clock,  # noqa: F401
    retention_window,  # noqa: F401
    starting_positions,  # noqa: F401
)
