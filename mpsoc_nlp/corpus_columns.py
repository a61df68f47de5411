"""The checks of :func:`mpsoc_nlp.corpus.segments_from_records` done column by column on a clean chunk.

:func:`segments_from_columns` builds the same segment frame as the row reader from a table chunk
(a frame of string cells and the file's row numbers) with one pass per column: codes are parsed
once per distinct cell, texts are checked with one search each, generated ids are counted as the
row reader counts them. It handles the chunks that have no problem, which is nearly all of them;
on the first sign of one (an empty text, an unknown code or genre, a bad number, a repeated id,
cells that are not strings) it returns ``None`` and the caller runs the row reader, so every
problem is reported with the row reader's words, file, row and column.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .codebook import Codebook
from .corpus import (
    _GENRE_ALIASES,
    _INT_COLUMNS,
    _INVISIBLE_CHARS,
    _file_stem,
    _resolve_columns,
    _typed,
    _whole_number,
)
from .errors import CodebookError

__all__ = ["ChunkRecords", "segments_from_columns"]

#: A character that shows: neither whitespace nor a format character (``corpus._INVISIBLE``'s).
_SHOWS = re.compile(f"[^{_INVISIBLE_CHARS}]")


class ChunkRecords:
    """A chunk of table rows: the frame and its row numbers, as ``(row, record)`` pairs on demand.

    Iterating gives what the row reader takes, rows whose cells are all blank left out (as the
    CSV reader always did); :func:`segments_from_columns` reads :attr:`frame` and :attr:`rows`
    directly.
    """

    def __init__(self, frame: pd.DataFrame, rows: np.ndarray, *, skip_blank: bool = True) -> None:
        self.frame = frame
        self.rows = rows
        self.skip_blank = skip_blank

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any]]]:
        cols = [str(c) for c in self.frame.columns]
        for row, vals in zip(self.rows.tolist(), self.frame.itertuples(index=False, name=None)):
            rec = dict(zip(cols, vals, strict=False))
            if not self.skip_blank or any(str(v).strip() for v in rec.values()):
                yield row, rec


def _all_strings(frame: pd.DataFrame) -> bool:
    """Every cell a string (none missing)."""
    return all(pd.api.types.infer_dtype(frame.iloc[:, j], skipna=False) in ("string", "empty")
               for j in range(frame.shape[1]))


def _stripped_or_none(values: list[str]) -> list[str | None]:
    return [v.strip() or None for v in values]


def _whole_or_blank(value: str) -> int | None | bool:
    """The row reader's reading of a number cell: ``None`` when blank, ``False`` when not a whole number >= 0."""
    if not value.strip():
        return None
    try:
        return _whole_number(value)
    except ValueError:
        return False


