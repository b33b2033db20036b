"""`turnout state migrate`: move an environment's local state (`<work>/state/<env>.tfstate`,
where turnout kept it before remote state) into its S3 object.

Refused, with nothing changed, when the remote object already holds a different state (another
lineage or other resources: someone applied there). Otherwise Terraform itself copies it, as it
does when a configuration's backend changes: the data dir is initialised with the local file as
its backend, then again with the S3 backend and `-migrate-state -force-copy` (resources and
outputs copied as they are, under the S3 lock; Terraform starts a new lineage at serial 1). turnout reads the object back to compare, and only then renames the
local file to `<env>.tfstate.migrated-<UTC time>`: it stays as the backup until you delete it, and
no plan can mistake it for the live state again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from turnout.aws.access import AwsAccess
from turnout.deploy.backend import Backend, backend_for
from turnout.deploy.state_bucket import StateBucketError, check_state_bucket, state_exists
from turnout.deploy.terraform import TerraformRunner, terraform_settings
from turnout.project import Project
from turnout.spec.model import MigrationSpec

Progress = Callable[[str], None]


@dataclass(frozen=True)
class MigrationOutcome:
    environment: str
    result: str  # "migrated" | "already-migrated" | "empty" | "nothing-to-migrate"
    remote: str
    backup: str | None = None

    def as_dict(self) -> dict:
        return {
            "environment": self.environment,
            "result": self.result,
            "remote": self.remote,
            "backup": self.backup,
        }


def migrate_state(
    project: Project,
    spec: MigrationSpec,
    environment: str,
    aws: AwsAccess,
    progress: Progress = print,
) -> MigrationOutcome:
    local = project.work_dir / "state" / f"{environment}.tfstate"
    backend = backend_for(spec, environment, project.work_dir, aws.endpoint_url)
    if backend.kind != "s3":
        raise StateBucketError(
            "the spec keeps Terraform's state locally (state.backend: local); set `state:` to "
            "an S3 bucket first, then migrate (docs/state.md). Nothing was changed."
        )
    if not local.is_file():
        return MigrationOutcome(environment, "nothing-to-migrate", backend.location)
    mine = _read_state(local)
    aws.session(environment)  # GetCallerIdentity before anything else
    check_state_bucket(spec, environment, aws)
    remote = state_exists(spec, environment, aws)
    if remote is not None and not _same(remote, mine):
        raise StateBucketError(
            f"{backend.location} already holds a different {environment} state (serial "
            f"{remote.get('serial')}, {len(remote.get('resources') or [])} resources; the local "
            f"file {local} has {len(mine.get('resources') or [])}, or other values): someone "
            f"applied there already. Nothing was changed. Compare the two "
            f"(terraform state pull) and keep the right one by hand; turnout never overwrites a "
            f"remote state."
        )
    if remote is not None:
        result = "already-migrated"
    elif not mine.get("resources"):
        result = "empty"  # Terraform copies no empty state: the file just steps aside
    else:
        progress(f"[{environment}] copying {local} to {backend.location} ...")
        _copy_with_terraform(project, spec, environment, aws, local, backend)
        result = "migrated"
    backup = local.with_name(f"{local.name}.migrated-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    local.rename(backup)
    progress(f"[{environment}] {result}: {backend.location}; the local file is now {backup}")
    return MigrationOutcome(environment, result, backend.location, str(backup))


def _copy_with_terraform(
    project: Project,
    spec: MigrationSpec,
    environment: str,
    aws: AwsAccess,
    local: Path,
    backend: Backend,
) -> None:
    profile = getattr(spec.environments, environment).profile
    source = Backend("local", environment, {"path": str(local)})
    for target, migrate in ((source, False), (backend, True)):
        settings = terraform_settings(project, aws.endpoint_url, backend=target, profile=profile)
        TerraformRunner(settings, environment).init(migrate_state=migrate)
    copied = state_exists(spec, environment, aws)
    if copied is None or not _same(copied, _read_state(local)):
        raise StateBucketError(
            f"after Terraform's state migration, {backend.location} does not hold the state of "
            f"{local}; the local file is untouched. Check the bucket and run `turnout state "
            f"migrate` again."
        )


def _read_state(path: Path) -> dict:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as problem:
        raise StateBucketError(
            f"{path} is not a readable Terraform state ({problem}); nothing was changed."
        ) from None
    if not isinstance(document, dict) or "lineage" not in document:
        raise StateBucketError(
            f"{path} is not a Terraform state (no lineage); nothing was changed."
        )
    return document


def _same(one: dict, other: dict) -> bool:
    """The same state: its resources and outputs. (Terraform gives a state it migrates to a
    new backend a new lineage and serial 1, so those cannot tell.)"""
    return all(one.get(key) == other.get(key) for key in ("resources", "outputs"))
