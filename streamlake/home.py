"""Where local state lives: everything under ``var/`` (or ``$STREAMLAKE_HOME``).

Read at call time, never at import, so tests can point it elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    """The root of all local state: ``$STREAMLAKE_HOME`` or ``<repo>/var``."""
    override = os.environ.get("STREAMLAKE_HOME")
    return Path(override).resolve() if override else _REPO_ROOT / "var"


def lake_dir() -> Path:
    return home() / "lake"


def checkpoint_dir() -> Path:
    return home() / "checkpoints"


def stack_dir() -> Path:
    return home() / "stack"


def logs_dir() -> Path:
    return home() / "logs"


def reports_dir() -> Path:
    return home() / "reports"
