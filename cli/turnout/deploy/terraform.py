"""The one adapter between turnout and Terraform.

python-terraform (the project's chosen wrapper) has not been released since 2019, so every call to it stays
in this module: the rest of turnout asks for `init`, `plan`, `show_plan`, `apply` and never builds
a command line itself.

Each environment gets its own Terraform data directory under the work directory and its own
backend (turnout.deploy.backend): an S3 object per environment with its lock file beside it, or,
for experiments, a local file run from a mirror of the root. Nothing is written into the
repository (the provider lock file beside the root is committed and only read).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_terraform import IsFlagged, IsNotFlagged
from python_terraform import Terraform as _PythonTerraform

from turnout.deploy.backend import LOCK_FILE, Backend, mirror_dir, mirror_root
from turnout.deploy.state_lock import lock_holder, state_locked
from turnout.deploy.terraform_runs import RunLog
from turnout.errors import TerraformError

# `terraform init` writes the provider lock file beside the root configuration: one at a time.
_INIT_LOCK = threading.Lock()
# Every Terraform command starts the AWS provider, which builds the schema of some 1,500
# resource types in each process (a plan starts three). Go collects garbage at GOGC=100 by
# default; at 400 a plan takes about a fifth less CPU for ~150 MB more memory per process
# (docs/architecture.md, "What one plan and apply run"). A GOGC set in the environment is kept.
TERRAFORM_GOGC = "400"
EMULATOR_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "turnout-emulator",
    "AWS_SECRET_ACCESS_KEY": "turnout-emulator",
    "AWS_SESSION_TOKEN": "",
}


@dataclass
class TerraformSettings:
    """Where Terraform runs and how it gets its provider."""

    root_dir: Path
    work_dir: Path
    binary: str = "terraform"
    provider_mirror: Path | None = None
    aws_endpoint_url: str | None = None
    stream_output: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)
    backend: Backend | None = None  # required by init; output/show reuse the initialised one
    profile: str | None = None  # the environment's named profile (AWS_PROFILE for Terraform)
    read_only: bool = False  # review plan: no state lock, no deploy role assumed
    lock_timeout: str = "10s"


class TerraformRunner:
    """Terraform for one environment of the root configuration."""

    def __init__(self, settings: TerraformSettings, environment: str):
        self.settings = settings
        self.environment = environment
        self.binary = _resolve_binary(settings.binary)
        self.env_dir = settings.work_dir / "terraform" / environment
        self.plan_path = settings.work_dir / "plans" / f"{environment}.tfplan"
        self._tf = _PythonTerraform(
            working_dir=str(settings.root_dir), terraform_bin_path=self.binary
        )
        self.runs = RunLog(self.env_dir)
        self.notes: list[str] = []  # what this runner did besides the commands (a lock removed)

    @property
    def state_path(self) -> Path:
        """Where a local backend keeps this environment's state (and `state migrate` reads it)."""
        return self.settings.work_dir / "state" / f"{self.environment}.tfstate"

    @property
    def _mirror(self) -> dict[str, bool] | None:
        """How the root's mirror differs from it (backend.mirror_root), or None: no mirror."""
        backend = self.settings.backend
        local_backend = backend is not None and backend.kind == "local"
        lock_hashes = self.settings.aws_endpoint_url is None
        if not local_backend and lock_hashes:
            return None
        return {"local_backend": local_backend, "lock_hashes": lock_hashes}

    @property
    def root(self) -> Path:
        """Where Terraform runs: the root itself, or its mirror (a local state file; on the
        emulator, a lock file without package hashes)."""
        mirror = self._mirror
        if mirror is None:
            return self.settings.root_dir
        if self.settings.backend is None:  # output/show: in a mirror an init of this work dir made
            return self._initialised_mirror(mirror["lock_hashes"])
        return mirror_dir(self.settings.root_dir, self.settings.work_dir, **mirror)

    def _initialised_mirror(self, lock_hashes: bool) -> Path:
        """A mirror an init with a backend made in this work dir (the S3 backend's first), else
        the root (whose lock file is the committed one: a command there checks the provider
        against its hash)."""
        for local_backend in (False, True):
            found = mirror_dir(
                self.settings.root_dir,
                self.settings.work_dir,
                local_backend=local_backend,
                lock_hashes=lock_hashes,
            )
            if found.is_dir():
                return found
        return self.settings.root_dir

    def init(self, migrate_state: bool = False) -> None:
        """`terraform init` with this environment's backend (skipped when nothing it depends on
        changed). `migrate_state`: Terraform copies the state of the backend the data dir was
        initialised with last into this one (`-migrate-state -force-copy`)."""
        backend = self.settings.backend
        if backend is None:
            raise TerraformError(
                f"internal: no backend given for the {self.environment} environment's init."
            )
        self.env_dir.mkdir(parents=True, exist_ok=True)
        if backend.kind == "local":
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
        mirror = self._mirror
        if mirror is not None:
            mirror_root(self.settings.root_dir, self.settings.work_dir, **mirror)
        self.backend_file.write_text(backend.config_text())
        stamp = self.env_dir / "init.stamp"
        fingerprint = self._init_fingerprint()
        if stamp.is_file() and stamp.read_text() == fingerprint and not migrate_state:
            return
        with _INIT_LOCK:
            self._init(migrate_state)
        stamp.write_text(fingerprint)

    @property
    def backend_file(self) -> Path:
        return self.env_dir / "backend.hcl"

    def _init_fingerprint(self) -> str:
        """What `init` depends on: the configuration's files and provider lock, the backend,
        the mirror."""
        digest = hashlib.sha256()
        root = self.settings.root_dir
        lock = [root / LOCK_FILE] if (root / LOCK_FILE).is_file() else []
        for path in sorted([*root.glob("*.tf"), *root.parent.glob("modules/**/*.tf"), *lock]):
            digest.update(str(path).encode())
            digest.update(path.read_bytes())
        digest.update(self.backend_file.read_bytes())
        digest.update(str(self.root).encode())
        digest.update(str(self.settings.provider_mirror).encode())
        return digest.hexdigest()

    def _init(self, migrate_state: bool = False) -> None:
        switch = (
            {"migrate_state": IsFlagged, "force_copy": IsFlagged}
            if migrate_state
            else {"reconfigure": IsFlagged}
        )
        # A mirror's lock file without package hashes stays without them (backend.mirror_root).
        # (A root without a lock file yet gets one in its mirror, written by this init.)
        mirror = self._mirror
        unhashed = mirror is not None and not mirror["lock_hashes"]
        readonly = unhashed and (self.settings.root_dir / LOCK_FILE).is_file()
        lockfile = {"lockfile": "readonly"} if readonly else {}
        self._run(
            "init",
            backend_config=str(self.backend_file),
            input=False,
            no_color=IsFlagged,
            **switch,
            **lockfile,
        )

    def init_without_backend(self) -> None:
        """For `terraform validate` of a module or root: providers only, no state."""
        self.env_dir.mkdir(parents=True, exist_ok=True)
        with _INIT_LOCK:
            self._run("init", backend=False, input=False, no_color=IsFlagged)

    def plan(self, var_files: list[Path], destroy: bool = False) -> Path:
        """Plan to the saved plan file and return its path."""
        self.plan_path.parent.mkdir(parents=True, exist_ok=True)
        self._run(
            "plan",
            var_file=[str(path) for path in self._var_files(var_files)],
            out=str(self.plan_path),
            input=False,
            lock=not self.settings.read_only,
            lock_timeout=self.settings.lock_timeout,
            destroy=IsFlagged if destroy else IsNotFlagged,
            no_color=IsFlagged,
        )
        return self.plan_path

    def plan_messages(self, var_files: list[Path]) -> list[dict]:
        """Plan to the saved plan file; return Terraform's machine-readable messages about it
        (``plan -json``: one JSON object per line, each planned change among them), from which
        the plan is summarised without ``show -json``, a further process that loads every
        provider schema again."""
        self.plan_path.parent.mkdir(parents=True, exist_ok=True)
        out = self._run(
            "plan",
            var_file=[str(path) for path in self._var_files(var_files)],
            out=str(self.plan_path),
            input=False,
            lock=not self.settings.read_only,
            lock_timeout=self.settings.lock_timeout,
            json=IsFlagged,
            capture=True,
        )
        return json_messages(out)

    def show_plan(self, plan_path: Path | None = None) -> dict:
        out = self._run(
            "show",
            str(plan_path or self.plan_path),
            json=IsFlagged,
            no_color=IsFlagged,
            capture=True,
        )
        try:
            return json.loads(out)
        except json.JSONDecodeError as problem:
            raise TerraformError(
                f"terraform show -json printed something that is not JSON ({problem.msg}); "
                f"check that {self.binary} is Terraform 1.10 or newer."
            ) from None

    def apply(self, plan_path: Path | None = None) -> None:
        """Apply exactly a saved plan: no new plan is made, so nothing unreviewed is applied."""
        plan = plan_path or self.plan_path
        if not plan.is_file():
            raise TerraformError(
                f"no saved plan for the {self.environment} environment at {plan}; run "
                f"`turnout plan --env {self.environment}` first and review it."
            )
        self._run(
            "apply",
            str(plan),
            input=False,
            auto_approve=IsFlagged,
            no_color=IsFlagged,
            lock_timeout=self.settings.lock_timeout,
        )

    def force_unlock(self, lock_id: str) -> None:
        self._run("force-unlock", lock_id, force=IsFlagged)

    def output(self) -> dict:
        out = self._run("output", json=IsFlagged, no_color=IsFlagged, capture=True)
        return {name: value.get("value") for name, value in json.loads(out or "{}").items()}

    def validate(self) -> None:
        self._run("validate", no_color=IsFlagged)

    def _var_files(self, var_files: list[Path]) -> list[Path]:
        files = list(var_files)
        extra: dict[str, object] = {}
        if self.settings.aws_endpoint_url:
            extra["aws_endpoint_url"] = self.settings.aws_endpoint_url
        if self.settings.read_only:
            extra["assume_deploy_role"] = False
        if extra:
            run_vars = self.env_dir / "run.tfvars.json"
            run_vars.write_text(json.dumps(extra, indent=2, sort_keys=True) + "\n")
            files.append(run_vars)
        return files

    def _run(
        self,
        command: str,
        *args: str,
        capture: bool = False,
        **options,
    ) -> str:
        """python-terraform builds the command line; we run it with our own environment.

        (python-terraform can only pass os.environ to terraform, which would make concurrent
        runs for the two environments interfere, and its asynchronous mode is broken: it
        passes `synchronous` through as a terraform flag.) A ``-json`` run prints its errors as
        messages on stdout: they are read as text (`readable`). A state lock left by a terraform
        that turnout started here and that died is removed, and the command run once more
        (turnout.deploy.terraform_runs); any other held lock is refused naming its holder.
        """
        returncode, stdout, stderr = self._execute(command, *args, capture=capture, **options)
        if returncode != 0:
            if options.get("json") is IsFlagged:
                stdout, stderr = "", "\n".join(filter(None, (stderr.strip(), readable(stdout))))
            holder = lock_holder(f"{stderr}\n{stdout}")
            backend = self.settings.backend
            if holder is not None and backend is not None:
                dead = self.runs.dead_holder(holder)
                if dead is None or command == "force-unlock":
                    raise state_locked(
                        self.environment, backend.location, backend.lock_location, holder
                    )
                self._run("force-unlock", holder.lock_id, force=IsFlagged)
                self.notes.append(
                    f"removed the {self.environment} state lock {holder.lock_id} left by a "
                    f"terraform {dead['command']} (pid {dead['pid']}) that died on this host"
                )
                return self._run(command, *args, capture=capture, **options)
            raise TerraformError(self._failure(command, returncode, stderr or stdout))
        return stdout or ""

    def _execute(self, command: str, *args: str, capture: bool, **options) -> tuple[int, str, str]:
        """Run terraform (stderr always captured: errors are read; stdout streamed unless
        captured), logging the process in the environment's run log."""
        capture = capture or not self.settings.stream_output
        command_line = self._tf.generate_cmd_string(command, *args, **options)
        try:
            process = subprocess.Popen(
                command_line,
                cwd=self.root,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture else None,
                stderr=subprocess.PIPE,
                text=True,
            )
        except OSError as problem:
            raise TerraformError(f"could not run {self.binary}: {problem}.") from None
        entry = self.runs.started(process.pid, command)
        stdout, stderr = process.communicate()
        self.runs.finished(entry)
        if not capture and stderr:
            sys.stderr.write(stderr)
        return process.returncode, stdout or "", stderr or ""

    def _failure(self, command: str, returncode: int, output: str) -> str:
        detail = _tail(output or "(no output; see above)")
        if (
            command == "init"
            and "registry.terraform.io" in detail
            and not self.settings.provider_mirror
        ):
            detail += (
                " | hint: this machine cannot reach the provider registry; point "
                "TURNOUT_PROVIDER_MIRROR at a local filesystem mirror of hashicorp/aws "
                "(`make` sets it to /opt/tf-plugins when that exists)."
            )
        return (
            f"terraform {command} failed for the {self.environment} environment "
            f"(exit {returncode}): {detail}"
        )

    def _environment(self) -> dict[str, str]:
        environment = {
            **os.environ,
            "TF_DATA_DIR": str(self.env_dir / ".terraform"),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
            "GOGC": os.environ.get("GOGC", TERRAFORM_GOGC),
            **self.settings.extra_env,
        }
        if self.settings.provider_mirror:
            environment["TF_CLI_CONFIG_FILE"] = str(self._mirror_config())
        if self.settings.profile:
            # The profile acts for the provider and the backend; keys in the environment would
            # take precedence over it, so they go.
            for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
                environment.pop(name, None)
            environment["AWS_PROFILE"] = self.settings.profile
        elif self.settings.aws_endpoint_url:
            environment.update(EMULATOR_CREDENTIALS)
        return environment

    def _mirror_config(self) -> Path:
        """A CLI configuration that takes hashicorp providers only from the local mirror."""
        mirror = self.settings.provider_mirror
        if not mirror or not mirror.is_dir():
            raise TerraformError(
                f"provider mirror {mirror} is not a directory; set TURNOUT_PROVIDER_MIRROR (or "
                f"--provider-mirror) to a Terraform filesystem mirror such as /opt/tf-plugins, or "
                f"unset it to use your own Terraform CLI configuration."
            )
        config = self.settings.work_dir / "terraform.rc"
        config.parent.mkdir(parents=True, exist_ok=True)
        content = (
            "# Written by turnout: providers come only from the local mirror.\n"
            "provider_installation {\n"
            f"  filesystem_mirror {{\n    path    = {json.dumps(str(mirror))}\n"
            '    include = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/*"]\n  }\n'
            "}\n"
        )
        if not config.is_file() or config.read_text() != content:
            partial = config.with_name(f"{config.name}.{os.getpid()}.{self.environment}.partial")
            partial.write_text(content)
            partial.replace(config)
        return config


