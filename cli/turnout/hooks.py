"""The hook interface: a tiny base with one `run()`, arguments validated by a pydantic model.

A hook is a Python file in the project's `hooks/` folder defining one subclass of `Hook`. The
engine builds it with the arguments the step table (or the spec, for user hooks) gives, calls
`run(context)`, and keeps the returned dict as data for later hooks (`context.results`). A hook
reports failure by raising `HookFailed` (never `sys.exit`); a failing pre-apply hook blocks the
apply.

    class PauseConsumers(Hook):
        class Args(HookArgs):
            environment: Literal["old", "new"]

        def run(self, context: HookContext) -> dict:
            ...
            return {"paused": [...]}
"""

from __future__ import annotations

import abc
import importlib.util
import inspect
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from turnout.errors import TurnoutError


class HookFailed(TurnoutError):
    """A hook could not do its job or found a precondition false. The message says which."""


class HookError(TurnoutError):
    """A hook file or its arguments are wrong (a configuration problem, found before running)."""


class HookArgs(BaseModel):
    """Base for a hook's arguments: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class HookContext:
    """What a hook may use: the spec, AWS access per environment, earlier results, progress."""

    spec: Any
    aws: Any
    phase_from: str
    phase_to: str
    project_root: Path
    results: dict[str, dict] = field(default_factory=dict)
    progress: Callable[[str], None] = print
    dry_run: bool = False
    deadline: float | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    # Where a hook may keep files (data store manifests); None when the engine has none.
    work_dir: Path | None = None
    # When the live phase (phase_from) was reached (ISO-8601, from the journal), if known.
    phase_since: str | None = None
    # When the switch (baseline->switched) first started (ISO-8601, from the journal): the
    # preflight compares the new consumers' AT_TIMESTAMP with it. None before the switch.
    switched_at: str | None = None

    def client(self, environment: str, service: str) -> Any:
        return self.aws.client(environment, service)

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()


class Hook(abc.ABC):
    """Subclass it, give it an `Args` model and a `run()`; return data as a dict."""

    name: ClassVar[str] = ""
    Args: ClassVar[type[HookArgs]] = HookArgs

    def __init__(self, args: dict | None = None):
        try:
            self.args = self.Args.model_validate(args or {})
        except ValidationError as invalid:
            problems = "; ".join(
                f"'{'.'.join(str(part) for part in error['loc']) or '(arguments)'}': {error['msg']}"
                for error in invalid.errors(include_url=False)
            )
            raise HookError(f"hook '{self.hook_name()}': invalid arguments: {problems}.") from None

    @classmethod
    def hook_name(cls) -> str:
        return cls.name or cls.__module__.rsplit(".", 1)[-1]

    def describe(self) -> str:
        """One line for dry runs and the journal."""
        arguments = ", ".join(f"{key}={value!r}" for key, value in self.args.model_dump().items())
        return f"{self.hook_name()}({arguments})"

    @abc.abstractmethod
    def run(self, context: HookContext) -> dict:
        """Do the hook's job; return what it saw or did. Raise HookFailed on failure."""


def load_hook_class(path: Path) -> type[Hook]:
    """Import a hook file and return its one Hook subclass."""
    if not path.is_file():
        raise HookError(
            f"{path}: no such hook file; hooks are Python files in the project's hooks/ folder."
        )
    module_name = f"turnout_hook_{path.stem}"
    specification = importlib.util.spec_from_file_location(module_name, path)
    if specification is None or specification.loader is None:
        raise HookError(f"{path}: cannot be imported as a Python module.")
    module = importlib.util.module_from_spec(specification)
    sys.modules[module_name] = module
    try:
        specification.loader.exec_module(module)
    except (Exception, SystemExit) as problem:  # a hook file calling sys.exit() is a bad file
        sys.modules.pop(module_name, None)
        raise HookError(
            f"{path}: importing the hook failed: {type(problem).__name__}: {problem}."
        ) from None
    found = [
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, Hook)
        and value is not Hook
        and value.__module__ == module_name
    ]
    if len(found) != 1:
        raise HookError(
            f"{path}: a hook file must define exactly one subclass of turnout.hooks.Hook; found {len(found)}."
        )
    hook_class = found[0]
    if inspect.isabstract(hook_class):
        raise HookError(
            f"{path}: the hook class {hook_class.__name__} defines no run(context) method."
        )
    if not hook_class.name:
        hook_class.name = path.stem
    return hook_class


def load_hook(hooks_dir: Path, name: str, args: dict | None = None) -> Hook:
    """Build the hook `hooks_dir/<name>.py` with `args`."""
    return load_hook_class(hooks_dir / f"{name}.py")(args)
