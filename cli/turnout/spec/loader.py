"""Load the migration spec from YAML and turn every problem into one clear paragraph.

Each error names the file, the field path (with the line where the YAML parser knows it) and what
would be valid. Loading never changes anything on disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from turnout.errors import SpecError
from turnout.spec.model import SPEC_FORMAT_VERSION, FieldProblem, MigrationSpec

DEFAULT_SPEC_PATH = Path("terraform/migration.yaml")
MAX_SPEC_BYTES = 1024 * 1024


def load_spec(path: Path | str = DEFAULT_SPEC_PATH) -> MigrationSpec:
    path = Path(path)
    text = _read(path)
    document, lines = _parse(path, text)
    if not isinstance(document, dict):
        raise SpecError(
            f"{path}: the migration spec must be a YAML mapping with the keys version, migration, "
            f"phase, environments, streams, route and replication; found {_kind(document)}."
        )
    version = document.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SPEC_FORMAT_VERSION:
        raise SpecError(
            f"{path}: field 'version' is {version}, written by a newer turnout; this turnout reads "
            f"spec version {SPEC_FORMAT_VERSION}. Upgrade turnout rather than editing the version."
        )
    try:
        return MigrationSpec.model_validate(document)
    except ValidationError as invalid:
        raise SpecError(_describe(path, invalid, lines, document)) from None


def _read(path: Path) -> str:
    if path.is_dir():
        raise SpecError(
            f"{path}: is a directory, not a spec file. Pass --spec with the path of your "
            f"migration.yaml (the repository's example is terraform/migration.yaml)."
        )
    if not path.is_file():
        raise SpecError(
            f"{path}: no migration spec there. Pass --spec with the path of your migration.yaml "
            f"(the repository's example is terraform/migration.yaml)."
        )
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: the spec is larger than 1 MiB; a migration spec is a small file.")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        raise SpecError(f"{path}: cannot read the spec as UTF-8 text ({problem}).") from None


def _parse(path: Path, text: str) -> tuple[Any, dict[tuple, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(problem, "problem", None) or str(problem)
        raise SpecError(
            f"{path}:{where}: not valid YAML ({reason}). Fix the syntax there; the spec is a "
            f"YAML mapping like the example in terraform/migration.yaml."
        ) from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _index_lines(path, node, (), lines)
    return document, lines


def _index_lines(spec_path: Path, node: yaml.Node, path: tuple, lines: dict[tuple, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[tuple, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            identity = (key_node.tag, repr(key))
            if identity in seen:
                # YAML keeps the last of two equal keys silently; a reviewed spec must not.
                raise SpecError(
                    f"{spec_path}: field '{_field_path((*path, key))}' appears twice (lines "
                    f"{seen[identity]} and {key_node.start_mark.line + 1}); keep one of them."
                )
            seen[identity] = key_node.start_mark.line + 1
            _index_lines(spec_path, value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(spec_path, item, (*path, index), lines)


def _describe(path: Path, invalid: ValidationError, lines: dict[tuple, int], document: Any) -> str:
    problems = []
    for error in invalid.errors(include_url=False):
        located = error.get("ctx", {}).get("error")
        location = located.location if isinstance(located, FieldProblem) else error["loc"]
        location = _document_location(location, document)
        field = _field_path(location) or "(top level)"
        line = _nearest_line(location, lines)
        where = f" (line {line})" if line else ""
        problems.append(f"field '{field}'{where}: {_reason(error)}")
    count = len(problems)
    head = f"{path}: the migration spec is invalid ({count} problem{'s' if count > 1 else ''}): "
    return head + "; ".join(problems) + "."


def _document_location(loc: tuple, document: Any) -> tuple:
    """Drop pydantic's union-branch labels (a 'mode' or 'kind' value) from an error location."""
    kept: list = []
    node = document
    for part in loc:
        is_branch_label = (
            isinstance(node, dict)
            and part not in node
            and part in (node.get("mode"), node.get("kind"))
        )
        if is_branch_label:
            continue
        kept.append(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(kept)


def _field_path(location: tuple) -> str:
    text = ""
    for part in location:
        if not isinstance(part, int) and not str(part).isprintable():
            part = repr(str(part))  # a key with a newline or control character, shown escaped
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _nearest_line(location: tuple, lines: dict[tuple, int]) -> int | None:
    for end in range(len(location), -1, -1):
        candidate = tuple(location[:end])
        if candidate in lines:
            return lines[candidate]
    return None


def _reason(error: dict) -> str:
    kind = error["type"]
    message = error["msg"]
    if kind == "extra_forbidden":
        return "unknown key; remove it or check its spelling against the example spec"
    if kind == "missing":
        return "required but missing"
    if kind == "literal_error":
        return f"{message.replace('Input should be', 'must be')} (got {error['input']!r})"
    if kind == "string_pattern_mismatch":
        pattern = error.get("ctx", {}).get("pattern", "")
        return f"{error['input']!r} has the wrong format (expected {_pattern_hint(pattern)})"
    if kind == "union_tag_invalid":
        expected = error.get("ctx", {}).get("expected_tags", "")
        return f"unknown kind {error.get('ctx', {}).get('tag')!r}; valid: {expected}"
    if kind == "union_tag_not_found":
        return f"needs a '{error.get('ctx', {}).get('discriminator', 'kind')}' key"
    if kind == "string_type" and isinstance(error.get("input"), int | float):
        return f"must be text; put the value in quotes (got {error['input']!r})"
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    shown = error.get("input")
    got = f" (got {shown!r})" if shown is not None and not isinstance(shown, dict | list) else ""
    return message[0].lower() + message[1:] + got


_PATTERN_HINTS = {
    r"^\d{12}$": "a 12-digit AWS account id in quotes, e.g. '111111111111'",
    r"^[a-z]{2}(-gov)?-[a-z]+-\d$": "an AWS region such as eu-west-1",
    r"^[a-zA-Z0-9_.-]{1,128}$": "1-128 letters, digits, '_', '.' or '-'",
    r"^[a-z][a-z0-9_-]{0,62}$": "a lower-case name starting with a letter: a-z, 0-9, '_' or '-'",
    r"^[a-z][a-z0-9-]{1,40}$": "2-41 lower-case letters, digits or '-', starting with a letter",
    r"^/[a-zA-Z0-9_.\-/]{1,1010}$": "an SSM parameter path starting with '/'",
    r"^[a-zA-Z0-9_-]{0,32}$": "at most 32 letters, digits, '_' or '-'",
}


def _pattern_hint(pattern: str) -> str:
    return _PATTERN_HINTS.get(pattern, f"the pattern {pattern}")


def _kind(value: Any) -> str:
    if value is None:
        return "an empty document"
    return f"a {type(value).__name__}"
