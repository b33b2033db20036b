"""The spec's `apis:` section: the APIs whose DNS moves from the old environment to the new.

An API is one Route 53 name in a hosted zone with two weighted records (set identifiers `old` and
`new`, each pointing at its environment's endpoint) that Terraform declares. At a declared point
of the cutover the new record's weight rises to 100 in steps, each gated by a Route 53 health
check of the new endpoint; a rollback puts all the weight back on the old endpoint.
Reference: docs/apis.md.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from turnout.spec.repeats import repeats

# Route 53 hosted zone ids: upper-case letters and digits (https://docs.aws.amazon.com/Route53/latest/APIReference/API_HostedZone.html).
ZONE_ID = r"^(/hostedzone/)?[A-Z0-9]{1,32}$"
# A DNS name: labels of letters, digits and '-', at most 63 characters each, 255 in all
# (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/DomainNameFormat.html).
LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")

ApiTransition = Literal[
    "baseline->switched", "switched->mirrored", "mirrored->new-live", "new-live->committed"
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_dns_name(value: str) -> str:
    name = value.rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(LABEL.match(label) for label in labels):
        raise ValueError(
            f"'{value}' is not a DNS name: two or more labels of letters, digits and '-' "
            "(1-63 characters each, 253 in all), separated by '.'"
        )
    return name.lower()


class SwitchPoint(_Strict):
    """Where the weight moves: `pre` = after the transition's checks, before its first apply;
    `post` = after its last step. Default: at commit, while a rollback is still possible."""

    transition: ApiTransition = "new-live->committed"
    when: Literal["pre", "post"] = "pre"


class Endpoints(_Strict):
    """Each environment's endpoint: the DNS name the API's record points at (a CNAME)."""

    old: str
    new: str

    @field_validator("old", "new")
    @classmethod
    def _dns_name(cls, value: str) -> str:
        return _check_dns_name(value)


class AlarmGate(_Strict):
    """A CloudWatch metric alarm of the operator's (e.g. on the new endpoint's 5xx) that gates
    each weight step instead of the Route 53 health check: it must be OK for `healthy_seconds`."""

    # AlarmName: 1-255 characters, no control characters
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html).
    name: Annotated[str, Field(pattern=r"^[^\x00-\x1f]{1,255}$")]
    environment: Literal["old", "new"] = Field(
        default="new", description="the account whose CloudWatch holds the alarm"
    )


class HealthCheck(_Strict):
    """The Route 53 health check Terraform creates for the new endpoint, and how long it must
    stay healthy after each weight step. With `alarm`, the gate reads that CloudWatch alarm
    instead (the health check still guards Route 53's answers)."""

    # Route 53 health checks probe HTTP, HTTPS or TCP
    # (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/dns-failover-determining-health-of-endpoints.html).
    protocol: Literal["HTTP", "HTTPS"] = "HTTPS"
    port: Annotated[int, Field(ge=1, le=65535)] = 443
    path: Annotated[str, Field(pattern=r"^/[^\s]{0,254}$")] = "/"
    ip_address: str | None = Field(
        default=None,
        description="probe this IPv4 address instead of resolving the endpoint (the sandbox's)",
    )
    # Route 53 checks every 10 or 30 seconds (request_interval); 1-10 failures flip the status.
    request_interval: Literal[10, 30] = 30
    failure_threshold: Annotated[int, Field(ge=1, le=10)] = 3
    healthy_seconds: Annotated[int, Field(ge=0, le=86400)] = 120
    timeout_seconds: Annotated[int, Field(ge=10, le=86400)] = 900
    poll_seconds: Annotated[float, Field(gt=0, le=300)] = 10
    alarm: AlarmGate | None = None

    @field_validator("ip_address")
    @classmethod
    def _ipv4(cls, value: str | None) -> str | None:
        parts = (value or "").split(".")
        if value is not None and (
            len(parts) != 4 or not all(p.isascii() and p.isdigit() and int(p) < 256 for p in parts)
        ):
            raise ValueError(f"'{value}' is not an IPv4 address (four numbers 0-255)")
        return value


class Api(_Strict):
    """One API name moved by weighted records from the old endpoint to the new one."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,40}$")]
    environment: Literal["old", "new"] = Field(
        default="old", description="the account that holds the hosted zone"
    )
    zone_id: str | None = Field(
        default=None, description="the Route 53 hosted zone that holds the record, by id"
    )
    zone: str | None = Field(
        default=None,
        description="the same zone by its DNS name (a public hosted zone), instead of zone_id",
    )
    record: str = Field(description="the API's DNS name, inside the zone")
    ttl: Annotated[int, Field(ge=0, le=86400)] = 60
    endpoints: Endpoints
    at: SwitchPoint = Field(default_factory=SwitchPoint)
    # The new endpoint's weight (percent) after each step; Route 53 weights are 0-255
    # (https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/routing-policy-weighted.html).
    weights: Annotated[list[Annotated[int, Field(ge=1, le=100)]], Field(min_length=1)] = [100]
    health_check: HealthCheck = Field(default_factory=HealthCheck)

    @field_validator("record", "zone")
    @classmethod
    def _record_name(cls, value: str | None) -> str | None:
        return None if value is None else _check_dns_name(value)

    @field_validator("zone_id")
    @classmethod
    def _bare_zone_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(ZONE_ID, value):
            raise ValueError(
                f"'{value}' is not a Route 53 hosted zone id: upper-case letters and digits, "
                "such as Z0123456789ABCDEFGHIJ (aws route53 list-hosted-zones)"
            )
        return value.removeprefix("/hostedzone/")

    @field_validator("weights")
    @classmethod
    def _rising_to_all(cls, value: list[int]) -> list[int]:
        if value != sorted(set(value)) or value[-1] != 100:
            raise ValueError(
                f"{value} must rise strictly and end at 100 (the new endpoint's percent of the "
                "answers after each step), e.g. [10, 50, 100]"
            )
        return value

    @property
    def zone_label(self) -> str:
        """The hosted zone as the spec names it: its id, or its DNS name."""
        return self.zone_id or f"'{self.zone}'"

    @model_validator(mode="after")
    def _one_zone(self) -> Api:
        if (self.zone_id is None) == (self.zone is None):
            raise ValueError(
                "give exactly one of zone_id (the hosted zone's id, e.g. Z0123456789ABCDEFGHIJ) "
                "and zone (its DNS name, e.g. example.com, found by ListHostedZonesByName "
                "among the account's public hosted zones); "
                f"{'both are' if self.zone else 'neither is'} set"
            )
        if self.zone is not None and not (
            self.record == self.zone or self.record.endswith("." + self.zone)
        ):
            raise ValueError(
                f"record '{self.record}' is not inside zone '{self.zone}': use a name ending in "
                f"'.{self.zone}' or the zone that holds the name"
            )
        return self

    @model_validator(mode="after")
    def _two_endpoints(self) -> Api:
        if self.endpoints.old == self.endpoints.new:
            raise ValueError("endpoints.old and endpoints.new are the same name: nothing to move")
        if self.record in (self.endpoints.old, self.endpoints.new):
            raise ValueError("the record cannot point at itself (a CNAME loop)")
        return self


def api_problems(apis: list[Api]) -> list[tuple[tuple, str]]:
    """Whole-list checks: (field location, message) for each problem."""
    problems: list[tuple[tuple, str]] = [
        (
            ("apis", index, "name"),
            f"'{apis[index].name}' is already the name of apis[{first}]; API names must be unique",
        )
        for index, first in repeats(apis, lambda api: api.name)
    ]
    problems += [
        (
            ("apis", index, "record"),
            f"'{apis[index].record}' in zone {apis[index].zone_label} is already apis[{first}]; "
            "two APIs would fight over one record",
        )
        for index, first in repeats(apis, lambda api: (api.zone_id or api.zone, api.record))
    ]
    return problems
