"""The invocation's time budget: no step starts unless its worst case ends before the deadline.

Lambda kills an invocation at its timeout: no ``batchItemFailures``, no ledger update, and the
whole batch comes back (a function error:
https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html).
So the replicator never *starts* a step it cannot finish in time, judging every step by its
worst case, not its usual duration: a PutRecords call by the Kinesis client's connect plus read
timeout (7 s; one attempt, botocore never retries, infra.CLIENT_TIMEOUTS), a backoff by the
longest wait its jitter may draw, a parameter read or AssumeRole likewise. Writing ends at
``write_end``, which leaves the finish reserve for the ledger update (up to three attempts of
the DynamoDB client's 2 s, the conditional update and the duplicate counts) and the summary
lines, before ``hard_end``, when Lambda would stop the function.
"""

from __future__ import annotations

from typing import Any

from .infra import call_seconds

LEDGER_ATTEMPTS_RESERVED = 3
RETURN_SECONDS = 0.5  # the summary log, the EMF line and returning the response


def finish_reserve_seconds() -> float:
    return LEDGER_ATTEMPTS_RESERVED * call_seconds("dynamodb") + RETURN_SECONDS


def shortest_useful_timeout_seconds() -> float:
    """A function timeout below this cannot make a single guarded PutRecords call in time."""
    guard = 2 * call_seconds("ssm") + call_seconds("sts")
    return guard + call_seconds("kinesis") + finish_reserve_seconds()


class Budget:
    def __init__(self, clock: Any, remaining_seconds: float) -> None:
        self._clock = clock
        self.started = clock.monotonic()
        self.hard_end = self.started + remaining_seconds
        self.write_end = self.hard_end - finish_reserve_seconds()

    def allows(self, seconds: float) -> bool:
        """Whether a writing step taking at most ``seconds`` ends before ``write_end``."""
        return self._clock.monotonic() + seconds <= self.write_end

    def allows_finish(self, seconds: float) -> bool:
        """Whether a finishing step (ledger) taking at most ``seconds`` ends in time."""
        return self._clock.monotonic() + seconds <= self.hard_end - RETURN_SECONDS

    def left(self) -> float:
        return self.hard_end - self._clock.monotonic()
