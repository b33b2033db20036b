"""The sample pipeline's API: what the spec's `apis:` switch, made the way the user's own
infrastructure would have it.

Per environment, one small HTTP API on loopback (`turnout.sandbox.api_server`), started before
Terraform renders the tfvars: the new one's port goes into every API's health check (the spec's
`health_check.port` is replaced in the sandbox, `ip_address` is its loopback address), so the
emulator's health check probes it. For every API that names its hosted zone by DNS name
(`zone:`), the zone in the zone's environment's account, as the user's existing DNS.
Idempotent: a running API and an existing zone are kept.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from turnout.apis.records import new_share, weighted_records
from turnout.apis.zones import public_zones_named
from turnout.sandbox.api_server import SandboxApi
from turnout.spec.model import MigrationSpec
from turnout.spec.phases import ENVIRONMENTS

Progress = Callable[[str], None]
LOOPBACK = "127.0.0.1"
# Without `--lifetime` the APIs still end after a day (the house rule: bounded servers).
DEFAULT_LIFETIME_SECONDS = 24 * 3600


def sandbox_apis(directory: Path) -> dict[str, SandboxApi]:
    return {environment: SandboxApi(environment, directory) for environment in ENVIRONMENTS}


def start_apis(
    directory: Path, python: str, lifetime_seconds: float | None, progress: Progress = print
) -> dict[str, int]:
    """Each environment's API, running: a running one is kept, a stopped one starts again on
    the port it had (the applied health check probes that port). Returns the ports."""
    ports = {}
    for environment, api in sandbox_apis(directory).items():
        if api.process.alive() and api.recorded_port():
            ports[environment] = api.recorded_port()
            continue
        lifetime = lifetime_seconds or DEFAULT_LIFETIME_SECONDS
        ports[environment] = api.start(python, lifetime, port=api.recorded_port() or 0)
        progress(
            f"the {environment} environment's API listens on http://{LOOPBACK}:"
            f"{ports[environment]} (pid {api.process.pid()})"
        )
    return ports


def stop_apis(directory: Path) -> dict[str, int | None]:
    return {environment: api.stop() for environment, api in sandbox_apis(directory).items()}


def recorded_ports(directory: Path) -> dict[str, int]:
    found = {env: api.recorded_port() for env, api in sandbox_apis(directory).items()}
    return {env: port for env, port in found.items() if port is not None}


def with_sandbox_ports(spec: MigrationSpec, ports: dict[str, int]) -> MigrationSpec:
    """The spec with every API's health check probing the sandbox's new API on loopback."""
    if not spec.apis or "new" not in ports:
        return spec
    apis = [
        api.model_copy(
            update={
                "health_check": api.health_check.model_copy(
                    update={"port": ports["new"], "ip_address": LOOPBACK}
                )
            }
        )
        for api in spec.apis
    ]
    return spec.model_copy(update={"apis": apis})


def create_api_zones(spec: MigrationSpec, aws: Any, progress: Progress = print) -> list[str]:
    """The hosted zone of every API named by `zone:` (an id cannot be chosen: `zone_id` APIs
    must name a zone the emulator made). Returns the zone ids."""
    made = []
    for api in spec.apis:
        if api.zone is None:
            continue
        route53 = aws.client(api.environment, "route53")
        found = public_zones_named(route53, api.zone)
        if not found:
            created = route53.create_hosted_zone(
                Name=api.zone,
                CallerReference=f"turnout-sandbox-{uuid.uuid4().hex}",
                HostedZoneConfig={"Comment": "the sandbox's existing DNS", "PrivateZone": False},
            )
            found = [created["HostedZone"]["Id"].split("/")[-1]]
            progress(f"hosted zone {api.zone} ({found[0]}) in the {api.environment} account")
        made.append(found[0])
    return made


def resolve_apis(spec: MigrationSpec, aws: Any, directory: Path) -> list[dict]:
    """Per API, what its record answers now: the weights Route 53 holds (ListResourceRecordSets;
    the emulator resolves no DNS), the endpoint a weighted answer chooses (the heaviest record,
    old on a tie) and which environment's API answered a call to it (the sandbox maps each
    endpoint name to its environment's loopback port)."""
    ports = recorded_ports(directory)
    answers = []
    for index, api in enumerate(spec.apis):
        records = weighted_records(aws.client(api.environment, "route53"), api, index)
        weights = {env: records.get(env, {}).get("weight") for env in ENVIRONMENTS}
        chosen = max(ENVIRONMENTS, key=lambda env: (weights[env] or 0, env == "old"))
        answer = {
            "api": api.name,
            "record": api.record,
            "weights": weights,
            "new_share": new_share(records),
            "chosen": chosen,
            "endpoint": records.get(chosen, {}).get("target"),
        }
        answers.append({**answer, **call_endpoint(ports.get(chosen))})
    return answers


def call_endpoint(port: int | None) -> dict:
    """GET / of a sample API: {"answered_by": its environment} or {"error": why not}."""
    if port is None:
        return {"answered_by": None, "error": "no sample API recorded for it"}
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}/", timeout=5) as answer:
            return {"answered_by": json.loads(answer.read())["environment"]}
    except (OSError, ValueError, KeyError) as problem:
        return {"answered_by": None, "error": f"{type(problem).__name__}: {problem}"}


def answer_text(answer: dict) -> str:
    weights = answer["weights"]
    called = answer["answered_by"] or f"no answer ({answer.get('error')})"
    return (
        f"API {answer['api']}: {answer['record']} weighs old {weights['old']} / new "
        f"{weights['new']} -> {answer['endpoint']} ({answer['chosen']}); a call answered: "
        f"{called}"
    )
