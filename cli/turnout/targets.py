"""Where AWS is, for every command: real AWS, the running sandbox, or an emulator by URL.

This is the one place that decides it. `--sandbox` and `--endpoint-url` mean the same in every
command that takes them; nothing else imports the sandbox (the command line aside).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from turnout.aws.access import AwsAccess
from turnout.aws.endpoint import EndpointAccounts
from turnout.engine.factory import assemble_engine
from turnout.engine.runner import CutoverEngine
from turnout.errors import TurnoutError
from turnout.project import Project
from turnout.spec.loader import load_spec
from turnout.spec.model import MigrationSpec

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Target:
    """One of: AWS itself (`kind="aws"`), the running sandbox, or an emulator at a URL."""

    kind: str
    project: Project
    endpoint_url: str | None = None

    def describe(self) -> str:
        if self.kind == "sandbox":
            return "the running sandbox"
        if self.kind == "endpoint":
            return f"the emulator at {self.endpoint_url}"
        return "AWS"


def resolve_target(project: Project, sandbox: bool, endpoint_url: str | None) -> Target:
    if sandbox and endpoint_url:
        raise TurnoutError(
            "--sandbox and --endpoint-url both name where AWS is; give one of them "
            "(--sandbox for the running sandbox, --endpoint-url for another emulator)."
        )
    if sandbox:
        _sandbox_package().require_sandbox_extra()
        return Target("sandbox", project)
    if endpoint_url:
        if not endpoint_url.startswith(("http://", "https://")):
            raise TurnoutError(
                f"--endpoint-url {endpoint_url!r} is not a URL; give e.g. http://127.0.0.1:5000."
            )
        return Target("endpoint", project, endpoint_url)
    return Target("aws", project)


def aws_access(target: Target, spec: MigrationSpec) -> AwsAccess:
    """boto3 sessions and clients for both environments, at the target."""
    if target.kind == "sandbox":
        return _sandbox(target.project).client_aws(spec)
    if target.kind == "endpoint":
        assert target.endpoint_url is not None
        accounts = EndpointAccounts(target.endpoint_url)
        return AwsAccess(spec, endpoint_url=target.endpoint_url, emulator=accounts)
    return AwsAccess(spec)


def build_engine(
    project: Project, sandbox: bool, progress: Progress, spec: MigrationSpec | None = None
) -> CutoverEngine:
    """The cutover engine for AWS or for the running sandbox (its own Terraform state)."""
    spec = spec or load_spec(project.spec_path)
    target = resolve_target(project, sandbox, None)
    if target.kind == "sandbox":
        return _sandbox(project).engine(progress, spec)
    return assemble_engine(spec, AwsAccess(spec), project, project.root / "hooks", progress)


def _sandbox_package():
    try:
        import turnout.sandbox as package
    except ImportError as problem:  # pragma: no cover - the package ships with turnout
        raise TurnoutError(f"the sandbox package cannot be imported ({problem}).") from None
    return package


def _sandbox(project: Project):
    _sandbox_package().require_sandbox_extra()
    from turnout.sandbox.box import Sandbox

    return Sandbox(project)
