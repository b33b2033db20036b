"""Render the per-environment tfvars from the migration spec through the Jinja2 template.

Output is deterministic (sorted keys, fixed indentation, trailing newline), so the committed files
change only when the spec, the template or the replicator's code changes.
"""

from __future__ import annotations

import difflib
import json
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from turnout.deploy.package import LambdaPackage, build_replicator_package
from turnout.errors import RenderError
from turnout.spec.adoption import adopted_streams, import_ids, load_adoption
from turnout.spec.model import MigrationSpec
from turnout.spec.names import api_names, names, route_value
from turnout.spec.phases import (
    ENVIRONMENTS,
    RETENTION_RAISED_PHASES,
    Posture,
    api_switched_in,
    peer_of,
    read_across_in,
    route_target,
)
from turnout.spec.read_across import read_across_roles

TEMPLATE_NAME = "environment.tfvars.json.j2"
REMINDER_LEAD_SECONDS = 120
SHARD_LEVEL_METRICS = (
    "IncomingBytes",
    "IncomingRecords",
    "IteratorAgeMilliseconds",
    "OutgoingBytes",
    "OutgoingRecords",
    "ReadProvisionedThroughputExceeded",
    "WriteProvisionedThroughputExceeded",
)


@dataclass(frozen=True)
class RenderedFile:
    environment: str
    path: Path
    content: str

    def current(self) -> str | None:
        return self.path.read_text(encoding="utf-8") if self.path.is_file() else None

    def is_stale(self) -> bool:
        return self.current() != self.content

    def diff(self) -> str:
        before = (self.current() or "").splitlines(keepends=True)
        after = self.content.splitlines(keepends=True)
        label = str(self.path)
        return "".join(
            difflib.unified_diff(before, after, f"{label} (committed)", f"{label} (rendered)")
        )

    def write(self) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(self.content, encoding="utf-8")
        partial.replace(self.path)


def tfvars_path(terraform_dir: Path, environment: str) -> Path:
    return terraform_dir / f"{environment}.tfvars.json"


def render_environments(
    spec: MigrationSpec,
    terraform_dir: Path,
    phase: str | None = None,
    package: LambdaPackage | None = None,
    output_dir: Path | None = None,
    posture: Posture | None = None,
) -> list[RenderedFile]:
    """Render both environments' tfvars for `phase` (default: the spec's desired phase).

    `posture` overrides the route and replication direction the phase implies, for the
    intermediate steps of a transition.
    """
    package = package or build_replicator_package()
    template = _load_template(terraform_dir / "templates")
    adoption = load_adoption(terraform_dir, spec)
    files = []
    for environment in ENVIRONMENTS:
        context = environment_context(
            spec, environment, phase or spec.phase, package, posture, adoption
        )
        try:
            raw = template.render(**context)
        except (jinja2.TemplateError, TypeError) as problem:
            line = _template_line(problem)
            raise RenderError(
                f"{terraform_dir / 'templates' / TEMPLATE_NAME}{f' line {line}' if line else ''}: "
                f"rendering the {environment} environment failed: {problem}. Every name the "
                f"template uses must be one of: {', '.join(sorted(context))}."
            ) from None
        try:
            document = json.loads(raw)
        except json.JSONDecodeError as problem:
            near = (raw.splitlines() or [""])[min(problem.lineno, len(raw.splitlines()) or 1) - 1]
            raise RenderError(
                f"{terraform_dir / 'templates' / TEMPLATE_NAME}: the {environment} output is not "
                f"valid JSON (output line {problem.lineno}: {problem.msg}, near "
                f"{near.strip()[:80]!r}); the template must produce a JSON object (use the "
                f"tojson filter for every value)."
            ) from None
        if not isinstance(document, dict):
            raise RenderError(
                f"{terraform_dir / 'templates' / TEMPLATE_NAME}: the {environment} output is JSON "
                f"but a {type(document).__name__}, not an object; tfvars files are JSON objects."
            )
        content = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        files.append(
            RenderedFile(
                environment, tfvars_path(output_dir or terraform_dir, environment), content
            )
        )
    return files


def _load_template(template_dir: Path) -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    environment.policies["json.dumps_function"] = _strict_json_dumps
    try:
        return environment.get_template(TEMPLATE_NAME)
    except jinja2.TemplateNotFound:
        raise RenderError(
            f"{template_dir / TEMPLATE_NAME}: template not found. turnout renders tfvars from "
            f"terraform/templates/{TEMPLATE_NAME}; restore it from the repository."
        ) from None
    except jinja2.TemplateSyntaxError as problem:
        raise RenderError(
            f"{template_dir / TEMPLATE_NAME} line {problem.lineno}: template syntax error: "
            f"{(problem.message or '').rstrip('.')}."
        ) from None


def _template_line(problem: BaseException) -> int | None:
    """The template line of a render-time error (Jinja maps its traceback frames to the file)."""
    frames = traceback.extract_tb(problem.__traceback__)
    lines = [frame.lineno for frame in frames if frame.filename.endswith(TEMPLATE_NAME)]
    return lines[-1] if lines else None


