"""An API's weighted records as Route 53 holds them (ListResourceRecordSets)."""

from __future__ import annotations

from typing import Any

from turnout.apis.zones import hosted_zone_id
from turnout.spec.names import api_set_identifier
from turnout.spec.phases import ENVIRONMENTS


def api_of(spec: Any, name: str) -> tuple[int, Any]:
    """(index, API) of the spec's API called `name`."""
    for index, api in enumerate(spec.apis):
        if api.name == name:
            return index, api
    raise KeyError(f"no API {name!r} in the spec")


def weighted_records(
    route53: Any, api: Any, index: int | None = None, zone_id: str | None = None
) -> dict[str, dict]:
    """Per environment whose record exists: its weight, target and health check id. Route 53
    lists the records of one name together, from StartRecordName on, in DNS order
    (https://docs.aws.amazon.com/Route53/latest/APIReference/API_ListResourceRecordSets.html).
    `zone_id`: the zone already resolved (else from the spec's zone_id or zone)."""
    wanted = {api_set_identifier(env): env for env in ENVIRONMENTS}
    found: dict[str, dict] = {}
    paginator = route53.get_paginator("list_resource_record_sets")
    pages = paginator.paginate(
        HostedZoneId=zone_id or hosted_zone_id(route53, api, index),
        StartRecordName=api.record,
        StartRecordType="CNAME",
    )
    for page in pages:
        for record in page["ResourceRecordSets"]:
            if record["Name"].rstrip(".").lower() != api.record:
                return found
            environment = wanted.get(record.get("SetIdentifier", ""))
            if record["Type"] != "CNAME" or environment is None:
                continue
            found[environment] = {
                "weight": record.get("Weight"),
                "target": ",".join(
                    value["Value"].rstrip(".") for value in record.get("ResourceRecords", [])
                ),
                "health_check_id": record.get("HealthCheckId"),
            }
    return found


def new_share(records: dict[str, dict]) -> int | None:
    """The new endpoint's percent of the answers (None when the records are incomplete or both
    weigh 0, when Route 53 answers them equally)."""
    weights = [records.get(env, {}).get("weight") for env in ENVIRONMENTS]
    if None in weights or sum(weights) == 0:
        return None
    return round(100 * weights[1] / sum(weights))
