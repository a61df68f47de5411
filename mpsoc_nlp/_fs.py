"""The one home for writing files safely: output checks, exclusive atomic publishing, markers, the umask.

* :func:`check_output_path` is the one check every command's output goes through, before any
  work: an output is never an input, never holds an input or the working folder, never lies
  inside an input folder; an existing output is replaced only with ``force``, and a folder only
  when it carries our marker file (:data:`MARKER`) of the same kind.
* :class:`atomic_file` and :class:`atomic_folder` build an output under a temporary name beside
  the target (``.NAME.mpsoc-HOST-PID-XXXX.tmp``) and publish it exclusively: a file by a hard link
  (create-if-absent), a folder by a rename onto a path that must not exist. The second of two
  racing runs gets :class:`~mpsoc_nlp.errors.OutputExistsError` (exit 2) and keeps nothing.
  An interrupted run (an exception, Ctrl-C, SIGTERM through the CLI) removes its temporary file;
  a run killed outright leaves it, and the next run that writes into the same folder sweeps it
  (only ours: the name pattern, this host, a process id that is no longer alive).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import OutputExistsError

__all__ = [
    "MARKER",
    "PathArg",
    "apply_umask",
    "atomic_file",
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_folder",
    "check_output_path",
    "discard_folder",
    "is_our_folder",
    "sha256_file",
    "sweep_stale_temps",
    "write_marker",
]

PathArg = str | os.PathLike[str]
"""What every function that takes a file or folder accepts."""

MARKER = ".mpsoc-output.json"
"""The file in every folder mpsoc publishes: its kind and the library version (what lets ``--force`` replace it)."""

_TMP_RE = re.compile(r"\.mpsoc-(?P<host>[A-Za-z0-9_]+)-(?P<pid>\d+)-[A-Za-z0-9_]*\.tmp$")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname())[:40] or "host"


def _tmp_prefix(name: str) -> str:
    """The start of the temporary name of ``name``: ``.NAME.mpsoc-HOST-PID-`` (then random, then ``.tmp``)."""
    return f".{name}.mpsoc-{_host()}-{os.getpid()}-"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def apply_umask(path: PathArg) -> None:
    """Give a temporary file or folder (created 0600/0700) the mode a plain ``open``/``mkdir`` would."""
    p = Path(path)
    base = 0o777 if p.is_dir() else 0o666
    os.chmod(p, base & ~_umask())


def sha256_file(path: PathArg) -> str:
    """The sha256 (hex) of a file's bytes, read in blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's live process
        return True
    return True


def sweep_stale_temps(folder: PathArg) -> list[str]:
    """Remove our temporary files and folders in ``folder`` left by dead processes of this host.

    Only names of our pattern (``.NAME.mpsoc-HOST-PID-XXXX.tmp``) are touched, only those of this
    host (a shared file system may hold live runs of other nodes) and only when the process is no
    longer alive. Returns the names removed.
    """
    removed: list[str] = []
    host = _host()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TMP_RE.search(entry.name)
        if not entry.name.startswith(".") or m is None or m.group("host") != host or _alive(int(m.group("pid"))):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed.append(entry.name)
        except OSError:
            continue
    return removed


# --------------------------------------------------------------------------------------------
# markers and the output check
# --------------------------------------------------------------------------------------------


def write_marker(folder: PathArg, kind: str) -> None:
    """Mark ``folder`` as an output of ours of ``kind`` (a hidden file; no content a user reads)."""
    text = json.dumps({"written_by": "mpsoc-nlp", "kind": kind, "library_version": __version__}) + "\n"
    (Path(folder) / MARKER).write_text(text, encoding="utf-8")


