"""Build the replicator's Lambda zip deterministically (no archive provider is available offline).

The replicator is the package `turnout/lambdas/replicator/`, zipped as `replicator/*.py` at the
root of the archive so that the handler string `replicator.handler` (modules/replicator) finds
`handler` in `replicator/__init__.py`. Files go in sorted order with fixed timestamps and modes
(no `__pycache__`), so the same source always gives the same bytes, the zip's hash is stable and
can be committed in the rendered tfvars: a pull request that changes the handler shows a new hash.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

from turnout.errors import RenderError

HANDLER_SOURCE = Path(__file__).parents[1] / "lambdas" / "replicator"
HANDLER_NAME = "replicator.handler"
PACKAGE_RELATIVE_PATH = "build/replicator.zip"
_FIXED_TIMESTAMP = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class LambdaPackage:
    relative_path: str
    content: bytes

    @property
    def sha256_base64(self) -> str:
        """The form Terraform's source_code_hash and Lambda's CodeSha256 use."""
        return base64.b64encode(hashlib.sha256(self.content).digest()).decode("ascii")

    def write(self, project_root: Path) -> Path:
        target = project_root / self.relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_bytes() != self.content:
            partial = target.with_name(
                f"{target.name}.{os.getpid()}.{threading.get_ident()}.partial"
            )
            partial.write_bytes(self.content)
            partial.replace(target)
        return target


def replicator_files(source: Path = HANDLER_SOURCE) -> dict[str, bytes]:
    """Archive name -> content of the replicator's code: `replicator/<module>.py` for the
    package, or `replicator.py` for a single-file handler (tests build those)."""
    if source.is_file():
        return {"replicator.py": source.read_bytes()}
    modules = sorted(source.glob("*.py")) if source.is_dir() else []
    if not any(module.name == "__init__.py" for module in modules):
        raise RenderError(
            f"{source}: the replicator's handler is missing, so its Lambda package cannot be "
            f"built; reinstall turnout or restore the directory from the repository."
        )
    return {f"replicator/{module.name}": module.read_bytes() for module in modules}


def build_replicator_package(source: Path = HANDLER_SOURCE) -> LambdaPackage:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(replicator_files(source).items()):
            entry = zipfile.ZipInfo(name, date_time=_FIXED_TIMESTAMP)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(entry, content)
    return LambdaPackage(PACKAGE_RELATIVE_PATH, buffer.getvalue())
