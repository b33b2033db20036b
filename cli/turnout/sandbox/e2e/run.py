"""One end-to-end run, the same steps on AWS and on the emulator: both environments applied by
Terraform (their plans kept as JSON), the sample pipeline created, live traffic from the run's
producer identity, the cutover to new-live and then committed (or rolled back), the report, and
the teardown.

A run that fails part-way is torn down all the same (unless ``keep``): it is a test of turnout,
and its records are synthetic; the error is raised after the teardown, and the teardown's own
failures are reported beside it, so nothing is left unnoticed in the accounts.
"""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from turnout import deploy
from turnout.deploy.package import LambdaPackage, build_replicator_package
from turnout.deploy.render import render_environments
from turnout.deploy.terraform import TerraformRunner, terraform_settings
from turnout.engine.factory import assemble_engine
from turnout.project import Project
from turnout.sandbox.e2e.places import place_for, producer_clients
from turnout.sandbox.e2e.settings import E2eSettings
from turnout.sandbox.e2e.spec import write_e2e_spec
from turnout.sandbox.e2e.teardown import delete_pipeline, destroy_environments, leftovers
from turnout.sandbox.e2e.traffic import Traffic
from turnout.sandbox.pipeline.create import create_pipeline
from turnout.sandbox.pipeline.report import build_report, read_events, wait_for_report
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec


@dataclass
class E2eResult:
    run_id: str
    where: str
    path: list[str]
    work_dir: str
    report: dict = field(default_factory=dict)
    producer: dict = field(default_factory=dict)
    writes_by_route: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    teardown: dict = field(default_factory=dict)
    plans: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    @property
    def nothing_lost(self) -> bool:
        return bool(self.report.get("nothing_lost")) and not self.producer.get(
            "unsent_never_accepted"
        )

    @property
    def left_behind(self) -> list[str]:
        return [name for names in self.teardown.get("leftovers", {}).values() for name in names]

    def as_dict(self) -> dict:
        return {**asdict(self), "nothing_lost": self.nothing_lost, "left_behind": self.left_behind}


def apply_environments(
    spec: MigrationSpec,
    project: Project,
    endpoint_url: str | None,
    package: LambdaPackage,
    work: Path,
    progress,
) -> dict[str, str]:
    """Plan (kept as JSON: the rendered policies, reviewable) and apply, both side by side."""
    (work / "tfvars").mkdir(parents=True, exist_ok=True)
    files = render_environments(
        spec, project.terraform_dir, output_dir=work / "tfvars", package=package
    )
    for rendered in files:
        rendered.write()
    (work / "plans").mkdir(parents=True, exist_ok=True)
    progress("terraform plan + apply of both environments, side by side (about 90 s) ...")

    def apply(rendered) -> tuple[str, str]:
        environment = rendered.environment
        result = deploy.plan(
            project,
            environment,
            aws_endpoint_url=endpoint_url,
            var_file=rendered.path,
            package=package,
        )
        shown = TerraformRunner(terraform_settings(project, endpoint_url), environment).show_plan(
            result.plan_path
        )
        saved = work / "plans" / f"{environment}.json"
        saved.write_text(json.dumps(shown))
        deploy.apply(project, environment, endpoint_url)
        progress(f"[{environment}] {result.summary.text().splitlines()[0]} Applied.")
        return environment, str(saved)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(apply, files))


def writes_by_route(events_log: Path, route_changes: list[dict]) -> list[dict]:
    """Per stretch of time between the producer's route changes: where its events landed."""
    stretches = [
        {"route": change["to"], "since": change["at"], "old": 0, "new": 0}
        for change in route_changes
    ]
    for event in read_events(events_log):
        current = None
        for stretch in stretches:
            if event["accepted_at"] >= stretch["since"]:
                current = stretch
        if current is not None:
            current[event["env"]] = current.get(event["env"], 0) + 1
    return stretches


def run_e2e(
    settings: E2eSettings,
    root: Path,
    work_dir: Path,
    progress,
    *,
    rollback: bool = False,
    keep: bool = False,
    rate: float = 50.0,
    keys: int = 200,
    rollback_from: str = "new-live",
) -> E2eResult:
    run = E2eRun(
        settings, root, work_dir, progress, rollback, keep, rate, keys, rollback_from=rollback_from
    )
    return run.execute()


