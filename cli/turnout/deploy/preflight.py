"""What is checked before Terraform runs for an environment, and the Terraform it runs.

In this order, each refusal one paragraph with nothing changed: who the credentials are
(GetCallerIdentity must name the environment's account), where the state is (the backend; no
unmigrated local state left behind; the bucket exists, in its region, and lets us in), and, for
a plan, whether the account can spare the replicator's reserved concurrency.
"""

from __future__ import annotations

from pathlib import Path

from turnout.aws.access import AwsAccess
from turnout.aws.endpoint import EndpointAccounts
from turnout.deploy.backend import backend_for
from turnout.deploy.concurrency import check_unreserved_concurrency, reserved_in
from turnout.deploy.state_bucket import check_state_bucket
from turnout.deploy.terraform import TerraformSettings, terraform_settings
from turnout.errors import TerraformError
from turnout.project import Project
from turnout.spec.model import MigrationSpec


def aws_for(spec: MigrationSpec, endpoint_url: str | None, read_only: bool = False) -> AwsAccess:
    """AWS access for a plan or apply: AWS itself, or the emulator at `endpoint_url`."""
    if endpoint_url:
        accounts = EndpointAccounts(endpoint_url)
        return AwsAccess(spec, endpoint_url, emulator=accounts, assume_roles=not read_only)
    return AwsAccess(spec, assume_roles=not read_only)


def prepare_terraform(
    project: Project,
    spec: MigrationSpec,
    environment: str,
    aws: AwsAccess,
    stream_output: bool = False,
    read_only: bool = False,
    var_file: Path | None = None,
) -> TerraformSettings:
    """Check credentials, state and (given the plan's `var_file`) concurrency; return the
    environment's Terraform settings."""
    aws.session(environment)  # GetCallerIdentity: refused here if it is the wrong account
    backend = backend_for(spec, environment, project.work_dir, aws.endpoint_url, read_only)
    if backend.kind == "s3":
        refuse_unmigrated_local_state(project, environment)
        check_state_bucket(spec, environment, aws)
    if var_file is not None:
        check_unreserved_concurrency(
            spec, environment, aws.client(environment, "lambda"), reserved_in(var_file)
        )
    place = getattr(spec.environments, environment)
    return terraform_settings(
        project,
        aws.endpoint_url,
        stream_output,
        backend=backend,
        profile=None if read_only else place.profile,
        read_only=read_only,
    )


def refuse_unmigrated_local_state(project: Project, environment: str) -> None:
    """A local state file left in the work directory means a remote plan would start from
    nothing and create every resource again beside the existing ones."""
    local = project.work_dir / "state" / f"{environment}.tfstate"
    if local.is_file():
        raise TerraformError(
            f"{local} holds the {environment} environment's local Terraform state, but the spec "
            f"keeps state in S3 now. Move it there first with `turnout state migrate --env "
            f"{environment}` (a plan against the empty remote state would create everything "
            f"again). Nothing was changed."
        )