def terraform_settings(
    project: Any,
    aws_endpoint_url: str | None = None,
    stream_output: bool = False,
    **options: Any,
) -> TerraformSettings:
    """Terraform for a project's root configuration: the binary, the provider mirror and the
    emulator endpoint come from the arguments or the environment (TURNOUT_*); `options` are
    further TerraformSettings fields (backend, profile, read_only)."""
    mirror = os.environ.get("TURNOUT_PROVIDER_MIRROR")
    return TerraformSettings(
        root_dir=project.terraform_dir,
        work_dir=project.work_dir,
        binary=os.environ.get("TURNOUT_TERRAFORM_BIN", "terraform"),
        provider_mirror=Path(mirror) if mirror else None,
        aws_endpoint_url=aws_endpoint_url or os.environ.get("TURNOUT_AWS_ENDPOINT_URL") or None,
        stream_output=stream_output,
        **options,
    )


def _resolve_binary(binary: str) -> str:
    found = shutil.which(binary)
    if not found:
        raise TerraformError(
            f"the terraform binary '{binary}' was not found on PATH. Install Terraform 1.10 or "
            f"newer (https://developer.hashicorp.com/terraform/install), or point "
            f"TURNOUT_TERRAFORM_BIN / --terraform-bin at it."
        )
    return found


def _lines_and_messages(output: str) -> list[tuple[str, dict | None]]:
    """Each line of a machine-readable (``-json``) run with its message (None: not one)."""
    pairs: list[tuple[str, dict | None]] = []
    for line in output.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            message = None
        pairs.append((line, message if isinstance(message, dict) else None))
    return pairs


def json_messages(output: str) -> list[dict]:
    """The messages of a machine-readable (``-json``) run, one JSON object per line."""
    return [message for _, message in _lines_and_messages(output) if message is not None]


def readable(output: str) -> str:
    """A ``-json`` run's output as Terraform would print it for a person: each message's text,
    a diagnostic with its detail (a failed run's errors, the state lock's holder). Output
    that is not machine-readable messages is returned as it is."""
    lines = []
    for line, message in _lines_and_messages(output):
        if message is None or "@message" not in message:
            lines.append(line)
            continue
        lines.append(message["@message"])
        detail = (message.get("diagnostic") or {}).get("detail")
        if detail:
            lines.append(detail)
    return "\n".join(lines)


def _tail(text: str, lines: int = 25) -> str:
    kept = [line.rstrip() for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept)