@dataclass
class E2eRun:
    settings: E2eSettings
    root: Path
    work_dir: Path
    progress: Any
    rollback: bool = False
    keep: bool = False
    rate: float = 50.0
    keys: int = 200
    run_id: str = ""
    rollback_from: str = "new-live"  # with rollback: the phase reached first

    def __post_init__(self) -> None:
        self.run_id = self.run_id or uuid.uuid4().hex[:6]
        self.work = (self.work_dir / f"run-{self.run_id}").resolve()
        self.targets = (
            [self.rollback_from, "rolled-back"] if self.rollback else ["new-live", "committed"]
        )
        self.result = E2eResult(
            self.run_id, self.settings.describe(), ["baseline", *self.targets], str(self.work)
        )
        self.place = place_for(self.settings)
        self.project = Project(self.root, self.work / "migration.yaml", self.work / "terraform")
        self.traffic: Traffic | None = None

    def execute(self) -> E2eResult:
        started = time.monotonic()
        self.work.mkdir(parents=True, exist_ok=True)
        self.place.start(self.work, self.progress)
        try:
            self.spec = write_e2e_spec(
                self.root, self.settings, self.run_id, self.project.spec_path
            )
            self.aws = self.place.access(self.spec)
            self.package = build_replicator_package()
            try:
                self._run()
            except BaseException as problem:
                self.result.error = f"{type(problem).__name__}: {problem}"
                raise
            finally:
                if self.traffic is not None and not self.result.producer:
                    self.result.producer = self.traffic.stop(grace=30)
                if not self.keep:
                    self.result.teardown = self._tear_down()
        finally:
            if not self.keep:
                self.place.stop(self.progress)
            self.result.timings["total"] = round(time.monotonic() - started, 1)
            report = json.dumps(self.result.as_dict(), indent=2, default=str)
            (self.work / "e2e-result.json").write_text(report)
        return self.result

    def _timed(self, label: str, step) -> Any:
        mark = time.monotonic()
        value = step()
        self.result.timings[label] = round(time.monotonic() - mark, 1)
        return value

    def _run(self) -> None:
        spec, place, result = self.spec, self.place, self.result
        result.plans = self._timed(
            "apply both environments",
            lambda: apply_environments(
                spec, self.project, place.endpoint_url, self.package, self.work, self.progress
            ),
        )
        create_pipeline(spec, self.aws, self.progress)
        place.after_pipeline(spec, self.progress)
        kinesis_for, client = producer_clients(place, place.producer_session())
        events_log = self.work / "traffic" / "events.ndjson"
        self.traffic = Traffic(spec, kinesis_for, client, events_log, self.rate, self.keys)
        self.traffic.start()
        self.progress(
            f"producer {spec.producers[0].principal_arns[0]}: {self.rate:g} events/s over "
            f"{self.keys} keys, following the route table"
        )
        engine = assemble_engine(
            spec,
            self.aws,
            self.project,
            self.root / "hooks",
            self.progress,
            endpoint_url=place.endpoint_url,
            work_dir=self.work,
        )
        for target in self.targets:
            self._timed(f"cutover to {target}", lambda target=target: engine.run(target))
        result.producer = self.traffic.stop()
        result.report = self._timed(
            "final delivery and report",
            lambda: wait_for_report(
                lambda: build_report(
                    spec, self.aws, events_log, new_required=self.targets[-1] == "committed"
                ),
                timeout=240 if self.settings.emulator else 900,
                interval=5,
            ),
        )
        result.writes_by_route = writes_by_route(events_log, result.producer["route_changes"])

    def _tear_down(self) -> dict:
        """Every part is tried; what failed is said, not hidden."""
        teardown: dict[str, Any] = {"problems": []}
        steps = (
            ("pipeline", lambda: delete_pipeline(self.spec, self.aws, self.progress)),
            (
                "terraform",
                lambda: destroy_environments(
                    self.spec,
                    self.project,
                    self.aws,
                    self.package,
                    self.work / "teardown-tfvars",
                    self.progress,
                ),
            ),
            ("leftovers", lambda: leftovers(self.spec, self.aws)),
        )
        for name, step in steps:
            try:
                teardown[name] = step()
            except Exception as problem:  # one failed step must not hide the next ones
                teardown["problems"].append(f"{name}: {type(problem).__name__}: {problem}")
        return teardown


def tear_down_kept_run(settings: E2eSettings, root: Path, run_dir: Path, progress) -> dict:
    """A run kept with ``keep``, torn down later: the same teardown, then its emulator (if any)
    stopped."""
    run_dir = run_dir.resolve()
    run = E2eRun(settings, root, run_dir.parent, progress, run_id=run_dir.name.removeprefix("run-"))
    run.place.attach(run.work)
    try:
        run.spec = load_spec(run.project.spec_path)
        run.aws = run.place.access(run.spec)
        run.package = build_replicator_package()
        return run._tear_down()
    finally:
        run.place.stop(progress)