def _strict_json_dumps(value, **options) -> str:
    """`tojson` of an undefined name must fail loudly, like every other use of it."""

    def refuse_undefined(item):
        if isinstance(item, jinja2.Undefined):
            item._fail_with_undefined_error()
        raise TypeError(f"{type(item).__name__} cannot be rendered as JSON")

    return json.dumps(value, default=refuse_undefined, **options)


def environment_context(
    spec: MigrationSpec,
    environment: str,
    phase: str,
    package: LambdaPackage,
    posture: Posture | None = None,
    adoption: dict | None = None,
) -> dict:
    """What the template renders for one environment: the spec as it is (`spec`, its own field
    names) and the values derived from it. Every mapping to Terraform's variable names is in the
    template, and only there."""
    mine, theirs = names(spec, environment), names(spec, peer_of(environment))
    adopted = adopted_streams(adoption, environment)
    posture = posture or phase_posture(spec, phase)
    return {
        "spec": spec.model_dump(mode="json"),
        "environment": environment,
        "peer": theirs.environment,
        "phase": phase,
        "posture": {
            "route_target": posture.route_target,
            "active_direction": posture.active_direction,
            "replication_deployed": posture.replication_deployed,
            "old_streams_deleted": posture.old_streams_deleted,
            "read_across": posture.read_across,
            "retention_raised": posture.retention_raised,
            "api_weights": api_weights(spec, phase, posture),
        },
        "api_names": api_names(spec),
        "route_value": route_value(spec, posture.route_target),
        "streams": {
            stream.name: {
                "name": mine.stream(stream.name),
                "peer_name": theirs.stream(stream.name),
                # An adopted stream keeps its own metrics and tags: importing it changes nothing.
                "shard_level_metrics": adopted.get(stream.name, {}).get(
                    "shard_level_metrics", list(SHARD_LEVEL_METRICS)
                ),
                "tags": adopted.get(stream.name, {}).get("tags"),
                "retention_hours": spec.retention_during_cutover(stream)
                if posture.retention_raised
                else stream.retention_hours,
            }
            for stream in spec.streams
        },
        "imports": import_ids(adoption, environment),
        "buffering": buffering_context(environment, posture),
        "read_across": read_across_context(spec, environment, phase, posture),
        "package": {"path": package.relative_path, "sha256": package.sha256_base64},
    }


def buffering_context(environment: str, posture: Posture, now: float | None = None) -> dict:
    """The new environment's buffering window for its reminders (modules/monitoring): since
    when its streams buffer for its paused consumers, and the earliest start of a reminder (two
    minutes from now: EventBridge Scheduler refuses a recurring schedule that starts more than
    five minutes in the past). Empty outside the window and in the old environment."""
    if environment != "new" or posture.buffering_since is None:
        return {}
    moment = (time.time() if now is None else now) + REMINDER_LEAD_SECONDS
    return {"since": posture.buffering_since, "not_before": rfc3339(moment)}


def rfc3339(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(int(epoch_seconds), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def api_weights(spec: MigrationSpec, phase: str, posture: Posture) -> dict[str, int]:
    """Each API's new weight: the posture's, or (a posture without it) the phase's own."""
    return {
        api.name: posture.api_weight(api.name)
        if posture.api_weight(api.name) is not None
        else (100 if api_switched_in(phase, api.at.transition) else 0)
        for api in spec.apis
    }


def read_across_context(
    spec: MigrationSpec, environment: str, phase: str, posture: Posture
) -> dict:
    """Read-across mode (docs/read-across.md). Old: the mappings of each Lambda consumer on the
    new streams it reads, in the posture's state. New: the consumers' execution roles its
    streams' policy lets read (from the start, so the policy is in place before the old
    environment creates a mapping, which AWS checks; gone once decommissioned)."""
    if environment == "old":
        new = names(spec, "new")
        mappings = {
            f"{consumer.function_name}/{logical}": {
                "function_name": consumer.function_name,
                "stream_arn": new.stream_arn(logical),
                **consumer.read_across_mapping.model_dump(),
            }
            for consumer in spec.consumers.old
            if consumer.kind == "lambda"
            for logical in consumer.streams
        }
        state = posture.read_across if mappings else "absent"
        return {"state": state, "mappings": mappings if state != "absent" else {}, "readers": []}
    readers = read_across_roles(spec) if phase != "decommissioned" else []
    return {"state": "absent", "mappings": {}, "readers": readers}


def phase_posture(spec: MigrationSpec, phase: str) -> Posture:
    """The posture the spec's `phase` ends in. Decommissioned: no replication and, when the spec
    says so, no old streams."""
    return Posture(
        route_target(phase),
        spec.active_direction(phase),
        replication_deployed=phase != "decommissioned",
        old_streams_deleted=phase == "decommissioned" and spec.decommission.delete_old_streams,
        read_across=read_across_in(phase) if spec.replication.mode == "read-across" else "absent",
        retention_raised=phase in RETENTION_RAISED_PHASES
        and spec.cutover.raise_retention_hours is not None,
    )
