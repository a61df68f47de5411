"""File-system helpers shared by the writers: permissions as the user's umask asks."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["apply_umask"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike[str]) -> None:
    """Give a temporary file or folder (created 0600/0700) the mode a plain ``open``/``mkdir`` would."""
    p = Path(path)
    base = 0o777 if p.is_dir() else 0o666
    os.chmod(p, base & ~_umask())
