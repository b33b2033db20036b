"""Render the per-environment tfvars from the migration spec through the Jinja2 template.

Output is deterministic (sorted keys, fixed indentation, trailing newline), so the committed files
change only when the spec, the template or the replicator's code changes.
"""

from __future__ import annotations

import difflib
import json
import traceback
from dataclasses import dataclass
from pathlib import Path

import jinja2

from turnout.discover_adoption import adopted_streams, import_ids, load_adoption
from turnout.errors import RenderError
from turnout.lambda_package import LambdaPackage, build_replicator_package
from turnout.phases import ENVIRONMENTS, Posture, peer_of, route_target
from turnout.spec import MigrationSpec

TEMPLATE_NAME = "environment.tfvars.json.j2"
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
    peer = peer_of(environment)
    adopted = adopted_streams(adoption, environment)
    own = getattr(spec.environments, environment)
    other = getattr(spec.environments, peer)
    posture = posture or Posture(route_target(phase), spec.active_direction(phase))
    target = posture.route_target
    return {
        "env": {"name": environment, **own.model_dump()},
        "peer": {
            "name": peer,
            "account_id": other.account_id,
            "region": other.region,
            "name_prefix": other.name_prefix,
        },
        "migration": {"name": spec.migration, "phase": phase},
        "streams": [
            {
                "logical_name": stream.name,
                "name": stream.name_in(environment),
                "peer_name": stream.name_in(peer),
                "mode": "PROVISIONED" if stream.capacity.mode == "provisioned" else "ON_DEMAND",
                "shard_count": getattr(stream.capacity, "shards", None),
                "retention_hours": stream.retention_hours,
                "kms_key": stream.encryption,
                # An adopted stream keeps its own metrics and tags, so importing it changes nothing.
                "shard_level_metrics": adopted.get(stream.name, {}).get(
                    "shard_level_metrics", list(SHARD_LEVEL_METRICS)
                ),
                "tags": adopted.get(stream.name, {}).get("tags"),
            }
            for stream in spec.streams
        ],
        "imports": import_ids(adoption, environment),
        "shard_level_metrics": list(SHARD_LEVEL_METRICS),
        "replication": {
            **spec.replication.model_dump(mode="json"),
            "active_direction": posture.active_direction,
        },
        "package": {"path": package.relative_path, "sha256": package.sha256_base64},
        "route": {
            "managed_here": spec.route.environment == environment,
            "parameters": list(spec.route.parameters),
            "target": target,
            "value": route_value(spec, target),
        },
        "control_plane": {"managed_here": spec.control_plane.environment == environment},
        "monitoring": monitoring_context(spec, environment),
        "tags": {"turnout:migration": spec.migration, **spec.tags},
    }


def monitoring_context(spec: MigrationSpec, environment: str) -> dict:
    """Alarm settings of one environment: its own consumers and its own notification topics."""
    monitoring = spec.monitoring
    consumers = getattr(spec.consumers, environment)
    topics = getattr(monitoring.notify, environment)
    return {
        "period_seconds": monitoring.period_seconds,
        "evaluation_periods": monitoring.evaluation_periods,
        "replication_lag_threshold_ms": monitoring.replication_lag_seconds * 1000,
        "replicator_throttles_threshold": monitoring.replicator_throttles,
        "consumer_iterator_age_threshold_ms": monitoring.consumer_iterator_age_seconds * 1000,
        "lambda_consumers": [c.function_name for c in consumers if c.kind == "lambda"],
        "kcl_consumers": [c.application for c in consumers if c.kind == "kcl"],
        "alarm_actions": list(topics.alarm),
        "ok_actions": list(topics.ok),
    }


def route_value(spec: MigrationSpec, target: str) -> str:
    """What producers read from the route parameter: where to write each logical stream."""
    place = getattr(spec.environments, target)
    streams = {
        stream.name: stream_arn(place.region, place.account_id, stream.name_in(target))
        for stream in spec.streams
    }
    document = {
        "environment": target,
        "account_id": place.account_id,
        "region": place.region,
        "streams": streams,
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def stream_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:kinesis:{region}:{account_id}:stream/{name}"
