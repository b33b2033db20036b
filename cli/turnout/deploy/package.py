"""Build the replicator's Lambda zip deterministically (no archive provider is available offline).

The same source always gives the same bytes, so the zip's hash is stable and can be committed in
the rendered tfvars: a pull request that changes the handler shows a new hash.
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

HANDLER_SOURCE = Path(__file__).parents[1] / "lambdas" / "replicator.py"
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


def build_replicator_package(source: Path = HANDLER_SOURCE) -> LambdaPackage:
    if not source.is_file():
        raise RenderError(
            f"{source}: the replicator's handler is missing, so its Lambda package cannot be "
            f"built; reinstall turnout or restore the file from the repository."
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        entry = zipfile.ZipInfo("replicator.py", date_time=_FIXED_TIMESTAMP)
        entry.external_attr = 0o644 << 16
        entry.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(entry, source.read_bytes())
    return LambdaPackage(PACKAGE_RELATIVE_PATH, buffer.getvalue())
