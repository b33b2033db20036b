"""A small evaluator of resource-based policies: does this policy let this principal make this
call on this resource?

It is what the emulator lacks (moto stores Kinesis and DynamoDB resource policies but never
evaluates them) and what the tests use to check the policies Terraform renders against the
producers' calls. Deliberately small, and it says so:

- An explicit ``Deny`` statement that matches wins; otherwise a matching ``Allow`` allows;
  otherwise the call is denied (no policy at all denies everything).
- A statement matches when its principal, action, resource and every condition match.
  Principal: ``"*"``, or ``{"AWS": ...}`` naming the caller's ARN, its account id or its
  account's root ARN. Action and Resource: exact or with ``*``/``?`` wildcards (actions
  case-insensitively). Conditions: ``StringEquals``, ``StringLike``, ``ArnEquals``, ``ArnLike``
  (any listed value matches), on keys the caller passes in ``context``; a key missing from the
  context does not match.
- Not modelled, refused with ``UnsupportedPolicy`` rather than guessed: ``NotPrincipal``,
  ``NotAction``, ``NotResource``, any other condition operator, ``Service``/``Federated``
  principals. Identity policies, SCPs, permission boundaries and session policies are not
  this evaluator's business: on AWS a cross-account call also needs the caller's own identity
  policy to allow it (docs/producers.md).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from typing import Any

from turnout.spec.names import account_root_arn

SUPPORTED_OPERATORS = {"StringEquals", "StringLike", "ArnEquals", "ArnLike"}
UNSUPPORTED_ELEMENTS = ("NotPrincipal", "NotAction", "NotResource")


class UnsupportedPolicy(ValueError):
    """The policy uses an element this evaluator does not model."""


def allows(
    policy: str | Mapping | None,
    *,
    principal: str,
    action: str,
    resource: str,
    context: Mapping[str, str] | None = None,
) -> bool:
    """True when ``policy`` lets ``principal`` (an IAM role/user ARN) call ``action`` on
    ``resource`` with the condition keys in ``context``."""
    if policy is None or policy == "" or policy == {}:
        return False
    document = json.loads(policy) if isinstance(policy, str) else policy
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, Mapping) else statements
    matching = [
        statement
        for statement in statements
        if statement_matches(statement, principal, action, resource, context or {})
    ]
    if any(statement.get("Effect") == "Deny" for statement in matching):
        return False
    return any(statement.get("Effect") == "Allow" for statement in matching)


def statement_matches(
    statement: Mapping, principal: str, action: str, resource: str, context: Mapping[str, str]
) -> bool:
    for element in UNSUPPORTED_ELEMENTS:
        if element in statement:
            raise UnsupportedPolicy(f"statement {statement.get('Sid')!r} uses {element}")
    return (
        principal_matches(statement.get("Principal"), principal)
        and any(_like(pattern, action, case=False) for pattern in _listed(statement.get("Action")))
        and any(_like(pattern, resource) for pattern in _listed(statement.get("Resource")))
        and conditions_match(statement.get("Condition", {}), context)
    )


def principal_matches(element: Any, principal: str) -> bool:
    if element == "*":
        return True
    if not isinstance(element, Mapping) or set(element) - {"AWS"}:
        raise UnsupportedPolicy(f"only AWS principals are modelled, not {element!r}")
    account = principal.split(":")[4]
    allowed = {account, account_root_arn(account), principal, "*"}
    return any(listed in allowed for listed in _listed(element.get("AWS")))


def conditions_match(conditions: Mapping, context: Mapping[str, str]) -> bool:
    for operator, tests in conditions.items():
        if operator not in SUPPORTED_OPERATORS:
            raise UnsupportedPolicy(f"condition operator {operator} is not modelled")
        like = operator.endswith("Like")
        for key, values in tests.items():
            if key not in context:
                return False
            if not any(
                _like(value, context[key]) if like else value == context[key]
                for value in _listed(values)
            ):
                return False
    return True


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _like(pattern: str, value: str, case: bool = True) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


__all__ = ["UnsupportedPolicy", "allows", "conditions_match", "principal_matches"]
