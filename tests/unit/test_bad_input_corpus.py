"""A corpus of bad inputs: specs, templates, CLI arguments and hook files.

Every one must end in one clear paragraph that names the culprit (field, file or flag) and what
would be valid, never a traceback, and must change nothing on disk. The state-table part of the
corpus needs DynamoDB and lives in tests/integration/test_bad_state.py; the 33 spec cases of
tests/unit/test_spec_errors.py are not repeated here.
"""

from __future__ import annotations

import copy
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from turnout.cli import main
from turnout.deploy.render import TEMPLATE_NAME, render_environments
from turnout.engine.hook_runner import HookRunner
from turnout.engine.steps import HookStep
from turnout.errors import RenderError, SpecError, TurnoutError
from turnout.hooks import HookError, load_hook
from turnout.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "terraform" / "migration.yaml"


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under `root` with the SHA-256 of its bytes: "nothing changed" is equality."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def assert_one_clear_paragraph(message: str, culprit: str) -> None:
    assert "Traceback" not in message, message
    assert "\n" not in message.strip(), f"not one paragraph: {message!r}"
    assert culprit in message, f"{culprit!r} is not named in: {message}"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the repository's terraform/ inputs (the spec, the template, the tfvars)."""
    terraform = tmp_path / "project" / "terraform"
    terraform.mkdir(parents=True)
    shutil.copy(EXAMPLE, terraform)
    shutil.copytree(REPO / "terraform" / "templates", terraform / "templates")
    for environment in ("old", "new"):
        shutil.copy(REPO / "terraform" / f"{environment}.tfvars.json", terraform)
    return terraform


# --------------------------------------------------------------------------- specs


def example() -> dict:
    document = yaml.safe_load(EXAMPLE.read_text())
    if not document.get("hooks"):  # the user-hook cases below edit hooks[0]
        document["hooks"] = [{"transition": "switched->mirrored", "hook": "warm_caches"}]
    return document


def edited(change) -> str:
    document = copy.deepcopy(example())
    change(document)
    return yaml.safe_dump(document, sort_keys=False)


def at(path: list, value):
    def change(document):
        target = document
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


EXAMPLE_TEXT = EXAMPLE.read_text()

