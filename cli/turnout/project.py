"""Where a turnout project keeps its files, and the settings that come from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from turnout.errors import TurnoutError


@dataclass(frozen=True)
class Project:
    """A checkout with terraform/migration.yaml; the work dir holds state, plans and builds."""

    root: Path
    spec_path: Path
    work_dir: Path

    @property
    def terraform_dir(self) -> Path:
        return self.root / "terraform"

    @classmethod
    def locate(cls, spec: Path | None = None, work_dir: Path | None = None) -> Project:
        spec_path = (
            spec or Path(os.environ.get("TURNOUT_SPEC", "terraform/migration.yaml"))
        ).resolve()
        root = spec_path.parent.parent
        if not (root / "terraform").is_dir() or spec_path.parent != root / "terraform":
            raise TurnoutError(
                f"{spec_path}: the spec must live in a project's terraform/ directory (beside the "
                f"templates/ folder and the root configuration); pass --spec terraform/migration.yaml "
                f"from the project root."
            )
        work = work_dir or Path(os.environ.get("TURNOUT_WORK_DIR", root / ".work"))
        return cls(root=root, spec_path=spec_path, work_dir=work.resolve())
