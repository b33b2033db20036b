"""Hook files are checked when loaded: a wrong file is a clear error, not a traceback later."""

import pytest

from turnout.hooks import HookError, load_hook


def test_a_hook_without_run_is_refused_when_loaded(tmp_path):
    (tmp_path / "lazy.py").write_text(
        "from turnout.hooks import Hook\n\nclass Lazy(Hook):\n    pass\n"
    )
    with pytest.raises(HookError, match="defines no run"):
        load_hook(tmp_path, "lazy")


def test_a_missing_hook_file_names_the_folder(tmp_path):
    with pytest.raises(HookError, match="no such hook file"):
        load_hook(tmp_path, "absent")


def test_hook_arguments_are_validated(tmp_path):
    (tmp_path / "greet.py").write_text(
        "from turnout.hooks import Hook, HookArgs\n\n"
        "class Greet(Hook):\n"
        "    class Args(HookArgs):\n        who: str\n\n"
        "    def run(self, context):\n        return {'hello': self.args.who}\n"
    )
    assert load_hook(tmp_path, "greet", {"who": "ops"}).run(None) == {"hello": "ops"}
    with pytest.raises(HookError, match="invalid arguments"):
        load_hook(tmp_path, "greet", {"whom": "ops"})
