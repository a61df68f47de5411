"""Limits on the zip archives mpsoc reads: ``.qdpx`` projects, ``.docx`` transcripts, ``.xlsx`` tables.

A hostile or broken archive must not exhaust memory, disk or time. Before anything is unpacked,
:func:`check_archive` refuses an archive with too many members, a member that unpacks beyond
:attr:`ArchiveLimits.max_member_bytes`, all members together beyond
:attr:`ArchiveLimits.max_total_bytes`, a member compressed more than
:attr:`ArchiveLimits.max_ratio` to 1 (a zip bomb), and a member whose name leaves the archive
(``..``, an absolute path, a drive letter, a symbolic link). Each refusal is an
:class:`~mpsoc_nlp.errors.InputError` naming the file.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from ..errors import InputError, InputProblem

__all__ = ["ArchiveLimits", "DEFAULT_LIMITS", "check_archive", "check_zip_file", "unsafe_member_name"]


@dataclass(frozen=True)
class ArchiveLimits:
    """Limits that keep a hostile or broken archive from exhausting memory or disk.

    Parameters
    ----------
    max_members : int
        Files in the archive.
    max_member_bytes : int
        Uncompressed size of one file (the standard allows internal files up to 2 GiB - 1).
    max_total_bytes : int
        Uncompressed size of all files together.
    max_ratio : float
        Uncompressed/compressed size of a file larger than ``ratio_min_bytes``.
    """

    max_members: int = 50_000
    max_member_bytes: int = 512 * 2**20
    max_total_bytes: int = 2 * 2**30
    max_ratio: float = 200.0
    ratio_min_bytes: int = 2**20


DEFAULT_LIMITS = ArchiveLimits()


def unsafe_member_name(info: zipfile.ZipInfo) -> str | None:
    """Why a member name is unsafe, or ``None``."""
    name = info.filename
    if "\x00" in name:
        return "contains a NUL character"
    norm = name.replace("\\", "/")
    if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm):
        return "is an absolute path"
    if any(part == ".." for part in norm.split("/")):
        return "points outside the archive ('..')"
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):
        return "is a symbolic link"
    return None


def check_archive(zf: zipfile.ZipFile, path: str, limits: ArchiveLimits = DEFAULT_LIMITS) -> list[zipfile.ZipInfo]:
    """Check the members of an open archive against ``limits``; return them, or raise :class:`InputError`."""
    infos = zf.infolist()
    lim = limits
    if len(infos) > lim.max_members:
        raise InputError(f"refused: the archive holds {len(infos)} files (limit {lim.max_members})", path=path)
    problems = []
    total = 0
    for info in infos:
        why = unsafe_member_name(info)
        if why:
            problems.append(InputProblem(path, f"refused: the archive member {info.filename!r} {why}"))
            continue
        total += info.file_size
        if info.file_size > lim.max_member_bytes:
            problems.append(
                InputProblem(
                    path,
                    f"refused: the archive member {info.filename!r} unpacks to {info.file_size} bytes "
                    f"(limit {lim.max_member_bytes})",
                )
            )
        elif info.file_size > lim.ratio_min_bytes and info.file_size > lim.max_ratio * max(info.compress_size, 1):
            problems.append(
                InputProblem(
                    path,
                    f"refused: the archive member {info.filename!r} is compressed "
                    f"{info.file_size // max(info.compress_size, 1)} to 1 (limit {lim.max_ratio:g} to 1); "
                    "it looks like a zip bomb",
                )
            )
    if total > lim.max_total_bytes:
        message = f"refused: the archive unpacks to {total} bytes (limit {lim.max_total_bytes})"
        problems.append(InputProblem(path, message))
    if problems:
        raise InputError(problems)
    return infos


def check_zip_file(path: str | PathLike[str], what: str, limits: ArchiveLimits = DEFAULT_LIMITS) -> None:
    """Check the archive at ``path`` (a ``what``: "Word document", "Excel workbook") before a library opens it.

    A file that is not a zip archive at all is left to the library, which says so in its own words.
    """
    p = Path(path)
    try:
        zf = zipfile.ZipFile(p)
    except (zipfile.BadZipFile, OSError):
        return
    with zf:
        try:
            check_archive(zf, str(p), limits)
        except InputError as exc:
            raise InputError(
                [InputProblem(q.path, f"{q.message} (a {what} is a zip archive)") for q in exc.problems]
            ) from None
