"""The new endpoint of an API is healthy, and has stayed healthy for `healthy_seconds`, by its
Route 53 health check (the one attached to the new record) or, when `health_check.alarm` names
one, by that CloudWatch alarm staying OK. Waits with progress, bounded by `timeout_seconds` and
the step's deadline; fails with one paragraph naming the gate, what it last observed and what
happens to the traffic."""

from __future__ import annotations

from turnout.apis.health import Patience, observe, observe_alarm, wait_until_healthy_for
from turnout.apis.records import api_of, new_share, weighted_records
from turnout.hooks import Hook, HookArgs, HookContext, HookFailed


class VerifyApiHealthy(Hook):
    name = "verify_api_healthy"

    class Args(HookArgs):
        api: str
        healthy_seconds: float = 0

    def run(self, context: HookContext) -> dict:
        index, api = api_of(context.spec, self.args.api)
        route53 = context.client(api.environment, "route53")
        records = weighted_records(route53, api, index)
        health = api.health_check
        patience = Patience(self.args.healthy_seconds, health.timeout_seconds, health.poll_seconds)
        if context.dry_run:
            patience = Patience(0, 0, health.poll_seconds)
        if health.alarm is not None:
            gate, data, look = self._alarm_gate(context, health.alarm)
        else:
            gate, data, look = self._health_check_gate(route53, api, index, records)
        seen = wait_until_healthy_for(context, look, gate, patience)
        data = {"api": api.name, **data, **seen}
        if seen["healthy"] or context.dry_run:
            return data
        share = new_share(records)
        raise HookFailed(
            f"API '{api.name}' (apis[{index}].health_check): {gate} of the new endpoint "
            f"({api.endpoints.new}) was not healthy for {self.args.healthy_seconds:.0f} s in a "
            f"row within {seen['waited_seconds']:.0f} s: {seen['last']}. The records keep their "
            f"weights (the new endpoint has "
            f"{share if share is not None else 'no defined share'}% of the answers; Route 53 "
            "answers only healthy records while a healthy one has weight), and the live phase is "
            "unchanged. Fix the new endpoint, then `turnout cutover` measures the gate again; or "
            "`turnout rollback` puts the weight back on the old endpoint."
        )

    @staticmethod
    def _health_check_gate(route53, api, index: int, records: dict):
        check_id = records.get("new", {}).get("health_check_id")
        if not check_id:
            raise HookFailed(
                f"API '{api.name}' (apis[{index}]): the new record of '{api.record}' has no "
                f"health check; apply the {api.environment} environment's Terraform."
            )
        health = api.health_check
        gate = (
            f"health check {check_id} ({health.protocol} "
            f"{api.endpoints.new}:{health.port}{health.path})"
        )
        return gate, {"health_check_id": check_id}, lambda: observe(route53, check_id)

    @staticmethod
    def _alarm_gate(context: HookContext, alarm):
        cloudwatch = context.client(alarm.environment, "cloudwatch")
        gate = f"CloudWatch alarm '{alarm.name}' ({alarm.environment} environment)"
        return gate, {"alarm": alarm.name}, lambda: observe_alarm(cloudwatch, alarm.name)
