"""The preflight gate: decide whether a cutover transition may start, given the checks' rows and
the operator's acceptances (docs/preflight.md, "Before every transition").

- `fail`: refused, always; a fail cannot be accepted (the setup loses records on AWS).
- `warn`: refused unless the operator accepted that check with a reason.
- `unknown`: refused unless accepted, like a warning: what would decide could not be read, and
  an unread fact is never taken as a pass; an operator who checked it by other means says so
  with a reason (journaled).

Which checks run before which transition is the engine's table (`turnout.engine.steps`,
`CHECKS_BEFORE`); this module only decides.
"""

from __future__ import annotations

from collections.abc import Sequence

from turnout.errors import TurnoutError
from turnout.hooks import HookFailed
from turnout.preflight.registry import CHECKS
from turnout.preflight.result import Check, Verdict
from turnout.preflight.runner import PreflightReport

ACCEPTABLE = (Verdict.WARN, Verdict.UNKNOWN)


class PreflightRefused(HookFailed):
    """A transition's preflight found a fail, or a warning or unknown nobody accepted."""


class SpecChecksFailed(TurnoutError):
    """A preflight check that needs only the spec failed: the spec would lose records on AWS."""

    exit_code = 1


class AcceptanceInvalid(TurnoutError):
    """`--accept`/`--reason` are malformed: an unknown check, a missing or empty reason."""


def parse_acceptances(accept: Sequence[str], reasons: Sequence[str]) -> dict[str, str]:
    """`--accept CHECK` (repeatable) paired with `--reason` in order; one reason may cover every
    accepted check. Returns {check: reason}, or raises one paragraph naming the flag."""
    accept = list(accept or [])
    reasons = list(reasons or [])
    valid = ", ".join(sorted(CHECKS))
    if reasons and not accept:
        raise AcceptanceInvalid(
            "--reason was given without --accept: a reason explains the acceptance of a "
            f'preflight check, e.g. --accept retention-window --reason "..." (checks: {valid}). '
            "Nothing was changed."
        )
    unknown = [name for name in accept if name not in CHECKS]
    if unknown:
        raise AcceptanceInvalid(
            f"--accept {', '.join(repr(name) for name in unknown)}: no preflight check has that "
            f"name; valid: {valid} (`turnout preflight` lists them). Nothing was changed."
        )
    if accept and not reasons:
        raise AcceptanceInvalid(
            f'--accept {" ".join(accept)} needs --reason "...": an acceptance is journaled with '
            'why the warning is safe to pass (e.g. --reason "KCL consumer configured with '
            'TRIM_HORIZON, checked in its config"). Nothing was changed.'
        )
    if len(reasons) not in (1, len(accept)):
        raise AcceptanceInvalid(
            f"{len(accept)} --accept and {len(reasons)} --reason: give one --reason per --accept "
            "(paired in order) or a single --reason for all of them. Nothing was changed."
        )
    if any(not reason.strip() for reason in reasons):
        raise AcceptanceInvalid(
            "--reason is empty: say why the accepted check is safe to pass; the reason is "
            "journaled with the acceptance. Nothing was changed."
        )
    paired = reasons if len(reasons) == len(accept) else reasons * len(accept)
    return {name: reason.strip() for name, reason in zip(accept, paired, strict=True)}


def decide(report: PreflightReport, accepted: dict[str, str], transition: str) -> dict:
    """The gate's outcome for `transition`: every row, and the acceptances used. Raises
    `PreflightRefused` (one paragraph) on a fail or an unaccepted warning or unknown."""
    fails = [check for check in report.checks if check.verdict is Verdict.FAIL]
    unaccepted = [
        check
        for check in report.checks
        if check.verdict in ACCEPTABLE and check.name not in accepted
    ]
    if fails or unaccepted:
        raise PreflightRefused(refusal_text(transition, fails, unaccepted, accepted))
    used = [
        {
            "check": check.name,
            "verdict": check.verdict.value,
            "fact": check.fact,
            "reason": accepted[check.name],
        }
        for check in report.checks
        if check.verdict in ACCEPTABLE
    ]
    return {
        "transition": transition,
        "checks": [check.to_dict() for check in report.checks],
        "accepted": used,
    }


def refusal_text(
    transition: str, fails: list[Check], unaccepted: list[Check], accepted: dict[str, str]
) -> str:
    parts = [f"refused before {transition} by the preflight:"]
    for check in fails:
        also = " (a fail cannot be accepted)" if check.name in accepted else ""
        parts.append(f"{check.name} failed{also}: {_fact_and_change(check)}.")
    for check in unaccepted:
        parts.append(f"{check.name} is {check.verdict.value}: {_fact_and_change(check)}.")
    if unaccepted:
        names = " ".join(f"--accept {check.name}" for check in unaccepted)
        parts.append(
            f"If you have checked {'it' if len(unaccepted) == 1 else 'them'} yourself, run again "
            f'with {names} --reason "why it is safe" (journaled).'
        )
    if fails:
        parts.append("Change what the failed check names and run again.")
    return " ".join(parts)


def _fact_and_change(check: Check) -> str:
    fact = check.fact.rstrip(".")
    return f"{fact}; change: {check.change.rstrip('.')}" if check.change else fact


def refuse_failed_spec(report: PreflightReport, command: str) -> None:
    """For `turnout plan`: one paragraph naming the failed spec checks, before Terraform runs."""
    failed = report.failed()
    if not failed:
        return
    rows = " ".join(f"{check.name}: {_fact_and_change(check)}." for check in failed)
    raise SpecChecksFailed(
        f"refused: `turnout {command}` runs the preflight checks that need only the spec first, "
        f"and {', '.join(check.name for check in failed)} failed: this spec would lose records "
        f"on AWS. {rows} Nothing was planned and Terraform did not run; fix the spec "
        "(`turnout validate` shows every row) and run again."
    )
