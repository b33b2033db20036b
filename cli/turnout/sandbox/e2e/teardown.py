"""Leave nothing behind: the sample pipeline (what the run created with boto3) is deleted, both
environments are destroyed by Terraform, and what is left of the run's streams and tables is
listed (it must be nothing). KMS keys enter AWS's deletion window (30 days) as Terraform destroys
them; that is the only thing that outlives the run, at no cost once deleted."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from turnout.deploy.package import LambdaPackage
from turnout.deploy.preflight import prepare_terraform
from turnout.deploy.render import render_environments
from turnout.deploy.terraform import TerraformRunner
from turnout.project import Project
from turnout.sandbox.names import consumer_log_group, consumer_role_name, processed_table_name
from turnout.sandbox.pipeline.create import consumer_mappings, lambda_consumers
from turnout.spec.model import MigrationSpec
from turnout.spec.phases import ENVIRONMENTS

GONE = ("ResourceNotFoundException", "NoSuchEntity", "ResourceNotFound")


def _ignoring_missing(call, *args: Any, **kwargs: Any) -> bool:
    """Run a delete; True if it deleted, False if the thing was already gone."""
    try:
        call(*args, **kwargs)
    except ClientError as problem:
        if problem.response["Error"]["Code"] in GONE:
            return False
        raise
    return True


def delete_pipeline(spec: MigrationSpec, aws: Any, progress) -> dict[str, int]:
    """The consumers' mappings, functions, log groups and role, and the processed tables."""
    deleted = {"mappings": 0, "functions": 0, "log_groups": 0, "roles": 0, "tables": 0}
    for environment in ENVIRONMENTS:
        lam, logs = aws.client(environment, "lambda"), aws.client(environment, "logs")
        for mapping in consumer_mappings(spec, aws, environment):
            deleted["mappings"] += _ignoring_missing(
                lam.delete_event_source_mapping, UUID=mapping["uuid"]
            )
        for consumer in lambda_consumers(spec, environment):
            deleted["functions"] += _ignoring_missing(
                lam.delete_function, FunctionName=consumer.function_name
            )
            deleted["log_groups"] += _ignoring_missing(
                logs.delete_log_group, logGroupName=consumer_log_group(consumer.function_name)
            )
        iam, role = aws.client(environment, "iam"), consumer_role_name(spec, environment)
        _ignoring_missing(iam.delete_role_policy, RoleName=role, PolicyName="sample-consumer")
        deleted["roles"] += _ignoring_missing(iam.delete_role, RoleName=role)
        deleted["tables"] += _ignoring_missing(
            aws.client(environment, "dynamodb").delete_table,
            TableName=processed_table_name(spec, environment),
        )
    progress(f"sample pipeline deleted: {deleted}")
    return deleted


def destroy_environments(
    spec: MigrationSpec,
    project: Project,
    aws: Any,
    package: LambdaPackage,
    vars_dir: Path,
    progress,
) -> list[str]:
    """terraform plan -destroy and apply, both environments side by side, against the state and
    with the credentials the run applied with; the ones destroyed."""
    vars_dir.mkdir(parents=True, exist_ok=True)
    files = render_environments(spec, project.terraform_dir, output_dir=vars_dir, package=package)
    for rendered in files:
        rendered.write()
    package.write(project.root)
    progress("terraform destroy of both environments, side by side (about 45 s) ...")

    def destroy(rendered) -> str:
        runner = TerraformRunner(
            prepare_terraform(project, spec, rendered.environment, aws), rendered.environment
        )
        runner.init()
        runner.apply(runner.plan([rendered.path], destroy=True))
        progress(f"[{rendered.environment}] destroyed by Terraform")
        return rendered.environment

    with ThreadPoolExecutor(max_workers=2) as pool:
        return [future.result() for future in [pool.submit(destroy, r) for r in files]]


def leftovers(spec: MigrationSpec, aws: Any) -> dict[str, list[str]]:
    """The run's streams and tables that still exist (names carry the run's prefix)."""
    found: dict[str, list[str]] = {}
    for environment in ENVIRONMENTS:
        prefix = getattr(spec.environments, environment).name_prefix
        streams = {stream.name_in(environment) for stream in spec.streams}
        names = [
            name
            for page in aws.client(environment, "kinesis").get_paginator("list_streams").paginate()
            for name in page.get("StreamNames", [])
        ]
        tables = [
            name
            for page in aws.client(environment, "dynamodb").get_paginator("list_tables").paginate()
            for name in page.get("TableNames", [])
        ]
        found[environment] = sorted(
            [name for name in names if name in streams]
            + [name for name in tables if name.startswith(prefix)]
        )
    return found
