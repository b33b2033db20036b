"""What `turnout discover` writes: a spec skeleton, the adoption file and a report.

The skeleton is a valid spec (it is validated before anything is written); what discovery cannot
know (the new environment, the route parameter, the external id) is a marked placeholder. The
adoption file makes `render` emit the import ids of the discovered streams for their environment
only (see `discover_adoption`).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import ValidationError

from turnout.discover.classify import Discovery, StreamFacts
from turnout.discover.reader import DiscoveryError
from turnout.spec.adoption import ADOPTION_FILE, ADOPTION_FORMAT
from turnout.spec.model import KmsKeyArn, MigrationSpec

SPEC_FILE = "migration.yaml"
REPORT_FILE = "discovery.json"
PLACEHOLDER_ACCOUNT = "000000000000"
STREAM_ADDRESS = 'module.stream["{logical}"].aws_kinesis_stream.this'


@dataclass(frozen=True)
class DiscoveryFiles:
    spec: Path
    adoption: Path
    report: Path

    @classmethod
    def in_directory(cls, directory: Path) -> DiscoveryFiles:
        return cls(directory / SPEC_FILE, directory / ADOPTION_FILE, directory / REPORT_FILE)

    def all(self) -> list[Path]:
        return [self.spec, self.adoption, self.report]


def logical_names(streams: list[StreamFacts]) -> dict[str, str]:
    """Stream name -> a spec logical name ([a-z][a-z0-9_-]{0,62}), unique."""
    names: dict[str, str] = {}
    for stream in streams:
        base = re.sub(r"[^a-z0-9_-]+", "-", stream.name.lower()).strip("-_") or "stream"
        if not base[0].isalpha():
            base = f"s-{base}"
        base = base[:63]
        candidate, number = base, 2
        while candidate in names.values():
            suffix = f"-{number}"
            candidate, number = base[: 63 - len(suffix)] + suffix, number + 1
        names[stream.name] = candidate
    return names


def encryption_of(stream: StreamFacts) -> str:
    """The spec's `encryption` closest to the stream's (see drift warnings for the rest)."""
    if stream.encryption == "KMS" and stream.key_id and KmsKeyArn.match(stream.key_id):
        return stream.key_id
    return "aws_managed"


def skeleton_document(discovery: Discovery, environment: str, migration: str) -> dict:
    logical = logical_names(discovery.streams)
    peer = "new" if environment == "old" else "old"
    placeholder_account = (
        "999999999999" if discovery.account_id == PLACEHOLDER_ACCOUNT else (PLACEHOLDER_ACCOUNT)
    )
    streams = []
    for stream in discovery.streams:
        entry: dict = {"name": logical[stream.name]}
        if logical[stream.name] != stream.name:
            entry[f"{environment}_name"] = stream.name
        entry["capacity"] = (
            {"mode": "on_demand"}
            if stream.mode == "ON_DEMAND"
            else {"mode": "provisioned", "shards": stream.open_shards}
        )
        entry["retention_hours"] = stream.retention_hours
        entry["encryption"] = encryption_of(stream)
        streams.append(entry)
    consumers: list[dict] = []
    by_function: dict[str, list[str]] = defaultdict(list)
    for mapping in discovery.mappings:
        if logical[mapping.stream] not in by_function[mapping.function_name]:
            by_function[mapping.function_name].append(logical[mapping.stream])
    for function, names in sorted(by_function.items()):
        consumers.append({"kind": "lambda", "function_name": function, "streams": names})
    for table in discovery.lease_tables:
        consumers.append(
            {
                "kind": "kcl",
                "application": table.table,
                "lease_table": table.table,
                "streams": [logical[table.stream]],
            }
        )
    return {
        "version": 1,
        "migration": migration,
        "phase": "baseline",
        "environments": {
            environment: {
                "account_id": discovery.account_id,
                "region": discovery.region,
                "name_prefix": "",
            },
            peer: {
                "account_id": placeholder_account,
                "region": discovery.region,
                "name_prefix": "",
            },
        },
        "streams": streams,
        "consumers": {environment: consumers, peer: []},
        "route": {"environment": environment, "parameters": [f"/{migration}/kinesis-target"]},
        "control_plane": {"environment": environment},
        "replication": {"external_id": f"turnout-{migration}-change-me"},
    }


def skeleton_text(discovery: Discovery, environment: str, migration: str) -> str:
    document = skeleton_document(discovery, environment, migration)
    peer = "new" if environment == "old" else "old"
    try:
        MigrationSpec.model_validate(document)
    except ValidationError as problem:
        raise DiscoveryError(
            f"the discovered account cannot be written as a valid spec ({problem.errors()[0]}); "
            f"nothing was written. Please report this with `turnout discover --json` output."
        ) from None
    body = yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=100)
    placeholders = {
        f"account_id: '{document['environments'][peer]['account_id']}'": f"the {peer} account",
        f"- /{migration}/kinesis-target": "the SSM parameter(s) producers read",
        f"external_id: turnout-{migration}-change-me": "a secret-ish id of the writer roles",
    }
    lines = []
    for line in body.splitlines():
        for needle, meaning in placeholders.items():
            if line.strip() == needle:
                line = f"{line}  # PLACEHOLDER: {meaning}"
        lines.append(line)
    header = (
        f"# Written by `turnout discover --env {environment}` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC from account {discovery.account_id}, region "
        f"{discovery.region}.\n"
        f"# The {environment} environment's streams and consumers are what was found there; the "
        f"lines marked PLACEHOLDER\n"
        f"# (the {peer} environment, the route parameter, the external id) could not be "
        f"discovered: fill them in.\n"
        f"# Keep adopted.json beside this file: it makes `turnout render` import the streams "
        f"instead of creating them.\n"
        f"# Reference: docs/spec.md and docs/discover.md.\n"
    )
    return header + "\n".join(lines) + "\n"


def adoption_document(discovery: Discovery, environment: str) -> dict:
    logical = logical_names(discovery.streams)
    return {
        "format": ADOPTION_FORMAT,
        "environment": environment,
        "account_id": discovery.account_id,
        "region": discovery.region,
        "discovered_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "streams": {
            logical[stream.name]: {
                "name": stream.name,
                "arn": stream.arn,
                "tags": dict(sorted(stream.tags.items())),
                "shard_level_metrics": list(stream.shard_level_metrics),
            }
            for stream in discovery.streams
        },
    }


def import_blocks(discovery: Discovery) -> list[dict]:
    """The imports the rendered tfvars will ask for, as Terraform addresses and ids."""
    logical = logical_names(discovery.streams)
    return [
        {"to": STREAM_ADDRESS.format(logical=logical[stream.name]), "id": stream.name}
        for stream in discovery.streams
    ]


def write_discovery(
    discovery: Discovery, environment: str, migration: str, directory: Path, force: bool
) -> DiscoveryFiles:
    """Write all three files, or none: existing files are kept unless `force`."""
    files = DiscoveryFiles.in_directory(directory)
    existing = [path for path in files.all() if path.exists()]
    if existing and not force:
        raise DiscoveryError(
            f"{', '.join(str(path) for path in existing)} already exist(s); pass --force to "
            f"overwrite, or --out another directory. Nothing was written."
        )
    contents = {
        files.spec: skeleton_text(discovery, environment, migration),
        files.adoption: json.dumps(adoption_document(discovery, environment), indent=2) + "\n",
        files.report: json.dumps(report_document(discovery), indent=2, sort_keys=True) + "\n",
    }
    directory.mkdir(parents=True, exist_ok=True)
    for path, content in contents.items():
        partial = path.with_name(path.name + ".partial")
        partial.write_text(content, encoding="utf-8")
        partial.replace(path)
    return files


def report_document(discovery: Discovery) -> dict:
    logical = logical_names(discovery.streams)
    return {
        **discovery.as_dict(),
        "logical_names": logical,
        "imports": import_blocks(discovery),
    }


def discovery_text(discovery: Discovery, files: DiscoveryFiles) -> str:
    logical = logical_names(discovery.streams)
    lines = [
        f"Discovered in account {discovery.account_id}, {discovery.region} "
        f"(streams matching {discovery.pattern!r}):",
        f"streams ({len(discovery.streams)}):",
    ]
    for stream in discovery.streams:
        capacity = "on-demand" if stream.mode == "ON_DEMAND" else f"{stream.open_shards} shards"
        encryption = f"KMS {stream.key_id}" if stream.encryption == "KMS" else "not encrypted"
        tags = ", ".join(f"{key}={value}" for key, value in sorted(stream.tags.items())) or "none"
        lines.append(
            f"  {stream.name} -> spec stream '{logical[stream.name]}': {capacity}, "
            f"{stream.retention_hours} h, {encryption}, tags {tags}"
        )
    lines.append(f"event source mappings ({len(discovery.mappings)}):")
    for mapping in discovery.mappings:
        via = f" via consumer {mapping.consumer}" if mapping.consumer else ""
        lines.append(
            f"  {mapping.function_name} <- {mapping.stream}{via}: {mapping.state}, batch "
            f"{mapping.batch_size}, window {mapping.batching_window_seconds} s, "
            f"parallelization {mapping.parallelization_factor}, from {mapping.starting_position}"
        )
    lines.append(
        f"KCL lease tables ({len(discovery.lease_tables)} of {discovery.tables_examined} "
        f"DynamoDB tables):"
    )
    for table in discovery.lease_tables:
        lines.append(f"  {table.table} -> {table.stream} ({table.leases} leases, {table.layout})")
    consumers = [
        (stream, consumer) for stream in discovery.streams for consumer in stream.consumers
    ]
    lines.append(f"enhanced fan-out consumers ({len(consumers)}):")
    for stream, consumer in consumers:
        lines.append(
            f"  {consumer['name']} on {stream.name}: {consumer['used_by'] or 'unclassified'}"
        )
    lines.append(f"not classified ({len(discovery.unclassified)}):")
    for item in discovery.unclassified:
        lines.append(f"  {item['kind']} {item['name']}: {item['reason']}")
    for warning in discovery.warnings:
        lines.append(f"warning: {warning}")
    if discovery.throttled_calls:
        lines.append(f"note: AWS throttled {discovery.throttled_calls} call(s); all were retried.")
    lines.append(f"wrote {files.spec}, {files.adoption} and {files.report}.")
    lines.append(
        "next: fill in the PLACEHOLDER lines, copy migration.yaml and adopted.json into "
        "terraform/, run `turnout render` and `turnout plan --env old`: the streams are imported "
        "(to " + ", ".join(block["to"] for block in import_blocks(discovery)) + ")."
    )
    return "\n".join(lines)