def is_our_folder(folder: PathArg, kind: str) -> bool:
    """Whether ``folder`` is a real folder (not a link) that carries our marker of ``kind``."""
    p = Path(folder)
    if p.is_symlink() or not p.is_dir():
        return False
    try:
        data = json.loads((p / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("written_by") == "mpsoc-nlp" and data.get("kind") == kind


def _real(path: PathArg) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def _within(inner: Path, outer: Path) -> bool:
    """``inner`` is ``outer`` or lies below it (both real, absolute paths)."""
    return inner == outer or outer in inner.parents


def check_output_path(
    out: PathArg,
    inputs: Sequence[PathArg | None] = (),
    *,
    force: bool,
    kind: str | None = None,
    legacy: Callable[[Path], bool] | None = None,
) -> Path:
    """The one output check of every command; call it before any work.

    Parameters
    ----------
    out : path
        The output: a file, or with ``kind`` a folder.
    inputs : paths
        Every path the command reads (data files, model folder, codebook, mapping, config,
        project); ``None`` entries are skipped.
    force : bool
        Replace an existing output: a file that is no input, or a folder of our ``kind``.
    kind : str, optional
        The kind of folder the command publishes (``"model"``, ``"evaluation"``, ...); ``None``
        for a file.
    legacy : callable, optional
        With ``kind``: accepts a folder of this kind written by an earlier version (no marker).

    Raises
    ------
    OutputExistsError
        The output is, holds or lies above an input or the working folder, lies inside an
        input folder, exists without ``force``, or is not ours to replace.
    """
    out_p = Path(out)
    real = _real(out_p)
    cwd = _real(os.getcwd())
    if _within(cwd, real):
        where = "the working folder" if real == cwd else "a folder above the working folder"
        raise OutputExistsError(f"{out_p} is {where}; write the output to a new file or folder")
    for inp in inputs:
        if inp is None:
            continue
        r = _real(inp)
        same = r == real
        if not same and os.path.exists(inp) and os.path.exists(out_p):
            same = os.path.samefile(inp, out_p)
        if same:
            raise OutputExistsError(f"{out_p} is one of the inputs; write the output to another file")
        if _within(r, real):
            raise OutputExistsError(f"{out_p} holds the input {inp}; write the output to a new file or folder")
        if _within(real, r):
            raise OutputExistsError(
                f"{out_p} lies inside the input folder {inp}; write the output to a new file or folder outside it"
            )
    if not os.path.lexists(out_p):
        return out_p
    if not force:
        raise OutputExistsError(f"{out_p} exists already; choose another --out or pass --force to replace it")
    if kind is None:
        if out_p.is_dir():
            raise OutputExistsError(f"{out_p} is a folder; --out needs a file name")
        return out_p
    if out_p.is_symlink() or not out_p.is_dir():
        raise OutputExistsError(f"{out_p} exists and is not a folder; choose another --out")
    if not (is_our_folder(out_p, kind) or (legacy is not None and legacy(out_p))):
        raise OutputExistsError(
            f"{out_p} is not a {kind} folder that mpsoc wrote (it has no {MARKER} of that kind); --force replaces "
            "only mpsoc's own outputs, never another folder: choose another --out, or empty or remove it yourself"
        )
    return out_p


def discard_folder(path: PathArg, kind: str) -> None:
    """Remove a folder of ours of ``kind`` (it carries our marker), never any other.

    The folder is first renamed to a temporary name beside it (one atomic step: nobody sees it
    half deleted, and a run killed meanwhile leaves a name :func:`sweep_stale_temps` removes),
    then deleted. A folder that another run removed meanwhile is no error.
    """
    p = Path(path)
    if not os.path.lexists(p):
        return
    if not is_our_folder(p, kind):
        raise OutputExistsError(f"{p} is not a {kind} folder that mpsoc wrote; it is left alone")
    aside = p.with_name(f"{_tmp_prefix(p.name)}{os.urandom(4).hex()}.tmp")
    try:
        os.rename(p, aside)
    except FileNotFoundError:
        return
    shutil.rmtree(aside, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# exclusive publishing
# --------------------------------------------------------------------------------------------


def _meanwhile(path: Path) -> OutputExistsError:
    return OutputExistsError(
        f"{path} was written by another run meanwhile; this run's output was not kept (choose another --out, "
        "or pass --force to replace it)"
    )


def _claim(path: Path) -> None:
    """Create ``path`` as an empty file, exclusively (the fallback where hard links are not supported)."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        raise _meanwhile(path) from None
    os.close(fd)


def _publish_file(tmp: Path, path: Path, replace: bool) -> None:
    if replace:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise _meanwhile(path) from None
    except OSError:  # no hard links on this file system: claim the name, then rename onto it
        _claim(path)
        os.replace(tmp, path)
        return
    os.unlink(tmp)


_RENAME_NOREPLACE = 1


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``, which must not exist (``FileExistsError`` if it does, even empty)."""
    libc_call: Any = None
    try:
        libc_call = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    except OSError:
        libc_call = None
    if libc_call is not None:
        at_fdcwd = -100
        rc = libc_call(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), _RENAME_NOREPLACE)
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(err, os.strerror(err), str(dst))
        if err not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(err, os.strerror(err), str(dst))
    os.mkdir(dst)  # claim the name exclusively (FileExistsError), then replace the empty folder
    try:
        os.rename(src, dst)
    except BaseException:
        os.rmdir(dst)
        raise


class atomic_file:
    """Context manager: a temporary file beside ``path``, published onto ``path`` on success.

    ``__enter__`` returns the temporary path (an empty file); on an exception it is removed and
    ``path`` is left as it was. Without ``replace`` the file is published exclusively: if
    ``path`` exists by then (another run wrote it meanwhile), :class:`OutputExistsError`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_file(out) as tmp:
    ...     _ = tmp.write_text("hei", encoding="utf-8")
    >>> out.read_text(encoding="utf-8")
    'hei'
    """

    def __init__(self, path: PathArg, *, mkdir: bool = True, replace: bool = False) -> None:
        self.path = Path(path)
        self.mkdir = mkdir
        self.replace = replace
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        if self.mkdir:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        folder = self.path.parent
        sweep_stale_temps(folder)
        fd, tmp = tempfile.mkstemp(prefix=_tmp_prefix(self.path.name), suffix=".tmp", dir=folder)
        os.close(fd)
        self.tmp = Path(tmp)
        apply_umask(tmp)
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self.tmp is not None
        try:
            if exc_type is None:
                _publish_file(self.tmp, self.path, self.replace)
        finally:
            self.tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: PathArg, data: bytes, *, replace: bool = False) -> None:
    """Write a file under a temporary name and publish it (exclusively unless ``replace``)."""
    with atomic_file(path, mkdir=False, replace=replace) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: PathArg, text: str, *, replace: bool = False) -> None:
    """Write a UTF-8 text file (line ends as given) under a temporary name and publish it."""
    with atomic_file(path, mkdir=False, replace=replace) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


