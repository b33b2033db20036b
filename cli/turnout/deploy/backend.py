"""Where each environment's Terraform state lives, and how Terraform is told.

The root declares a partial `backend "s3" {}` (terraform/versions.tf); turnout completes it per
environment with a `-backend-config` file: the bucket, the key `<key_prefix>/<env>.tfstate`, the
region, server-side encryption, the S3 lock file (`use_lockfile`: the lock is the object
`<key>.tflock`, written only if absent) and the role that reaches the state. On an emulator the
same backend points at the emulator's S3 (path-style, no account or region lookups).

Local state (`state: {backend: local}`, experiments only) cannot be chosen at init time: Terraform
takes a backend's type from the configuration, and an override file in terraform/ would switch
every run of the checkout at once (the sandbox, a plan of the other environment running beside
it). So a local-state run uses a mirror of the root in the work directory: links to the root's
files, modules and build, plus one `backend_override.tf` declaring `backend "local"`
(turnout.deploy.terraform). The repository itself never changes. docs/state.md explains both.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from turnout.errors import SpecError
from turnout.spec.model import MigrationSpec
from turnout.spec.names import (
    emulator_deployer_role_arn,
    state_bucket,
    state_key,
    state_region,
)


@dataclass(frozen=True)
class Backend:
    """One environment's backend: its kind and its `-backend-config` attributes."""

    kind: str  # "s3" | "local"
    environment: str
    settings: dict[str, Any] = field(default_factory=dict)
    bucket: str | None = None
    key: str | None = None
    region: str | None = None
    role_arn: str | None = None  # what the backend assumes; None: the credentials at hand

    @property
    def location(self) -> str:
        if self.kind == "local":
            return str(self.settings["path"])
        return f"s3://{self.bucket}/{self.key}"

    @property
    def lock_location(self) -> str:
        """Where a held lock is: the S3 lock file beside the state (local: Terraform's own)."""
        return f"{self.location}.tflock" if self.kind == "s3" else f"{self.location}.lock.info"

    def config_text(self) -> str:
        """The `-backend-config` file: HCL attributes, no credentials ever."""
        lines = [
            f"# Written by turnout for the {self.environment} environment's {self.kind} state."
        ]
        lines += [f"{name} = {_hcl(value)}" for name, value in sorted(self.settings.items())]
        return "\n".join(lines) + "\n"


def backend_for(
    spec: MigrationSpec,
    environment: str,
    work_dir: Path,
    endpoint_url: str | None = None,
    read_only: bool = False,
) -> Backend:
    """The backend of `environment`. On AWS the spec must say where state lives (`state:`)."""
    if spec.state is None and endpoint_url is None:
        raise SpecError(
            "the spec has no `state:` section, so there is nowhere to keep Terraform's state on "
            "AWS. Add one naming an S3 bucket, e.g. `state: {bucket: my-turnout-state, region: "
            "eu-west-1}` (create it with `turnout state bootstrap`), or `state: {backend: "
            "local}` for an experiment (docs/state.md). Nothing was changed."
        )
    if spec.state is not None and spec.state.backend == "local":
        path = work_dir / "state" / f"{environment}.tfstate"
        return Backend("local", environment, {"path": str(path)})
    role = state_role(spec, environment, endpoint_url, read_only)
    settings: dict[str, Any] = {
        "bucket": state_bucket(spec),
        "key": state_key(spec, environment),
        "region": state_region(spec),
        "encrypt": True,
        "use_lockfile": True,
    }
    if role is not None:
        settings["assume_role"] = {"role_arn": role, "session_name": f"turnout-{environment}-state"}
    if endpoint_url is not None:
        settings.update(_emulator_settings(endpoint_url))
    return Backend(
        "s3",
        environment,
        settings,
        bucket=settings["bucket"],
        key=settings["key"],
        region=settings["region"],
        role_arn=role,
    )


