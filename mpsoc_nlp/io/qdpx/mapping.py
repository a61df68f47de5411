"""Mapping project codes to codebook codes (a ``.toml``/``.csv`` mapping file, or labels of the codebook)."""

from __future__ import annotations

import csv
import io
import logging
import re
import sys
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from ...codebook import Codebook
from ...errors import CodebookError, InputError, InputProblem
from ..sniff import read_small_text
from .project import QdpxProject

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

__all__ = ["read_mapping"]

logger = logging.getLogger(__name__)


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def read_mapping(
    source: str | PathLike[str] | Mapping[str, Any], codebook: Codebook | None = None
) -> dict[str, tuple[str, ...]]:
    """Read a mapping from project code names to codebook codes.

    TOML: a table ``[codes]`` (or top-level keys) ``"Project code" = "type:valence"``, a list
    of codes, or ``""`` to ignore the code on purpose. CSV: a header and two columns, the
    project code (its name, its path ``Parent/Child``, or its GUID) and the codes
    (``;``-separated; empty or ``-`` to ignore). Keys are matched without regard to case.
    """
    codebook = codebook or Codebook.default()
    where = str(source) if not isinstance(source, Mapping) else "mapping"
    items: list[tuple[int | None, str, Any]] = []
    if isinstance(source, Mapping):
        items = [(None, str(k), v) for k, v in source.items()]
    else:
        p = Path(source)
        if not p.is_file():
            raise InputError("no such mapping file", path=where)
        text = read_small_text(p, what="mapping file")
        if p.suffix.lower() == ".toml":
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise InputError(f"cannot read the mapping as TOML: {exc}", path=where) from exc
            table = data.get("codes", data)
            if not isinstance(table, Mapping):
                raise InputError("expected a table [codes] of \"project code\" = \"type:valence\"", path=where)
            items = [(None, str(k), v) for k, v in table.items()]
        elif p.suffix.lower() in (".csv", ".tsv", ".txt"):
            delim = "\t" if p.suffix.lower() == ".tsv" or ("\t" in text.split("\n", 1)[0]) else (
                ";" if text.split("\n", 1)[0].count(";") > text.split("\n", 1)[0].count(",") else ","
            )
            rows = list(csv.reader(io.StringIO(text), delimiter=delim))
            for i, row in enumerate(rows[1:], 2):
                if not row or not any(c.strip() for c in row):
                    continue
                items.append((i, row[0], ";".join(row[1:])))
        else:
            raise InputError("a mapping file is .toml or .csv", path=where)
    out: dict[str, tuple[str, ...]] = {}
    problems = []
    for line, key, value in items:
        try:
            codes = codebook.parse_codes(value if value is not None else "")
        except CodebookError as exc:
            problems.append(InputProblem(where, f"the mapping of {key!r}: {exc}", line, None))
            continue
        out[_key(key)] = codes
    if problems:
        raise InputError(problems)
    return out


def _code_map(
    project: QdpxProject, codebook: Codebook, mapping: Mapping[str, tuple[str, ...]] | None
) -> tuple[dict[str, tuple[str, ...]], set[str], list[str]]:
    """Project code GUID -> codebook codes; the GUIDs deliberately ignored; unused mapping keys."""
    mapping = mapping or {}
    out: dict[str, tuple[str, ...]] = {}
    ignored: set[str] = set()
    used: set[str] = set()
    for g, code in project.codes.items():
        keys = [g, "/".join(code.path), "::".join(code.path), ":".join(code.path), code.name]
        hit = next((_key(k) for k in keys if _key(k) in mapping), None)
        if hit is not None:
            used.add(hit)
            if mapping[hit]:
                out[g] = mapping[hit]
            else:
                ignored.add(g)
            continue
        if not code.codable:
            continue
        for cand in (code.name, ":".join(code.path)):
            try:
                out[g] = (codebook.parse(cand),)
                break
            except CodebookError:
                continue
    unused = sorted(k for k in mapping if k not in used)
    return out, ignored, unused


