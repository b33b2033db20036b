"""The sandbox: the whole system on one machine.

`up` starts the local AWS emulator on loopback (its PID recorded under the work dir) with the
spec's two account ids, then plans and applies both environments with real Terraform into it.
`status` reads what exists; `down` stops everything `up` started, by PID.

The sandbox keeps its own Terraform state (under .work/sandbox), apart from any real one.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass

from turnout import deploy
from turnout.emulator import Emulator
from turnout.errors import EmulatorError, TurnoutError
from turnout.inventory import environment_inventory
from turnout.phases import ENVIRONMENTS
from turnout.project import Project
from turnout.render import render_environments
from turnout.spec import MigrationSpec
from turnout.spec_loader import load_spec

Progress = Callable[[str], None]


@dataclass
class Sandbox:
    project: Project

    @property
    def work_dir(self):
        return self.project.work_dir / "sandbox"

    @property
    def terraform_project(self) -> Project:
        return Project(self.project.root, self.project.spec_path, self.work_dir / "terraform")

    @property
    def emulator_dir(self):
        return self.work_dir / "emulator"

    def spec(self) -> MigrationSpec:
        return load_spec(self.project.spec_path)

    def up(self, progress: Progress = print) -> dict:
        spec = self.spec()
        emulator = self._running_emulator()
        if emulator is None:
            progress("starting the local AWS emulator on 127.0.0.1 ...")
            emulator = Emulator(
                self.emulator_dir,
                old_account_id=spec.environments.old.account_id,
                new_account_id=spec.environments.new.account_id,
                region=spec.environments.old.region,
            ).start()
            progress(f"emulator up at {emulator.endpoint_url} (pid {emulator.pid})")
        else:
            progress(
                f"reusing the running emulator at {emulator.endpoint_url} (pid {emulator.pid})"
            )
        vars_dir = self.work_dir / "tfvars"
        vars_dir.mkdir(parents=True, exist_ok=True)
        rendered = render_environments(spec, self.project.terraform_dir, output_dir=vars_dir)
        for rendered_file in rendered:
            rendered_file.write()
        for step, rendered_file in enumerate(rendered, 1):
            environment = rendered_file.environment
            progress(
                f"[{step}/{len(rendered)}] terraform plan + apply: {environment} environment ..."
            )
            summary = deploy.plan_and_apply(
                self.terraform_project,
                environment,
                aws_endpoint_url=emulator.endpoint_url,
                var_file=rendered_file.path,
            )
            progress(f"[{step}/{len(rendered)}] {summary.text().splitlines()[0]}")
        return self.status(emulator)

    def drift(self, progress: Progress = print) -> dict[str, bool]:
        """Plan both environments again: True where the live sandbox differs from its vars."""
        emulator = self._running_emulator()
        if emulator is None:
            raise EmulatorError("the sandbox is not running; start it with `turnout sandbox up`.")
        changed = {}
        for environment in ENVIRONMENTS:
            progress(f"terraform plan (drift check): {environment} environment ...")
            result = deploy.plan(
                self.terraform_project,
                environment,
                aws_endpoint_url=emulator.endpoint_url,
                var_file=self.work_dir / "tfvars" / f"{environment}.tfvars.json",
            )
            changed[environment] = result.summary.has_changes
            progress(result.summary.text())
        return changed

    def status(self, emulator: Emulator | None = None) -> dict:
        emulator = emulator or self._running_emulator()
        if emulator is None:
            return {"running": False}
        spec = self.spec()
        return {
            "running": True,
            "endpoint_url": emulator.endpoint_url,
            "pid": emulator.pid,
            "environments": {
                environment: environment_inventory(
                    spec,
                    environment,
                    emulator.session(getattr(spec.environments, environment).account_id),
                    emulator.endpoint_url,
                )
                for environment in ENVIRONMENTS
            },
        }

    def down(self, progress: Progress = print) -> None:
        emulator = self._running_emulator()
        if emulator is None:
            progress("the sandbox is not running.")
        else:
            progress(f"stopping the emulator (pid {emulator.pid}) ...")
            emulator.stop()
        # The emulator's data lives only in its memory: the sandbox's state goes with it.
        shutil.rmtree(self.work_dir / "terraform", ignore_errors=True)
        progress("sandbox stopped.")

    def _running_emulator(self) -> Emulator | None:
        if not (self.emulator_dir / "emulator.json").is_file():
            return None
        try:
            emulator = Emulator.attach_work_dir(self.emulator_dir)
        except (EmulatorError, TurnoutError, RuntimeError):
            return None
        return emulator if emulator.is_running() else None