class atomic_folder:
    """Context manager: build a folder of ``kind`` under a temporary name, publish it on success.

    The folder gets our marker (:data:`MARKER`). It is published by a rename onto a path that
    must not exist; with ``force`` an existing folder of ours of the same ``kind`` (or one that
    ``legacy`` accepts) is replaced, never any other (:func:`check_output_path`).
    """

    def __init__(
        self, path: PathArg, kind: str, *, force: bool = False, legacy: Callable[[Path], bool] | None = None
    ) -> None:
        self.path = Path(path)
        self.kind = kind
        self.force = force
        self.legacy = legacy
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        check_output_path(self.path, (), force=self.force, kind=self.kind, legacy=self.legacy)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale_temps(self.path.parent)
        self.tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(self.path.name), suffix=".tmp", dir=self.path.parent))
        apply_umask(self.tmp)
        write_marker(self.tmp, self.kind)
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self.tmp is not None
        try:
            if exc_type is None:
                self._publish(self.tmp)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _publish(self, tmp: Path) -> None:
        old = None
        if os.path.lexists(self.path):
            if not self.force:
                raise _meanwhile(self.path)
            check_output_path(self.path, (), force=True, kind=self.kind, legacy=self.legacy)
            old = self.path.with_name(f"{_tmp_prefix(self.path.name)}old.tmp")
            os.rename(self.path, old)
        try:
            _rename_noreplace(tmp, self.path)
        except FileExistsError:
            if old is not None:  # replaced as asked, but by the other run
                shutil.rmtree(old, ignore_errors=True)
            raise _meanwhile(self.path) from None
        except BaseException:
            if old is not None:
                os.rename(old, self.path)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