def state_role(
    spec: MigrationSpec, environment: str, endpoint_url: str | None, read_only: bool
) -> str | None:
    """The role Terraform's backend assumes: the spec's state role, else the environment's
    deploy role; none for a read-only plan, which reads the state with the credentials at hand.
    On an emulator, the role through which it acts in the environment's account takes the place
    of credentials it does not have (no role, no profile, or a read-only plan)."""
    place = getattr(spec.environments, environment)
    if not read_only:
        if spec.state is not None and spec.state.role_arn:
            return spec.state.role_arn
        if place.deploy_role_arn:
            return place.deploy_role_arn
    if endpoint_url is not None and (read_only or not place.profile):
        return emulator_deployer_role_arn(place.account_id)
    return None


def _emulator_settings(endpoint_url: str) -> dict[str, Any]:
    """The emulator's S3 and STS, path-style; it has no account or region lookups to skip to."""
    return {
        "endpoints": {"s3": endpoint_url, "sts": endpoint_url},
        "use_path_style": True,
        "skip_credentials_validation": True,
        "skip_requesting_account_id": True,
        "skip_metadata_api_check": True,
        "skip_region_validation": True,
    }


def _hcl(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        inner = ", ".join(f"{name} = {_hcl(item)}" for name, item in sorted(value.items()))
        return "{ " + inner + " }"
    return json.dumps(value)


LOCAL_OVERRIDE = (
    "# Written by turnout: this mirror of terraform/ keeps its state in a local file\n"
    "# (state: {backend: local} in the spec; docs/state.md). The repository's root is untouched.\n"
    'terraform {\n  backend "local" {}\n}\n'
)


LOCK_FILE = ".terraform.lock.hcl"
_LOCK_HASHES = re.compile(r"\n[ \t]*hashes[ \t]*=[ \t]*\[[^\]]*\]")


def mirror_dir(root_dir: Path, work_dir: Path, *, local_backend: bool, lock_hashes: bool) -> Path:
    """Where `mirror_root` puts its mirror of the root (one per kind of mirror)."""
    name = ("local-" if local_backend else "") + ("root" if lock_hashes else "emulator-root")
    return work_dir / name / root_dir.name


def mirror_root(
    root_dir: Path, work_dir: Path, *, local_backend: bool = True, lock_hashes: bool = True
) -> Path:
    """A mirror of the root configuration: links to the root's files and to the modules/ and
    build/ beside it (relative paths resolve as in the root), plus what differs:

    - ``local_backend``: `backend_override.tf`, a local state file (state: {backend: local});
    - not ``lock_hashes`` (runs against the local emulator): the provider lock file without its
      package hashes, so that Terraform does not hash the ~675 MB AWS provider again in every
      command (~0.9 CPU-s each) to check it against the lock. The version and constraints stay
      locked (`init -lockfile=readonly`). Runs against AWS, and `make lint`, use the committed
      lock file and its check.

    Brought up to date on every call without touching what is already right, so runs of both
    environments may call it side by side."""
    root = mirror_dir(root_dir, work_dir, local_backend=local_backend, lock_hashes=lock_hashes)
    mirror = root.parent
    root.mkdir(parents=True, exist_ok=True)
    wanted = {
        source.name: source
        for source in root_dir.iterdir()
        if source.is_file()
        and (source.suffix == ".tf" or (source.name == LOCK_FILE and lock_hashes))
    }
    for entry in root.iterdir():
        if entry.is_symlink() and wanted.get(entry.name) != Path(os.readlink(entry)):
            entry.unlink(missing_ok=True)
    links = [(root / name, source) for name, source in wanted.items()]
    links += [(mirror / sibling, root_dir.parent / sibling) for sibling in ("modules", "build")]
    for link, target in links:
        _link(link, target)
    if local_backend:
        _write_if_changed(root / "backend_override.tf", LOCAL_OVERRIDE)
    if not lock_hashes and (root_dir / LOCK_FILE).is_file():
        unhashed = _LOCK_HASHES.sub("", (root_dir / LOCK_FILE).read_text())
        _write_if_changed(root / LOCK_FILE, unhashed)
    return root


def _write_if_changed(path: Path, text: str) -> None:
    if path.is_file() and not path.is_symlink() and path.read_text() == text:
        return
    staging = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    staging.write_text(text)
    os.replace(staging, path)  # whole, even with a run beside this one writing it too


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    if link.is_symlink():
        link.unlink(missing_ok=True)
    with contextlib.suppress(FileExistsError):  # made by a run beside this one just now
        link.symlink_to(target)
