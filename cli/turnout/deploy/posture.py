"""Apply a posture (where producers write, which replicator runs) to both environments.

The cutover engine receives a `PostureApplier` as a collaborator: render both environments'
tfvars for the posture, plan and apply each (side by side), then plan again and require no
changes (the reviewed vars and the live system agree). The replicator's zip is built once for
the applier's lifetime.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from turnout.deploy import workflow
from turnout.deploy.package import LambdaPackage, build_replicator_package
from turnout.deploy.plan_summary import PlanSummary
from turnout.deploy.render import render_environments
from turnout.errors import TerraformError
from turnout.project import Project
from turnout.spec.model import MigrationSpec
from turnout.spec.phases import ENVIRONMENTS, Posture


@dataclass
class PostureApplier:
    spec: MigrationSpec
    project: Project  # whose terraform/ is applied and whose work dir holds the state
    vars_dir: Path  # where the rendered tfvars of each step are kept
    endpoint_url: str | None = None
    drift_check: bool = True
    aws: Any = None  # the engine's AwsAccess (credentials checked once); made per plan when None

    @cached_property
    def package(self) -> LambdaPackage:
        return build_replicator_package()

    def render(self, phase: str, posture: Posture, label: str) -> dict[str, Path]:
        """Both environments' tfvars for `posture`, written under `vars_dir/label`."""
        output = self.vars_dir / label.replace(">", "")
        output.mkdir(parents=True, exist_ok=True)
        files = render_environments(
            self.spec,
            self.project.terraform_dir,
            phase=phase,
            output_dir=output,
            posture=posture,
            package=self.package,
        )
        for rendered in files:
            rendered.write()
        return {rendered.environment: rendered.path for rendered in files}

    def apply(
        self,
        phase: str,
        posture: Posture,
        label: str,
        environments: tuple[str, ...] = ENVIRONMENTS,
    ) -> dict:
        """Apply `posture` to `environments` (both unless only one can change), side by side."""
        files = self.render(phase, posture, label)
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = pool.map(lambda env: self._apply_one(env, files[env], posture), environments)
            by_environment = dict(zip(environments, results, strict=True))
        return {"posture": posture.describe(), **by_environment}

    def plan_texts(self, phase: str, posture: Posture, label: str) -> list[str]:
        """What applying the posture would change, per environment (for a dry run)."""
        return [summary.text() for summary in self.plan_summaries(phase, posture, label)]

    def plan_summaries(self, phase: str, posture: Posture, label: str) -> list[PlanSummary]:
        """The plan of each environment for `posture`, applying nothing (side by side: separate
        states and accounts, as in `apply`)."""
        files = self.render(phase, posture, label)
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = pool.map(
                lambda env: self._plan(env, files[env], expected_destroys(posture, env)),
                ENVIRONMENTS,
            )
            return [result.summary for result in results]

    def _apply_one(self, environment: str, var_file: Path, posture: Posture) -> dict:
        summary = workflow.plan_and_apply(
            self.project,
            environment,
            self.endpoint_url,
            var_file=var_file,
            package=self.package,
            aws=self.aws,
            spec=self.spec,
            expected_destroys=expected_destroys(posture, environment),
        )
        result: dict = {"changes": summary.as_dict()["totals"]}
        if summary.notes:
            result["notes"] = summary.notes
        if not summary.has_changes:
            result["drift"] = "none (the plan itself showed no changes)"
            return result
        if self.drift_check:
            again = workflow.drift(
                self.project,
                environment,
                var_file,
                self.endpoint_url,
                package=self.package,
                aws=self.aws,
                spec=self.spec,
            )
            if again is not None and again.has_changes:
                raise TerraformError(
                    f"after applying the {environment} environment, terraform plan still shows "
                    f"changes: {again.text()}"
                )
            result["drift"] = "none"
        else:
            result["drift"] = "not checked (cutover.plan_after_apply is false)"
        return result

    def _plan(
        self, environment: str, var_file: Path, expected: tuple[str, ...] = ()
    ) -> workflow.PlanResult:
        return workflow.plan(
            self.project,
            environment,
            aws_endpoint_url=self.endpoint_url,
            var_file=var_file,
            package=self.package,
            aws=self.aws,
            spec=self.spec,
            expected_destroys=expected,
        )


def expected_destroys(posture: Posture, environment: str) -> tuple[str, ...]:
    """The Terraform addresses (prefixes) whose data-holding resources a posture removes on
    purpose: the replicator's ledger once replication is removed, the old streams last. Every
    other destroy of a stream or table is still refused."""
    expected: tuple[str, ...] = ()
    if not posture.replication_deployed:
        expected += ("module.replicator[0].",)
        if environment == "old":  # read-across mode: the old consumers' mappings on new streams
            expected += ("aws_lambda_event_source_mapping.read_across[",)
    if posture.old_streams_deleted and environment == "old":
        expected += ("module.stream[",)
    return expected
