"""Read segment tables of any supported format into one checked segment frame."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike

import pandas as pd

from ..codebook import Codebook
from ..corpus import concat_segments, segments_from_records
from ..errors import InputError
from .tables import iter_records, read_table

__all__ = ["read_segments"]

PathArg = str | PathLike[str]


def read_segments(
    paths: PathArg | Sequence[PathArg],
    *,
    codebook: Codebook | None = None,
    sheet: str | int | None = None,
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    require_codes: bool = False,
    require_documents: bool = False,
) -> pd.DataFrame:
    """Read one or more segment tables (CSV, TSV, XLSX, JSONL, Parquet) into a segment frame.

    Parameters
    ----------
    paths : path or list of paths
        The files; several files are concatenated and their segment ids must not collide.
    codebook : Codebook, optional
        Labels are normalised to its codes; default the MPSOC codebook.
    sheet : str or int, optional
        XLSX sheet name or 0-based number (default the first sheet).
    columns : mapping, optional
        Contract name -> the file's column name, e.g. ``{"text": "Utsagn"}``.
    encoding, delimiter : str, optional
        Override CSV/TSV detection.
    require_codes, require_documents : bool
        Demand a ``codes`` (or ``community_type`` + ``valence``) and a ``document_id`` column.

    Returns
    -------
    pandas.DataFrame
        One row per segment and coder; see :mod:`mpsoc_nlp.corpus`.

    Raises
    ------
    InputError
        With every problem found in a file, each naming file, sheet, row and column.
    """
    if isinstance(paths, (str, PathLike)):
        paths = [paths]
    if not paths:
        raise InputError("no input files were given")
    codebook = codebook or Codebook.default()
    frames = []
    problems = []
    truncated = 0
    for path in paths:
        try:
            table = read_table(path, sheet=sheet, encoding=encoding, delimiter=delimiter)
            frames.append(
                segments_from_records(
                    iter_records(table),
                    list(table.frame.columns),
                    path=table.path,
                    codebook=codebook,
                    sheet=table.sheet if table.format == "xlsx" else None,
                    column_map=columns,
                    require_codes=require_codes,
                    require_documents=require_documents,
                )
            )
        except InputError as exc:
            problems.extend(exc.problems)
            truncated += exc.truncated
    if problems:
        raise InputError(problems, truncated=truncated)
    return concat_segments(frames)


