"""The new endpoint of an API is healthy, and has stayed healthy for `healthy_seconds`, by its
Route 53 health check (the one attached to the new record). Waits with progress, bounded by
`timeout_seconds` and the step's deadline; fails with one paragraph naming the check, what it
last observed and what happens to the traffic."""

from __future__ import annotations

from turnout.apis.health import Patience, wait_until_healthy_for
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
        check_id = records.get("new", {}).get("health_check_id")
        if not check_id:
            raise HookFailed(
                f"API '{api.name}' (apis[{index}]): the new record of '{api.record}' has no "
                f"health check; apply the {api.environment} environment's Terraform."
            )
        health = api.health_check
        patience = Patience(self.args.healthy_seconds, health.timeout_seconds, health.poll_seconds)
        if context.dry_run:
            patience = Patience(0, 0, health.poll_seconds)
        seen = wait_until_healthy_for(context, route53, check_id, patience)
        data = {"api": api.name, "health_check_id": check_id, **seen}
        if seen["healthy"] or context.dry_run:
            return data
        share = new_share(records)
        raise HookFailed(
            f"API '{api.name}' (apis[{index}].health_check): the new endpoint's health check "
            f"{check_id} ({health.protocol} {api.endpoints.new}:{health.port}{health.path}) was "
            f"not healthy for {self.args.healthy_seconds:.0f} s in a row within "
            f"{seen['waited_seconds']:.0f} s: {seen['last']}. The records keep their weights "
            f"(the new endpoint has {share if share is not None else 'no defined share'}% of "
            "the answers; Route 53 answers only healthy records while a healthy one has weight), "
            "and the live phase is unchanged. Fix the new endpoint, then `turnout cutover` "
            "measures the check again; or `turnout rollback` puts the weight back on the old "
            "endpoint."
        )
