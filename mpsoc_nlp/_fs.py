"""The one home for writing files safely: atomic files and folders, output checks, the umask.

Every writer in the package builds its output under a temporary name beside the target and
renames it into place when complete, so an interrupted run leaves no partial output; and every
command checks its output path the same way before it starts (never an input, never an existing
output without ``force``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import OutputExistsError

__all__ = [
    "PathArg",
    "apply_umask",
    "atomic_file",
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_folder",
    "check_output_path",
]

PathArg = str | os.PathLike[str]
"""What every function that takes a file or folder accepts."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def apply_umask(path: PathArg) -> None:
    """Give a temporary file or folder (created 0600/0700) the mode a plain ``open``/``mkdir`` would."""
    p = Path(path)
    base = 0o777 if p.is_dir() else 0o666
    os.chmod(p, base & ~_umask())


class atomic_file:
    """Context manager: a temporary file beside ``path``, renamed onto ``path`` on success.

    ``__enter__`` returns the temporary path (an empty file); on an exception it is removed and
    ``path`` is left as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_file(out) as tmp:
    ...     _ = tmp.write_text("hei", encoding="utf-8")
    >>> out.read_text(encoding="utf-8")
    'hei'
    """

    def __init__(self, path: PathArg, *, mkdir: bool = True) -> None:
        self.path = Path(path)
        self.mkdir = mkdir
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        if self.mkdir:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent or ".")
        os.close(fd)
        apply_umask(tmp)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
            return
        try:
            os.replace(self.tmp, self.path)
        except BaseException:
            self.tmp.unlink(missing_ok=True)
            raise


def atomic_write_bytes(path: PathArg, data: bytes) -> None:
    """Write a file under a temporary name and rename it into place."""
    with atomic_file(path, mkdir=False) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: PathArg, text: str) -> None:
    """Write a UTF-8 text file (line ends as given) under a temporary name and rename it into place."""
    with atomic_file(path, mkdir=False) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


class atomic_folder:
    """Context manager: build a folder under a temporary name, rename it into place on success."""

    def __init__(self, path: PathArg, *, force: bool = False) -> None:
        self.path = Path(path)
        self.force = force
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        if self.path.exists() and not self.force:
            raise OutputExistsError(f"{self.path} exists already; choose another --out or pass --force to replace it")
        if self.path.exists() and not self.path.is_dir():
            raise OutputExistsError(f"{self.path} exists and is not a folder")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent))
        apply_umask(self.tmp)
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        old = None
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old-{os.getpid()}")
            os.replace(self.path, old)
        os.replace(self.tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def check_output_path(out: PathArg, inputs: Sequence[PathArg], *, force: bool) -> Path:
    """Refuse to overwrite an input, or an existing output without ``force``."""
    out_p = Path(out)
    for inp in inputs:
        p = Path(inp)
        if p.exists() and out_p.exists() and os.path.samefile(p, out_p):
            raise OutputExistsError(f"{out_p} is one of the inputs; write the output to another file")
        if p.resolve() == out_p.resolve():
            raise OutputExistsError(f"{out_p} is one of the inputs; write the output to another file")
    if out_p.exists() and not force:
        raise OutputExistsError(f"{out_p} exists already; choose another --out or pass --force to replace it")
    if out_p.is_dir():
        raise OutputExistsError(f"{out_p} is a folder; --out needs a file name")
    return out_p
