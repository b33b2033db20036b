"""An API's hosted zone id: the spec's `zone_id`, or the public hosted zone named by `zone`.

A name is looked up with ListHostedZonesByName, which lists the account's hosted zones in DNS
order from `DNSName` on, so the zones of one name come together
(https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListHostedZonesByName.html).
Like Terraform's `data "aws_route53_zone"` with `name` (modules/api-switch), only public zones
count, and the name must be held by exactly one of them: a private zone, or a name held by more
than one zone, needs `zone_id`.
"""

from __future__ import annotations

from typing import Any

from turnout.hooks import HookFailed


class ZoneNotFound(HookFailed):
    """The spec's `zone` names no single public hosted zone of the account; nothing changed."""


def hosted_zone_id(route53: Any, api: Any, index: int | None = None) -> str:
    """The id (without /hostedzone/) of the API's hosted zone."""
    if api.zone_id:
        return api.zone_id
    found = public_zones_named(route53, api.zone)
    if len(found) == 1:
        return found[0]
    field = f"apis[{'' if index is None else index}].zone"
    if not found:
        problem = f"no public hosted zone is named '{api.zone}'"
    else:
        problem = f"{len(found)} public hosted zones are named '{api.zone}' ({', '.join(found)})"
    raise ZoneNotFound(
        f"API '{api.name}' ({field}): {problem} in the {api.environment} environment's account "
        "(ListHostedZonesByName); create the zone, set the environment whose account holds it, "
        f"or name the zone by its id with zone_id instead (a private zone or a name held by "
        "several zones needs the id: aws route53 list-hosted-zones). Nothing was changed."
    )


def public_zones_named(route53: Any, name: str) -> list[str]:
    """Ids of the account's public hosted zones named `name` (a trailing '.' either way)."""
    wanted = name.rstrip(".").lower()
    ids: list[str] = []
    request: dict = {"DNSName": wanted}
    while True:
        page = route53.list_hosted_zones_by_name(**request)
        for zone in page.get("HostedZones", []):
            if zone["Name"].rstrip(".").lower() != wanted:
                return ids
            if not zone.get("Config", {}).get("PrivateZone", False):
                ids.append(zone["Id"].split("/")[-1])
        if not page.get("IsTruncated"):
            return ids
        request = {"DNSName": page["NextDNSName"], "HostedZoneId": page["NextHostedZoneId"]}
