"""`turnout state unlock`: remove a lock left by a Terraform run that died.

Terraform removes the lock file only when the lock id given is the one in it (`terraform
force-unlock`), so a lock taken since by another run is never removed by mistake.
"""

from __future__ import annotations

from turnout.aws.access import AwsAccess
from turnout.deploy.preflight import prepare_terraform
from turnout.deploy.state_bucket import lock_held
from turnout.deploy.terraform import TerraformRunner
from turnout.errors import TerraformError
from turnout.project import Project
from turnout.spec.model import MigrationSpec


def unlock_state(
    project: Project, spec: MigrationSpec, environment: str, aws: AwsAccess, lock_id: str
) -> dict:
    """Remove the environment's state lock `lock_id`; returns the lock info removed."""
    settings = prepare_terraform(project, spec, environment, aws)
    holder = lock_held(spec, environment, aws) if settings.backend.kind == "s3" else None
    if settings.backend.kind == "s3" and holder is None:
        raise TerraformError(
            f"the {environment} environment's state ({settings.backend.location}) is not "
            f"locked; nothing to remove."
        )
    if holder is not None and holder.get("ID") != lock_id:
        raise TerraformError(
            f"the {environment} environment's state is locked with id {holder.get('ID')} (by "
            f"{holder.get('Who')} since {holder.get('Created')}), not {lock_id}: another run "
            f"holds it now. Nothing was removed."
        )
    runner = TerraformRunner(settings, environment)
    runner.init()
    runner.force_unlock(lock_id)
    return holder or {"ID": lock_id}
