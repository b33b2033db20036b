"""Drain predicates: has a consumer processed everything in its streams, shard by shard?

`verdicts` (drained / not drained / unknown), `scope` (what a predicate may use, per-shard
work), `base` (the predicate interface, its registry, waiting until drained), one module per
kind of evidence (`ledger` for the replicator, `lambda_consumers`, `kcl`), `discarded` (what
the Lambda consumers' on-failure destinations received), and `check`
(`turnout drain-check`). Importing this package registers every kind of evidence.
"""

from turnout.drain import kcl, lambda_consumers, ledger
from turnout.drain.base import PREDICATES, predicate_for, wait_until_drained

__all__ = ["PREDICATES", "kcl", "lambda_consumers", "ledger", "predicate_for", "wait_until_drained"]
