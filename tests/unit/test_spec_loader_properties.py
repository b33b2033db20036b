"""Property: whatever YAML a spec file holds, the loader returns a valid spec or raises a
SpecError of one paragraph naming the file; never another exception."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turnout.errors import SpecError
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec

EXAMPLE = Path(__file__).resolve().parents[2] / "terraform" / "migration.yaml"
EXAMPLE_DOCUMENT = yaml.safe_load(EXAMPLE.read_text())

BOUNDED = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["baseline", "old", "new", "provisioned", "on_demand", "111111111111", "-1"]),
)
yaml_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=4),
    ),
    max_leaves=20,
)


def paths(document, prefix: tuple = ()) -> list[tuple]:
    """Every key/index path into the example document."""
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += paths(value, (*prefix, index))
    return found


EXAMPLE_PATHS = paths(EXAMPLE_DOCUMENT)


@st.composite
def mutated_examples(draw) -> dict:
    """The valid example with a few fields dropped, replaced, retyped or given extra keys."""
    document = copy.deepcopy(EXAMPLE_DOCUMENT)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        path = draw(st.sampled_from(EXAMPLE_PATHS))
        parent = document
        try:
            for part in path[:-1]:
                parent = parent[part]
            operation = draw(st.sampled_from(["drop", "replace", "retype", "extra_key"]))
            if operation == "drop":
                del parent[path[-1]]
            elif operation == "replace":
                parent[path[-1]] = draw(yaml_values)
            elif operation == "retype":
                parent[path[-1]] = _retyped(parent[path[-1]])
            elif isinstance(parent, dict):
                parent[draw(st.text(min_size=1, max_size=10))] = draw(yaml_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped this path
    return document


def _retyped(value):
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return {str(index): item for index, item in enumerate(value)}
    if isinstance(value, dict):
        return list(value.values())
    return "null"


def check_loader(spec_path: Path) -> None:
    try:
        loaded = load_spec(spec_path)
    except SpecError as problem:
        message = str(problem)
        assert message.startswith(str(spec_path)), message
        assert "\n" not in message, f"not one paragraph: {message!r}"
        assert "Traceback" not in message
        return
    assert isinstance(loaded, MigrationSpec)


@BOUNDED
@given(document=yaml_values)
def test_any_yaml_document_loads_or_gives_one_paragraph(document, tmp_path_factory):
    spec_path = tmp_path_factory.mktemp("spec") / "migration.yaml"
    spec_path.write_text(yaml.safe_dump(document))
    check_loader(spec_path)


@BOUNDED
@given(document=mutated_examples())
def test_any_mutation_of_the_example_loads_or_gives_one_paragraph(document, tmp_path_factory):
    spec_path = tmp_path_factory.mktemp("spec") / "migration.yaml"
    spec_path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))
    check_loader(spec_path)


@BOUNDED
@given(text=st.text(alphabet=st.sampled_from(list("ab:-[]{}'\"&*!|>#\n\t 1")), max_size=80))
def test_any_text_loads_or_gives_one_paragraph(text, tmp_path_factory):
    spec_path = tmp_path_factory.mktemp("spec") / "migration.yaml"
    spec_path.write_text(text)
    check_loader(spec_path)
