"""`lambda-concurrency` (live): the replicator's concurrency fits each environment's account.

Lambda keeps at least 100 of an account's concurrent executions unreserved and refuses a
reservation that would leave fewer (`turnout.aws.concurrency`, which `turnout plan` enforces
too). The replicator runs one execution per shard per mapping, times the parallelization factor
(https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html#kinesis-polling-and-batching),
from its reservation when it has one, else from the unreserved pool it shares with the account's
other functions.

- fail: `replication.reserved_concurrency` would leave fewer than 100 unreserved.
- warn: the pool left to the account's other functions (after the reservation, or after the
  replicator's expected executions when it has none) is below `thin_headroom` of the account;
  the replicator's expected executions exceed its reservation, or the pool it draws from
  (shards then wait their turn: replication lags, against retention).
- unknown: GetAccountSettings or GetFunction could not be read.
"""

from __future__ import annotations

from turnout.aws.concurrency import (
    CONCURRENCY_DOC,
    MINIMUM_UNRESERVED,
    AccountConcurrency,
    read_account_concurrency,
)
from turnout.aws.errors import READ_ERRORS
from turnout.errors import TurnoutError
from turnout.preflight.registry import PreflightContext, register
from turnout.preflight.result import Check, Finding, Verdict
from turnout.spec.names import names

NAME = "lambda-concurrency"
KINESIS_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html"
# Lambda guarantees the other functions only the 100 it keeps unreserved: that floor is what it
# enforces, not room for their bursts. Below twice the floor, or a tenth of a raised quota, the
# other functions' bursts are throttled (TooManyRequestsException) while the replicator runs.
HEADROOM_SHARE = 0.1
READABLE = (
    "give the preflight credentials that can call lambda:GetAccountSettings and "
    "lambda:GetFunction in that environment, then run it again"
)


def thin_headroom(account: AccountConcurrency) -> int:
    """Below this many executions left to the other functions, the row warns."""
    return max(2 * MINIMUM_UNRESERVED, int(account.limit * HEADROOM_SHARE))


@register(NAME, live_only=True)
def lambda_concurrency(context: PreflightContext) -> Check:
    """Each environment's account can run the replicator and keep room for its other functions."""
    findings: list[Finding] = []
    for environment in context.environments:
        findings += _environment(context, environment)
    return Check.of(
        NAME,
        "+".join(context.environments),
        findings,
        passed="the replicator's concurrency fits each account (it runs one execution per shard "
        f"and mapping, times the parallelization factor: {KINESIS_DOC})",
    )


def expected_executions(spec) -> tuple[int, str]:
    """The replicator's concurrent executions when every shard has records, and the sum."""
    shards = sum(stream.initial_shards for stream in spec.streams)
    factor = spec.replication.parallelization_factor
    least = "at least " if any(s.capacity.mode == "on_demand" for s in spec.streams) else ""
    return shards * factor, f"{least}{shards} shards x parallelization {factor}"


def _environment(context: PreflightContext, environment: str) -> list[Finding]:
    function = names(context.spec, environment).replicator
    try:
        lam = context.aws.client(environment, "lambda")
        account = read_account_concurrency(lam, function)
    except (TurnoutError, *READ_ERRORS) as problem:
        detail = " ".join(str(problem).split()).rstrip(".")
        fact = (
            f"{environment}: could not read the account's concurrency "
            f"(lambda:GetAccountSettings, GetFunction {function}): "
            f"{type(problem).__name__}: {detail}"
        )
        return [Finding(Verdict.UNKNOWN, fact, READABLE, unread=True)]
    return _judge(context.spec, environment, account)


def _judge(spec, environment: str, account: AccountConcurrency) -> list[Finding]:
    reserved = spec.replication.reserved_concurrency
    expected, arithmetic = expected_executions(spec)
    left = account.left_after(reserved)
    others = left if reserved is not None else left - expected
    holds = f"reserves {reserved}" if reserved is not None else "reserves none (shares the pool)"
    measured = (
        f"{environment}: account of {account.limit} concurrent executions, {account.unreserved} "
        f"unreserved now (the replicator holds {account.current}); the replicator {holds} and "
        f"runs {arithmetic} = {expected} at once; {left} stay unreserved, "
        f"{others} of them for the other functions"
    )
    if reserved is not None and left < MINIMUM_UNRESERVED:
        return [
            Finding(
                Verdict.FAIL,
                f"{measured}: Lambda keeps at least {MINIMUM_UNRESERVED} unreserved and refuses "
                f"this reservation ({CONCURRENCY_DOC})",
                f"lower replication.reserved_concurrency to at most {account.most_reservable()}"
                f" (it needs {expected}), remove it, or raise the account's concurrency quota",
            )
        ]
    findings = []
    room = reserved if reserved is not None else left
    if expected > room:
        where = "its reservation" if reserved is not None else "the unreserved pool"
        findings.append(
            Finding(
                Verdict.WARN,
                f"{measured}: {where} ({room}) cannot run every shard at once ({KINESIS_DOC}); "
                "the rest wait their turn and replication lags behind, against the streams' "
                "retention",
                f"raise replication.reserved_concurrency to {expected}, or the account's quota",
            )
        )
    if others < thin_headroom(account):
        findings.append(
            Finding(
                Verdict.WARN,
                f"{measured}: below {thin_headroom(account)} (twice Lambda's floor of "
                f"{MINIMUM_UNRESERVED}, or {HEADROOM_SHARE:.0%} of the account), the other "
                f"functions' bursts are throttled while the replicator runs ({CONCURRENCY_DOC})",
                "raise the account's concurrency quota, or reserve less for the replicator "
                f"(it needs {expected})",
            )
        )
    return findings or [
        Finding(Verdict.PASS, f"{measured} (warned below {thin_headroom(account)})")
    ]
