"""The one retry policy of every AWS client the operator tool makes.

A cutover step must ride out what AWS does on a bad minute: throttling, a 5xx, a connection
closed mid-answer, an endpoint unreachable for a few seconds. Eight retries (nine attempts)
with botocore's capped exponential backoff wait about a minute in all on average before a call
gives up (the chaos suite's emulator outages last up to 8 s); answers that say no (AccessDenied,
a bad token) are never retried, so bad credentials still fail at once.
"""

from __future__ import annotations

from botocore.config import Config

CLIENT_CONFIG = Config(
    retries={"max_attempts": 8, "mode": "adaptive"}, connect_timeout=5, read_timeout=30
)
