"""Every route parameter, and the route table's item, point producers at the target environment:
their JSON names the target environment and the target environment's stream ARNs (the value
`turnout render` derives). The table item is what producers of other accounts read
(docs/producers.md)."""

from __future__ import annotations

import json
from typing import Literal

from botocore.exceptions import ClientError

from turnout.aws.errors import error_code
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed
from turnout.spec.names import route_item_key, route_table, route_value


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
                raw = None
            parameters[name] = self._judge(name, raw, expected, problems, where)
        table = route_table(spec).route_table
        table_item = self._judge(
            f"the route table {table}", self._table_value(context, table), expected, problems, where
        )
        data = {
            "target": self.args.target,
            "route_environment": where,
            "parameters": parameters,
            "route_table": {"name": table, **table_item},
        }
        if problems:
            raise HookFailed(
                f"the producer route does not point at the {self.args.target} environment: "
                + "; ".join(problems)
                + f". Apply the phase's Terraform in {where} (it writes the route parameters "
                "and the route table's item)."
            )
        return data

    def _table_value(self, context: HookContext, table: str) -> str | None:
        dynamodb = context.client(context.spec.route.environment, "dynamodb")
        try:
            item = dynamodb.get_item(
                TableName=table,
                Key={"route_id": {"S": route_item_key(context.spec)}},
                ConsistentRead=True,
            ).get("Item")
        except ClientError as problem:
            if error_code(problem) != "ResourceNotFoundException":
                raise
            return None
        return (item or {}).get("value", {}).get("S")

    def _judge(
        self, name: str, raw: str | None, expected: dict, problems: list[str], where: str
    ) -> dict:
        """Whether one route value points at the target; its problems are appended."""
        if raw is None:
            problems.append(f"{name} does not exist in {where}")
            return {"ok": False, "value": None}
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            problems.append(f"{name} does not hold a JSON object ({raw[:80]!r})")
            return {"ok": False, "value": raw}
        wrong = []
        if value.get("environment") != self.args.target:
            wrong.append(f"environment is {value.get('environment')!r}")
        streams = value.get("streams") if isinstance(value.get("streams"), dict) else {}
        for logical, arn in expected["streams"].items():
            if streams.get(logical) != arn:
                wrong.append(f"stream {logical} is {streams.get(logical)!r}, not {arn}")
        if wrong:
            problems.append(f"{name}: " + ", ".join(wrong))
        return {"ok": not wrong, "environment": value.get("environment"), "streams": streams}
