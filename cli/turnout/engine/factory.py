"""Build a cutover engine for real AWS or for the running sandbox."""

from __future__ import annotations

from turnout.aws import AwsAccess
from turnout.engine.runner import CutoverEngine, EngineSettings, Progress
from turnout.project import Project
from turnout.spec import MigrationSpec
from turnout.spec_loader import load_spec


def build_engine(
    project: Project, sandbox: bool, progress: Progress, spec: MigrationSpec | None = None
) -> CutoverEngine:
    spec = spec or load_spec(project.spec_path)
    if sandbox:
        from turnout.sandbox import Sandbox

        box = Sandbox(project)
        emulator = box.require_client_emulator()  # through a chaos proxy when one is recorded
        settings = EngineSettings(
            terraform_project=box.terraform_project,
            aws=AwsAccess.for_emulator(spec, emulator),
            hooks_dir=project.root / "hooks",
            work_dir=box.work_dir,
            endpoint_url=emulator.endpoint_url,
            progress=progress,
        )
    else:
        settings = EngineSettings(
            terraform_project=project,
            aws=AwsAccess(spec),
            hooks_dir=project.root / "hooks",
            work_dir=project.work_dir,
            progress=progress,
        )
    return CutoverEngine(spec, settings)
