"""`account-identity` (live): the credentials of each environment read act in its own account.

Every command checks this before its first call in an environment (`turnout.aws.credentials`:
GetCallerIdentity must name `environments.<env>.account_id`) and stops there; this row shows it
in the table. Without it, wrong credentials make the other live rows `unknown` (which could be
accepted), while any step of the transition would then be refused: here it is a fail.

- fail: GetCallerIdentity names another account (the row names both, and the caller's ARN);
  on AWS, the spec names no credentials for the environment.
- unknown: the caller could not be established (STS unreachable, no or expired credentials).
"""

from __future__ import annotations

from turnout.aws.credentials import WrongAccount
from turnout.aws.errors import READ_ERRORS
from turnout.errors import SpecError, TurnoutError
from turnout.preflight.registry import PreflightContext, register
from turnout.preflight.result import Check, Finding, Verdict

NAME = "account-identity"
REACHABLE = (
    "give the environment credentials that can call sts:GetCallerIdentity (renew expired ones; "
    "check the network to STS), then run it again"
)


@register(NAME, live_only=True)
def account_identity(context: PreflightContext) -> Check:
    """GetCallerIdentity names each environment's account."""
    findings = [_environment(context, environment) for environment in context.environments]
    return Check.of(
        NAME,
        "+".join(context.environments),
        findings,
        passed="each environment's credentials act in its account",
    )


def _environment(context: PreflightContext, environment: str) -> Finding:
    expected = getattr(context.spec.environments, environment).account_id
    try:
        caller = context.aws.caller(environment)
    except WrongAccount as wrong:
        return Finding(
            Verdict.FAIL,
            f"{environment}: the credentials act in account {wrong.account} as {wrong.caller}, "
            f"but the spec names {wrong.expected} (environments.{environment}.account_id)",
            f"give the {environment} environment credentials of account {wrong.expected}: a "
            f"deploy_role_arn there, or a profile acting there (environments.{environment})",
        )
    except SpecError as missing:
        change = f"set environments.{environment}.deploy_role_arn or .profile in the spec"
        return Finding(Verdict.FAIL, str(missing), change)
    except (TurnoutError, *READ_ERRORS) as problem:
        detail = " ".join(str(problem).split()).rstrip(".")
        return Finding(
            Verdict.UNKNOWN,
            f"{environment}: could not establish who the credentials are "
            f"(sts:GetCallerIdentity): {detail}",
            REACHABLE,
            unread=True,
        )
    return Finding(Verdict.PASS, f"{environment}: {caller} in {expected}")
