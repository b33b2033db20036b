"""The adoption file: what `turnout discover` found about existing streams, read by `render`.

`terraform/adopted.json` (beside the spec) says which streams of one environment already exist
and must be imported rather than created, and the settings of theirs that the spec cannot
express (their own tags, their shard-level metrics), so that the rendered tfvars describe those
streams exactly and the first plan imports them without changing them. Without the file, nothing
is imported and render's output is what it always was.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from turnout.errors import RenderError
from turnout.spec.model import MigrationSpec

ADOPTION_FILE = "adopted.json"
ADOPTION_FORMAT = 1
_TAG_KEY = re.compile(r"^[\w .:/=+@-]{1,128}$", re.UNICODE)


def adoption_path(terraform_dir: Path) -> Path:
    return terraform_dir / ADOPTION_FILE


def load_adoption(terraform_dir: Path, spec: MigrationSpec) -> dict | None:
    """The adoption document beside the spec, checked against the spec; None when there is none."""
    path = adoption_path(terraform_dir)
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as problem:
        raise RenderError(
            f"{path}: not readable JSON ({problem}). It is written by `turnout discover`; write it "
            f"again with `turnout discover --force`, or delete it to import nothing."
        ) from None
    _check(path, document, spec)
    return document


def _check(path: Path, document: object, spec: MigrationSpec) -> None:
    def refuse(detail: str) -> None:
        raise RenderError(
            f"{path}: {detail}. The file is written by `turnout discover` and must agree with the "
            f"spec; run discovery again, or delete the file to import nothing."
        )

    if not isinstance(document, dict) or document.get("format") != ADOPTION_FORMAT:
        refuse(f"'format' must be {ADOPTION_FORMAT} and the file a JSON object")
    environment = document.get("environment")
    if environment not in ("old", "new"):
        refuse("'environment' must be 'old' or 'new'")
    place = getattr(spec.environments, environment)
    if document.get("account_id") != place.account_id or document.get("region") != place.region:
        refuse(
            f"it was discovered in account {document.get('account_id')} region "
            f"{document.get('region')}, but the spec's {environment} environment is account "
            f"{place.account_id} region {place.region}"
        )
    streams = document.get("streams")
    if not isinstance(streams, dict):
        refuse("'streams' must be an object keyed by the spec's logical stream names")
    declared = {stream.name: stream.name_in(environment) for stream in spec.streams}
    for logical, entry in streams.items():
        if logical not in declared:
            refuse(
                f"stream '{logical}' is not declared in the spec ({', '.join(sorted(declared))})"
            )
        if not isinstance(entry, dict) or entry.get("name") != declared[logical]:
            refuse(
                f"stream '{logical}' is named {declared[logical]!r} in the spec's {environment} "
                f"environment but {entry.get('name') if isinstance(entry, dict) else entry!r} here"
            )
        tags = entry.get("tags")
        if not isinstance(tags, dict) or not all(
            isinstance(key, str) and _TAG_KEY.match(key) and isinstance(value, str)
            for key, value in tags.items()
        ):
            refuse(f"stream '{logical}': 'tags' must map tag keys to string values")
        metrics = entry.get("shard_level_metrics")
        if not isinstance(metrics, list) or not all(isinstance(name, str) for name in metrics):
            refuse(f"stream '{logical}': 'shard_level_metrics' must be a list of metric names")


def adopted_streams(adoption: dict | None, environment: str) -> dict[str, dict]:
    """The adopted streams of `environment`, by logical name (empty for the other environment)."""
    if not adoption or adoption["environment"] != environment:
        return {}
    return adoption["streams"]


def import_ids(adoption: dict | None, environment: str) -> dict[str, str]:
    """Logical name -> the aws_kinesis_stream import id (the stream's name), for the tfvars."""
    return {
        logical: entry["name"] for logical, entry in adopted_streams(adoption, environment).items()
    }