BAD_SPECS: dict[str, tuple[str | bytes, str]] = {
    "tag_key_with_forbidden_characters": (edited(at(["tags", "team{}"], "x")), "tags.team{}"),
    "tag_value_longer_than_256": (edited(at(["tags", "team"], "x" * 300)), "tags.team"),
    "user_hook_unknown_transition": (
        edited(at(["hooks", 0, "transition"], "baseline->committed")),
        "hooks[0].transition",
    ),
    "user_hook_name_is_a_path": (
        edited(at(["hooks", 0, "hook"], "../../etc/evil")),
        "hooks[0].hook",
    ),
    "user_hook_unknown_when": (edited(at(["hooks", 0, "when"], "during")), "hooks[0].when"),
    "user_hook_timeout_zero": (
        edited(at(["hooks", 0, "timeout_seconds"], 0)),
        "hooks[0].timeout_seconds",
    ),
    "data_store_unknown_kind": (
        edited(at(["data_stores", 0, "kind"], "rds")),
        "data_stores[0]",
    ),
    "data_store_source_not_a_bucket_name": (
        edited(at(["data_stores", 0, "source"], "Legacy_Assets")),
        "data_stores[0].source",
    ),
    "data_store_table_name_too_short": (
        edited(at(["data_stores", 1, "target"], "ab")),
        "data_stores[1].target",
    ),
    "data_store_names_repeated": (
        edited(at(["data_stores", 1, "name"], "assets")),
        "data_stores[1].name",
    ),
    "data_store_targets_repeated": (
        edited(at(["data_stores", 2, "target"], "v2-sandbox-profiles")),
        "data_stores[2].target",
    ),
    "data_store_target_inside_its_source": (
        edited(at(["data_stores", 0, "target"], "legacy-sandbox-assets/copy/")),
        "data_stores[0].target",
    ),
    "data_store_copied_at_rollback": (
        edited(at(["data_stores", 0, "at"], {"transition": "rollback"})),
        "data_stores[0].at.transition",
    ),
    "data_store_zero_segments": (
        edited(at(["data_stores", 1, "segments"], 0)),
        "data_stores[1].segments",
    ),
    "decommission_unknown_key": (
        edited(at(["decommission", "delete_streams"], True)),
        "decommission.delete_streams",
    ),
    "lock_ttl_below_30_seconds": (
        edited(at(["cutover", "lock_ttl_seconds"], 5)),
        "cutover.lock_ttl_seconds",
    ),
    "unknown_cutover_key": (edited(at(["cutover", "quiet_secs"], 5)), "cutover.quiet_secs"),
    "plan_after_apply_not_a_boolean": (
        edited(at(["cutover", "plan_after_apply"], "sometimes")),
        "cutover.plan_after_apply",
    ),
    "no_streams": (edited(at(["streams"], [])), "streams"),
    "streams_as_a_mapping": (edited(at(["streams"], {"clicks": {"shards": 2}})), "streams"),
    "migration_name_upper_case": (edited(at(["migration"], "ClickStream")), "migration"),
    "lambda_function_name_with_spaces": (
        edited(at(["consumers", "old", 0, "function_name"], "my function")),
        "consumers.old[0].function_name",
    ),
    "phase_as_a_number": (edited(at(["phase"], 3)), "phase"),
    "version_as_text": (edited(at(["version"], "one")), "version"),
    "timestamp_that_is_not_a_time": (
        edited(
            lambda d: d["replication"].update(
                starting_position="AT_TIMESTAMP", starting_position_timestamp="next tuesday"
            )
        ),
        "replication.starting_position_timestamp",
    ),
    "no_route_parameters": (edited(at(["route", "parameters"], [])), "route.parameters"),
    "control_plane_in_both": (
        edited(at(["control_plane"], {"environment": "both"})),
        "control_plane.environment",
    ),
    "deploy_role_that_is_not_an_arn": (
        edited(at(["environments", "new", "deploy_role_arn"], "admin")),
        "environments.new.deploy_role_arn",
    ),
    "log_retention_not_a_cloudwatch_value": (
        edited(at(["replication", "log_retention_days"], 2)),
        "replication.log_retention_days",
    ),
    "duplicate_key": (
        EXAMPLE_TEXT.replace("phase: baseline\n", "phase: baseline\nphase: committed\n", 1),
        "field 'phase' appears twice",
    ),
    "not_utf8": (b"version: 1\nmigration: \xff\xfe\n", "UTF-8"),
    "larger_than_one_mib": ("# padding\n" * 120_000, "larger than 1 MiB"),
    "a_bare_string": ("just some words\n", "YAML mapping"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_spec_is_one_paragraph_naming_the_field_and_changes_nothing(case, project):
    content, culprit = BAD_SPECS[case]
    spec = project / "migration.yaml"
    if isinstance(content, bytes):
        spec.write_bytes(content)
    else:
        spec.write_text(content)
    before = tree_digest(project)
    with pytest.raises(SpecError) as raised:
        load_spec(spec)
    assert_one_clear_paragraph(str(raised.value), culprit)
    assert str(spec) in str(raised.value)
    assert tree_digest(project) == before


def test_a_directory_where_the_spec_should_be_is_named_as_such(project):
    spec = project / "migration.yaml"
    spec.unlink()
    spec.mkdir()
    with pytest.raises(SpecError) as raised:
        load_spec(spec)
    assert_one_clear_paragraph(str(raised.value), "is a directory")


# --------------------------------------------------------------------------- templates


BAD_TEMPLATES: dict[str, tuple[str, str]] = {
    "undefined_variable_names_the_line": (
        '{\n  "a": 1,\n  "zone": {{ spec.zone | tojson }}\n}\n',
        f"{TEMPLATE_NAME} line 3",
    ),
    "undefined_attribute_of_a_known_name": (
        '{\n  "stream": {{ spec.streams[0].colour | tojson }}\n}\n',
        f"{TEMPLATE_NAME} line 2",
    ),
    "syntax_error_names_the_line": (
        '{\n  "a": 1,\n  {% if environment %}\n  "b": 2\n}\n',
        f"{TEMPLATE_NAME} line 3",
    ),
    "unknown_filter": ('{ "a": {{ environment | shout }} }\n', f"{TEMPLATE_NAME} line 1"),
    "output_is_not_json": ('{ "a": {{ environment }} }\n', "near '{ \"a\": old }'"),
    "output_is_a_json_list_not_an_object": ("[1, 2, 3]\n", "not an object"),
}


@pytest.mark.parametrize("case", sorted(BAD_TEMPLATES))
def test_bad_template_names_the_template_file_and_changes_nothing(case, project):
    text, culprit = BAD_TEMPLATES[case]
    (project / "templates" / TEMPLATE_NAME).write_text(text)
    spec = load_spec(project / "migration.yaml")
    before = tree_digest(project)
    with pytest.raises(RenderError) as raised:
        render_environments(spec, project)
    message = str(raised.value)
    assert_one_clear_paragraph(message, culprit)
    assert str(project / "templates" / TEMPLATE_NAME) in message
    assert tree_digest(project) == before


def test_a_missing_template_is_named_with_where_it_belongs(project):
    (project / "templates" / TEMPLATE_NAME).unlink()
    with pytest.raises(RenderError) as raised:
        render_environments(load_spec(project / "migration.yaml"), project)
    assert_one_clear_paragraph(str(raised.value), f"terraform/templates/{TEMPLATE_NAME}")


# --------------------------------------------------------------------------- CLI arguments


@dataclass(frozen=True)
class BadCommand:
    argv: list[str]
    culprit: str
    spec_text: str | bytes | None = None  # replaces the project's spec before the run


BAD_COMMANDS: dict[str, BadCommand] = {
    "unknown_phase_for_cutover": BadCommand(["cutover", "--to", "halfway", "--dry-run"], "--to"),
    "unknown_environment_for_plan": BadCommand(["plan", "--env", "staging"], "--env"),
    "missing_environment_for_apply": BadCommand(["apply"], "--env"),
    "journal_count_not_a_number": BadCommand(["status", "--journal", "many"], "--journal"),
    "negative_producer_rate": BadCommand(["sandbox", "up", "--rate", "-5"], "--rate"),
    "producer_rate_not_a_number": BadCommand(
        ["sandbox", "traffic", "start", "--rate", "fast"], "--rate"
    ),
    "negative_report_wait": BadCommand(["sandbox", "report", "--wait", "-1"], "--wait"),
    "unknown_command": BadCommand(["frobnicate"], "frobnicate"),
    "unknown_flag_since": BadCommand(["cutover", "--since", "yesterday"], "--since"),
    "since_that_is_not_a_time": BadCommand(["verify", "--since", "yesterday"], "--since"),
    "since_in_the_future": BadCommand(["verify", "--since", "2999-01-01T00:00:00Z"], "future"),
    "spec_flag_without_value": BadCommand(["validate", "--spec"], "--spec"),
    "unlock_without_reason": BadCommand(["unlock", "--force"], "--reason"),
    "unlock_reason_without_force": BadCommand(["unlock", "--reason", "run died"], "--force"),
    "unlock_with_blank_reason": BadCommand(["unlock", "--force", "--reason", "  "], "--reason"),
    "sandbox_lifetime_below_one": BadCommand(["sandbox", "up", "--lifetime", "0"], "--lifetime"),
    "acknowledge_discards_without_reason": BadCommand(
        ["discards", "acknowledge", "--env", "old", "--queue", "arn:aws:sqs:eu-west-1:1:q"],
        "--reason",
    ),
    "acknowledge_discards_of_unknown_environment": BadCommand(
        ["discards", "acknowledge", "--env", "prod", "--queue", "q", "--reason", "x"], "--env"
    ),
    "acknowledge_discards_without_queue": BadCommand(
        ["discards", "acknowledge", "--env", "old", "--reason", "re-driven"], "--queue"
    ),
    "spec_outside_a_terraform_folder": BadCommand(
        ["validate", "--spec", "{tmp}/elsewhere/migration.yaml"], "terraform/ directory"
    ),
    "missing_spec_file": BadCommand(
        ["render", "--spec", "{terraform}/nope.yaml"], "no migration spec there"
    ),
    "spec_is_a_directory": BadCommand(["validate", "--spec", "{terraform}/templates"], "directory"),
    "unreadable_spec": BadCommand(
        ["render", "--spec", "{terraform}/migration.yaml"], "UTF-8", b"version: 1\n\x80\x81\n"
    ),
    "decommission_before_the_spec_says_so": BadCommand(
        ["decommission", "--yes"], "phase: decommissioned"
    ),
    "render_with_invalid_spec": BadCommand(
        ["render", "--spec", "{terraform}/migration.yaml"],
        "replication.batch_size",
        EXAMPLE_TEXT.replace("replication:\n", "replication:\n  batch_size: 0\n", 1),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_COMMANDS))
def test_bad_command_line_is_one_error_paragraph_with_exit_2_and_changes_nothing(
    case, project, tmp_path, capsys, monkeypatch
):
    command = BAD_COMMANDS[case]
    monkeypatch.setenv("TURNOUT_WORK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("TURNOUT_SPEC", str(project / "migration.yaml"))
    monkeypatch.delenv("TURNOUT_AWS_ENDPOINT_URL", raising=False)
    if isinstance(command.spec_text, bytes):
        (project / "migration.yaml").write_bytes(command.spec_text)
    elif command.spec_text is not None:
        (project / "migration.yaml").write_text(command.spec_text)
    argv = [part.format(tmp=tmp_path, terraform=project) for part in command.argv]
    before = tree_digest(tmp_path)
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.err.startswith("error: "), captured.err
    assert_one_clear_paragraph(captured.err, command.culprit)
    assert "Traceback" not in captured.out
    assert tree_digest(tmp_path) == before, "a refused command changed files"
    assert not (tmp_path / "work").exists()


def test_usage_errors_point_at_the_commands_help(capsys):
    assert main(["plan", "--env", "staging"]) == 2
    err = capsys.readouterr().err
    assert "'old', 'new'" in err, "names what is valid"
    assert "`turnout plan --help`" in err


# --------------------------------------------------------------------------- hook files


BAD_HOOK_FILES: dict[str, tuple[str, str]] = {
    "syntax_error": ("def run(:\n    pass\n", "SyntaxError"),
    "import_error": ("import turnout_no_such_module\n", "ModuleNotFoundError"),
    "error_at_import_time": ("raise RuntimeError('configure me first')\n", "configure me first"),
    "calls_sys_exit_at_import": ("import sys\nsys.exit(3)\n", "SystemExit"),
    "no_hook_class": ("def run(context):\n    return {}\n", "exactly one subclass"),
    "two_hook_classes": (
        "from turnout.hooks import Hook\n"
        "class A(Hook):\n    def run(self, context):\n        return {}\n"
        "class B(Hook):\n    def run(self, context):\n        return {}\n",
        "found 2",
    ),
    "no_run_method": (
        "from turnout.hooks import Hook\nclass Lazy(Hook):\n    pass\n",
        "defines no run(context)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_HOOK_FILES))
def test_bad_hook_file_is_refused_when_loaded_naming_the_file(case, tmp_path):
    source, culprit = BAD_HOOK_FILES[case]
    hook_file = tmp_path / "hooks" / "broken.py"
    hook_file.parent.mkdir()
    hook_file.write_text(source)
    before = tree_digest(tmp_path / "hooks")
    with pytest.raises(HookError) as raised:
        load_hook(tmp_path / "hooks", "broken")
    assert_one_clear_paragraph(str(raised.value), culprit)
    assert str(hook_file) in str(raised.value)
    assert tree_digest(tmp_path / "hooks") == before


TYPED_HOOK = """
from turnout.hooks import Hook, HookArgs

class Typed(Hook):
    class Args(HookArgs):
        environment: str
        attempts: int

    def run(self, context):
        return {}
"""

BAD_HOOK_ARGUMENTS: dict[str, tuple[dict, str]] = {
    "wrong_type": ({"environment": "old", "attempts": "many"}, "'attempts'"),
    "missing_argument": ({"environment": "old"}, "'attempts'"),
    "unknown_argument": ({"environment": "old", "attempts": 1, "colour": "red"}, "'colour'"),
    "list_for_text": ({"environment": ["old"], "attempts": 1}, "'environment'"),
}


@pytest.mark.parametrize("case", sorted(BAD_HOOK_ARGUMENTS))
def test_bad_hook_arguments_fail_the_hooks_model_naming_the_argument(case, tmp_path):
    arguments, culprit = BAD_HOOK_ARGUMENTS[case]
    (tmp_path / "typed.py").write_text(TYPED_HOOK)
    with pytest.raises(HookError) as raised:
        load_hook(tmp_path, "typed", arguments)
    assert_one_clear_paragraph(str(raised.value), culprit)
    assert "hook 'typed'" in str(raised.value)


MISBEHAVING_HOOKS: dict[str, tuple[str, str]] = {
    "returns_a_list": ("return ['done']", "returned a list"),
    "returns_a_string": ("return 'ok'", "returned a str"),
    "raises_a_plain_exception": ("raise KeyError('shard-0001')", "raised KeyError"),
    "raises_zero_division": ("return {'rate': 1 / 0}", "raised ZeroDivisionError"),
}


@pytest.mark.parametrize("case", sorted(MISBEHAVING_HOOKS))
@pytest.mark.parametrize("timeout", [None, 30], ids=["inline", "with-timeout"])
def test_a_misbehaving_hook_becomes_a_hook_failure_naming_the_hook(case, timeout, tmp_path):
    body, culprit = MISBEHAVING_HOOKS[case]
    (tmp_path / "misbehaves.py").write_text(
        "from turnout.hooks import Hook\n"
        f"class Misbehaves(Hook):\n    def run(self, context):\n        {body}\n"
    )
    step = HookStep("misbehaves-step", "misbehaves", timeout_seconds=timeout)
    context = SimpleNamespace(deadline=None)
    with pytest.raises(TurnoutError) as raised:
        HookRunner(tmp_path).run(step, None, context)
    assert_one_clear_paragraph(str(raised.value), culprit)
    assert "misbehaves" in str(raised.value)


def test_the_corpus_has_at_least_forty_new_bad_inputs():
    unit_cases = (
        len(BAD_SPECS)
        + 1
        + len(BAD_TEMPLATES)
        + 1
        + len(BAD_COMMANDS)
        + len(BAD_HOOK_FILES)
        + len(BAD_HOOK_ARGUMENTS)
        + len(MISBEHAVING_HOOKS)
    )
    assert unit_cases >= 40, unit_cases
