"""Every route parameter points producers at the target environment: its JSON names the target
environment and the target environment's stream ARNs (the value `turnout render` derives)."""

from __future__ import annotations

import json
from typing import Literal

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed
from turnout.spec.names import route_value


class VerifyRoute(Hook):
    name = "verify_route"

    class Args(HookArgs):
        target: Literal["old", "new"]

    def run(self, context: HookContext) -> dict:
        spec = context.spec
        expected = json.loads(route_value(spec, self.args.target))
        where = spec.route.environment
        ssm = context.client(where, "ssm")
        parameters: dict[str, dict] = {}
        problems: list[str] = []
        for name in spec.route.parameters:
            try:
                raw = ssm.get_parameter(Name=name)["Parameter"]["Value"]
            except ClientError as problem:
                if error_code(problem) != "ParameterNotFound":
                    raise
                parameters[name] = {"ok": False, "value": None}
                problems.append(f"{name} does not exist in {where}")
                continue
            try:
                value = json.loads(raw)
            except ValueError:
                value = None
            if not isinstance(value, dict):
                parameters[name] = {"ok": False, "value": raw}
                problems.append(f"{name} does not hold a JSON object ({raw[:80]!r})")
                continue
            wrong = []
            if value.get("environment") != self.args.target:
                wrong.append(f"environment is {value.get('environment')!r}")
            streams = value.get("streams") if isinstance(value.get("streams"), dict) else {}
            for logical, arn in expected["streams"].items():
                if streams.get(logical) != arn:
                    wrong.append(f"stream {logical} is {streams.get(logical)!r}, not {arn}")
            parameters[name] = {
                "ok": not wrong,
                "environment": value.get("environment"),
                "streams": streams,
            }
            if wrong:
                problems.append(f"{name}: " + ", ".join(wrong))
        data = {"target": self.args.target, "route_environment": where, "parameters": parameters}
        if problems:
            raise HookFailed(
                f"the producer route does not point at the {self.args.target} environment: "
                + "; ".join(problems)
                + f". Apply the phase's Terraform in {where} (it writes the route parameters)."
            )
        return data
