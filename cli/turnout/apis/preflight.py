"""Read-only checks of an API before a cutover changes anything: its hosted zone exists in the
declared environment's account and holds its name, both weighted records exist as the spec
declares them (Terraform made them), and the new record's health check exists. Each problem is
one paragraph naming the API, the spec field and what would be valid."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from turnout.apis.health import observe_alarm
from turnout.apis.records import weighted_records
from turnout.apis.zones import hosted_zone_id
from turnout.aws.errors import error_code, error_message
from turnout.hooks import HookFailed
from turnout.spec.names import api_set_identifier
from turnout.spec.phases import ENVIRONMENTS


class ApiUnready(HookFailed):
    """An API cannot be switched as declared; nothing was changed."""


def check_api(context: Any, index: int) -> dict:
    api = context.spec.apis[index]
    route53 = context.client(api.environment, "route53")
    try:
        zone_id = hosted_zone_id(route53, api, index)
        zone = _zone_name(route53, api, index, zone_id)
        records = weighted_records(route53, api, index, zone_id)
        check_id = _records_as_declared(api, index, records)
        route53.get_health_check(HealthCheckId=check_id)
        alarm = alarm_gate(context, api, index)
    except (ClientError, BotoCoreError) as problem:
        code = error_code(problem) if isinstance(problem, ClientError) else ""
        if code == "NoSuchHealthCheck":
            raise ApiUnready(
                f"API '{api.name}' (apis[{index}].health_check): the new record's health check "
                f"{check_id} does not exist in the {api.environment} environment's account; "
                "apply that environment's Terraform again (modules/api-switch creates it)."
            ) from None
        detail = error_message(problem) if isinstance(problem, ClientError) else str(problem)
        raise ApiUnready(
            f"API '{api.name}' (apis[{index}]): checking its hosted zone {api.zone_label} in the "
            f"{api.environment} environment failed with {code or type(problem).__name__}: "
            f"{detail}; the credentials need route53:GetHostedZone, ListHostedZonesByName, "
            "ListResourceRecordSets, GetHealthCheck and GetHealthCheckStatus, and with "
            "health_check.alarm cloudwatch:DescribeAlarms (docs/apis.md)."
        ) from None
    return {
        "api": api.name,
        "zone": zone,
        "zone_id": zone_id,
        "record": api.record,
        "weights": {env: records[env]["weight"] for env in ENVIRONMENTS},
        "health_check_id": check_id,
        **alarm,
    }


def alarm_gate(context: Any, api: Any, index: int) -> dict:
    """The gate's CloudWatch alarm exists and what state it is in ({} without one)."""
    alarm = api.health_check.alarm
    if alarm is None:
        return {}
    cloudwatch = context.client(alarm.environment, "cloudwatch")
    try:
        seen = observe_alarm(cloudwatch, alarm.name)
    except LookupError:
        raise ApiUnready(
            f"API '{api.name}' (apis[{index}].health_check.alarm.name): no CloudWatch metric "
            f"alarm named '{alarm.name}' in the {alarm.environment} environment's account and "
            "region; name an existing alarm (aws cloudwatch describe-alarms), e.g. one on the "
            "new endpoint's 5xx count, or set health_check.alarm.environment to the environment "
            "that holds it. Nothing was changed."
        ) from None
    return {"alarm": alarm.name, "alarm_state": seen.state}


def _zone_name(route53: Any, api: Any, index: int, zone_id: str) -> str:
    try:
        zone = route53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"].rstrip(".").lower()
    except ClientError as problem:
        if error_code(problem) not in ("NoSuchHostedZone", "InvalidInput"):
            raise
        raise ApiUnready(
            f"API '{api.name}' (apis[{index}].zone_id): hosted zone {api.zone_id} does not exist "
            f"in the {api.environment} environment's account; name a hosted zone of that account "
            f"(aws route53 list-hosted-zones), or set apis[{index}].environment to the "
            "environment whose account holds it. Nothing was changed."
        ) from None
    if api.record != zone and not api.record.endswith("." + zone):
        raise ApiUnready(
            f"API '{api.name}' (apis[{index}].record): '{api.record}' is not inside hosted zone "
            f"{zone_id} ('{zone}'); use a name ending in '.{zone}' or the zone that holds "
            "the name. Nothing was changed."
        )
    return zone


def _records_as_declared(api: Any, index: int, records: dict[str, dict]) -> str:
    """The new record's health check id, once both records are found as the spec says."""
    missing = [env for env in ENVIRONMENTS if env not in records]
    if missing:
        wanted = ", ".join(api_set_identifier(env) for env in missing)
        raise ApiUnready(
            f"API '{api.name}' (apis[{index}].record): hosted zone {api.zone_label} has no "
            f"weighted CNAME record '{api.record}' with set identifier {wanted}. turnout "
            "switches only records its Terraform declared (modules/api-switch): run `turnout "
            "render` and apply "
            f"the {api.environment} environment, or correct apis[{index}].record. Nothing was "
            "changed."
        )
    for env in ENVIRONMENTS:
        declared = getattr(api.endpoints, env)
        if records[env]["target"] != declared:
            raise ApiUnready(
                f"API '{api.name}' (apis[{index}].endpoints.{env}): the {env} record points at "
                f"'{records[env]['target']}', the spec at '{declared}'; apply the "
                f"{api.environment} environment's Terraform (the records follow the spec) or "
                "correct the spec. Nothing was changed."
            )
    check_id = records["new"]["health_check_id"]
    if not check_id:
        raise ApiUnready(
            f"API '{api.name}' (apis[{index}].health_check): the new record has no health check; "
            f"apply the {api.environment} environment's Terraform (modules/api-switch attaches "
            "it). Nothing was changed."
        )
    return check_id