def segments_from_columns(
    frame: pd.DataFrame,
    rows: np.ndarray,
    *,
    path: str,
    codebook: Codebook | None = None,
    sheet: str | None = None,
    column_map: Mapping[str, str] | None = None,
    positions: Counter[tuple[Any, Any]] | None = None,
    require_codes: bool = False,
    require_documents: bool = False,
) -> pd.DataFrame | None:
    """The segment frame of a clean chunk, as :func:`~mpsoc_nlp.corpus.segments_from_records` makes it.

    ``frame`` holds the chunk's cells, ``rows`` the file row of each. Returns ``None`` (and leaves
    ``positions`` as it was) when the chunk needs the row reader: some cell is not a string, a
    problem is to be reported (a required column or document missing too), or the table pairs
    ``community_type`` with ``valence``.
    """
    codebook = codebook or Codebook.default()
    columns = [str(c) for c in frame.columns]
    if len(frame) == 0 or len(set(columns)) != len(columns) or list(frame.columns) != columns:
        return None
    cols = _resolve_columns(columns, column_map)
    if "text" not in cols or any(c not in columns for c in (column_map or {}).values()):
        return None
    if "codes" not in cols and "community_type" in cols:
        return None  # one code per row, merged across rows: the row reader's job
    if (require_codes and "codes" not in cols) or (require_documents and "document_id" not in cols):
        return None
    if not _all_strings(frame):
        return None
    get = {k: frame[c].tolist() for k, c in cols.items()}
    texts: list[str] = get["text"]
    if not all(_SHOWS.search(t) for t in texts):
        return None  # an empty text: skipped, or a problem when the row holds anything else
    n = len(texts)
    out: dict[str, Any] = {}
    if "codes" in cols:
        parsed: dict[str, tuple[str, ...]] = {}
        try:
            for raw in set(get["codes"]):
                parsed[raw] = codebook.parse_codes(raw) if raw.strip() else ()
        except CodebookError:
            return None
        codes = [parsed[raw] for raw in get["codes"]]
    coder = _stripped_or_none(get["coder"]) if "coder" in get else [None] * n
    document = _stripped_or_none(get["document_id"]) if "document_id" in get else [None] * n
    if require_documents and None in document:
        return None
    ints: dict[str, list[int | None]] = {}
    for name in _INT_COLUMNS:
        if name not in get:
            ints[name] = [None] * n
            continue
        values = [_whole_or_blank(v) for v in get[name]]
        if any(v is False for v in values):
            return None
        ints[name] = values  # type: ignore[assignment]
    if any(s is not None and e is not None and e < s for s, e in zip(ints["start"], ints["end"])):
        return None
    genre: list[str | None] = [None] * n
    if "genre" in get:
        genre = [_GENRE_ALIASES.get(g.strip().lower()) if g.strip() else None for g in get["genre"]]
        if any(g is None and raw.strip() for g, raw in zip(genre, get["genre"])):
            return None
    given = _stripped_or_none(get["segment_id"]) if "segment_id" in get else [None] * n
    n_given = sum(s is not None for s in given)
    if n_given == n:
        segment_ids: list[str] = given  # type: ignore[assignment]
        if len(set(segment_ids)) != n:
            return None  # a repeated id: a problem, or rows of one segment whose texts are compared
    elif n_given == 0:
        counter = positions if positions is not None else Counter()
        before = Counter(counter)
        stem = _file_stem(path)
        segment_ids = []
        for c, d in zip(coder, document):
            k = counter[(c, d)]
            counter[(c, d)] += 1
            segment_ids.append(f"{d if d is not None else stem}:{k}")
        if len(set(zip(coder, segment_ids))) != n:
            counter.clear()
            counter.update(before)
            return None
    else:
        return None
    out["segment_id"] = segment_ids
    out["document_id"] = document
    out["coder"] = coder
    out["genre"] = genre
    out["speaker"] = _stripped_or_none(get["speaker"]) if "speaker" in get else [None] * n
    out.update(ints)
    out["text"] = texts
    if "codes" in cols:
        out["codes"] = codes
    used = set(cols.values())
    for c in columns:
        if c not in used:
            out[c] = frame[c].tolist()
    out["source_file"] = [path] * n
    out["source_row"] = rows.tolist()
    # ids and texts are strings throughout and end as objects: made so at once, not through pandas'
    # strings (the other columns go through them as the row reader's do: a None there becomes NaN)
    for name in ("segment_id", "text"):
        out[name] = pd.Series(out[name], dtype=object)
    return _typed(pd.DataFrame(out))


def chunk_segments(
    records: ChunkRecords | Sequence[tuple[int, Mapping[str, Any]]],
    columns: Sequence[str],
    *,
    path: str,
    codebook: Codebook,
    sheet: str | None,
    column_map: Mapping[str, str] | None,
    positions: Counter[tuple[Any, Any]],
) -> pd.DataFrame | None:
    """One chunk's segment frame: column by column when it is clean, else by the row reader.

    ``None`` for a chunk with no rows left once the blank ones are dropped.
    """
    from .corpus import segments_from_records

    if isinstance(records, ChunkRecords):
        frame = segments_from_columns(
            records.frame, records.rows, path=path, codebook=codebook, sheet=sheet, column_map=column_map,
            positions=positions,
        )
        if frame is not None:
            return frame
        records = list(records)
    if not records:
        return None
    return segments_from_records(
        records, columns, path=path, codebook=codebook, sheet=sheet, column_map=column_map, positions=positions
    )
