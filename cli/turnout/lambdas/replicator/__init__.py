"""turnout replicator: copy one Kinesis shard batch to the peer environment's stream.

Deployed as an AWS Lambda function (handler ``replicator.handler``) behind a Kinesis event
source mapping (ESM) with ``ReportBatchItemFailures``. This package is zipped alone
(turnout.deploy.package) and runs on the Lambda Python 3.11/3.12 runtimes: it imports only the
standard library, boto3 and botocore.

What one invocation does (docs/replicator.md tells the whole story):

1. decode the batch exactly (decode.py: one shard of one stream, in sequence order; a malformed
   record raises an error naming it, and nothing is written);
2. loop guard (guard.py): the active-direction parameter in the source account *and* in the
   target account must both equal ``TURNOUT_DIRECTION``;
3. write the records to the mapped target stream (writer.py) in the near-prefix schedule with
   the stream's order rule, strict or relaxed (schedule.py), paced per target shard
   (pacing.py), backing off by each call's success fraction (backoff.py), starting no call that
   could outlive the invocation (budget.py);
4. advance the ledger (ledger.py: DynamoDB, conditional, never backwards) for the written
   prefix, with the exact duplicate and inversion counts (accounting.py);
5. one CloudWatch embedded-metric-format line (metrics.py) and one JSON summary line;
6. return ``batchItemFailures`` naming the first record whose last copy is not written yet, so
   Lambda checkpoints before it and retries from there. Nothing is dropped.

Everything is built by :meth:`Replicator.from_environment` from injectable parts (client
factory, clock, random source, log sink) so tests can inject faults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .config import (
    DEFAULT_METRIC_NAMESPACE,
    DIRECTIONS,
    MAX_RECORDS_PER_CALL,
    ORDERINGS,
    ReplicatorConfig,
    StreamRoute,
)
from .decode import ParsedBatch, parse_batch, stream_name_from_arn
from .errors import (
    BadEventError,
    ConfigurationError,
    MalformedRecordError,
    RecordTooLargeError,
    ReplicatorError,
)
from .infra import CLIENT_TIMEOUTS, JsonLogger, SystemClock, boto3_client_factory, call_seconds
from .invocation import BatchOutcome, Replicator
from .ledger import Ledger, sortable_sequence

__all__ = [
    "CLIENT_TIMEOUTS",
    "DEFAULT_METRIC_NAMESPACE",
    "DIRECTIONS",
    "MAX_RECORDS_PER_CALL",
    "ORDERINGS",
    "BadEventError",
    "BatchOutcome",
    "ConfigurationError",
    "JsonLogger",
    "Ledger",
    "MalformedRecordError",
    "ParsedBatch",
    "RecordTooLargeError",
    "Replicator",
    "ReplicatorConfig",
    "ReplicatorError",
    "StreamRoute",
    "SystemClock",
    "boto3_client_factory",
    "call_seconds",
    "handler",
    "parse_batch",
    "sortable_sequence",
    "stream_name_from_arn",
]

_REPLICATOR: Replicator | None = None


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point; the Replicator (clients, credentials, caches) is reused."""
    global _REPLICATOR
    if _REPLICATOR is None:
        _REPLICATOR = Replicator.from_environment(os.environ)
    return _REPLICATOR.handle(event, context)
