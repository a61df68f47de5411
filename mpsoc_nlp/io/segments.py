"""Read segment tables of any supported format into one checked segment frame."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._fs import PathArg
from ..codebook import Codebook
from ..corpus import concat_segments, segments_from_records
from ..corpus_columns import ChunkRecords, chunk_segments, segments_from_columns
from ..errors import InputError
from .frames import FRAME_NAME, as_inputs, frame_table, is_frame, is_segment_frame
from .journals import is_journal_table
from .sniff import check_line_lengths
from .tables import _sniff_delimiter, decode_text, iter_records, read_table, table_format

if TYPE_CHECKING:
    from .journals import JournalOptions
    from .transcripts import TranscriptOptions

__all__ = ["read_segments", "iter_segment_chunks"]


def read_segments(
    paths: PathArg | pd.DataFrame | Any | Sequence[PathArg | pd.DataFrame | Any],
    *,
    codebook: Codebook | None = None,
    sheet: str | int | None = None,
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    require_codes: bool = False,
    require_documents: bool = False,
    transcripts: TranscriptOptions | None = None,
    journals: JournalOptions | None = None,
    mapping: PathArg | Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Read one or more segment tables (CSV, TSV, XLSX, JSONL, Parquet) into a segment frame.

    A pandas ``DataFrame`` (as ``pd.read_excel`` gives it: ``NaN`` codes are no code) or a
    Hugging Face ``datasets.Dataset`` is read like a file, with the same checks; its problems
    are located as ``DataFrame, row 14, column 'codes'`` (row = the frame's index label). A frame
    that ``read_segments`` made is taken as it is.

    Transcripts (``.txt``, ``.docx``), journal exports (a table with journal id and note columns
    but no ``text`` column) and REFI-QDA projects (``.qdpx``: the codings of every coder, see
    :func:`mpsoc_nlp.io.qdpx.read_qdpx`) are read too and give the same columns.

    Parameters
    ----------
    paths : path, DataFrame, Dataset, or a list of them
        The inputs; several are concatenated and their segment ids must not collide.
    codebook : Codebook, optional
        Labels are normalised to its codes; default the MPSOC codebook.
    sheet : str or int, optional
        XLSX sheet name or 0-based number (default the one sheet with the needed columns).
    columns : mapping, optional
        Contract name -> the file's column name, e.g. ``{"text": "Utsagn"}``.
    encoding, delimiter : str, optional
        Override CSV/TSV detection.
    require_codes, require_documents : bool
        Demand a ``codes`` (or ``community_type`` + ``valence``) and a ``document_id`` column.
    transcripts, journals : options, optional
        How transcripts and journal exports are segmented (see :mod:`mpsoc_nlp.io.transcripts`).
    mapping : path or mapping, optional
        ``.qdpx`` only: the project's code names -> codebook codes (TOML or CSV file, or a dict).

    Returns
    -------
    pandas.DataFrame
        One row per segment and coder; see :mod:`mpsoc_nlp.corpus`.

    Raises
    ------
    InputError
        With every problem found in a file, each naming file, sheet, row and column.
    """
    inputs = as_inputs(paths)
    if not inputs:
        raise InputError("no input files were given")
    codebook = codebook or Codebook.default()
    frames = []
    problems = []
    truncated = 0
    for path in inputs:
        try:
            if isinstance(path, pd.DataFrame) and is_segment_frame(path):
                frames.append(_checked_frame(path, require_codes=require_codes, require_documents=require_documents))
                continue
            kind = "frame" if is_frame(path) else _input_kind(path)
            if kind not in ("table", "frame"):
                frames.append(_read_document(path, kind, codebook=codebook, transcripts=transcripts, mapping=mapping))
                continue
            if kind == "frame":
                table = frame_table(path)
            else:
                table = read_table(path, sheet=sheet, encoding=encoding, delimiter=delimiter)
            if is_journal_table(list(table.frame.columns), columns):
                from .journals import journal_segments

                recs, out_cols = journal_segments(
                    iter_records(table), list(table.frame.columns), path=table.path, options=journals
                )
                frames.append(
                    segments_from_records(
                        recs,
                        out_cols,
                        path=table.path,
                        codebook=codebook,
                        sheet=table.sheet if table.format == "xlsx" else None,
                        require_codes=require_codes,
                        require_documents=require_documents,
                    )
                )
                continue
            options: dict[str, Any] = dict(
                path=table.path, codebook=codebook, sheet=table.sheet if table.format == "xlsx" else None,
                column_map=columns, require_codes=require_codes, require_documents=require_documents,
            )
            # column by column when the table is clean; the row reader says what is wrong
            frame = segments_from_columns(table.frame, table.rows, **options)
            if frame is None:
                frame = segments_from_records(iter_records(table), list(table.frame.columns), **options)
            frames.append(frame)
        except InputError as exc:
            problems.extend(exc.problems)
            truncated += exc.truncated
    if problems:
        raise InputError(problems, truncated=truncated)
    return concat_segments(frames)


def _checked_frame(frame: pd.DataFrame, *, require_codes: bool, require_documents: bool) -> pd.DataFrame:
    """A segment frame that ``read_segments`` made, with the columns asked for (a copy)."""
    if require_codes and "codes" not in frame.columns:
        raise InputError(
            "expected the column 'codes' (the segment's codes), but the segment frame has none", path=FRAME_NAME
        )
    if require_documents and ("document_id" not in frame.columns or frame["document_id"].isna().any()):
        raise InputError("every segment needs its document_id; the segment frame lacks some", path=FRAME_NAME)
    return frame.copy()


def _input_kind(path: PathArg) -> str:
    """``'transcript'``, ``'qdpx'`` or ``'table'`` from the suffix of ``path``."""
    suffix = Path(path).suffix.lower()
    if suffix in (".txt", ".docx"):
        return "transcript"
    if suffix == ".qdpx":
        return "qdpx"
    if suffix == ".doc":
        raise InputError("old Word .doc files are not read: open the file in Word and save it as .docx", path=str(path))
    return "table"


def _read_document(
    path: PathArg,
    kind: str,
    *,
    codebook: Codebook,
    transcripts: TranscriptOptions | None,
    mapping: PathArg | Mapping[str, Any] | None = None,
    units: bool = False,
) -> pd.DataFrame:
    if kind == "transcript":
        from .transcripts import read_transcript

        return read_transcript(path, options=transcripts, codebook=codebook)
    from .qdpx import read_qdpx, read_qdpx_units

    if units:
        return read_qdpx_units(path, options=transcripts, codebook=codebook)
    return read_qdpx(path, mapping=mapping, options=transcripts, codebook=codebook).segments


def iter_segment_chunks(
    path: PathArg | pd.DataFrame | Any,
    *,
    chunk_size: int = 10_000,
    codebook: Codebook | None = None,
    sheet: str | int | None = None,
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    transcripts: TranscriptOptions | None = None,
    journals: JournalOptions | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield segment frames of at most ``chunk_size`` rows from one table, with bounded memory.

    CSV/TSV, JSONL and Parquet are streamed; XLSX (at most about a million rows), a DataFrame
    and a ``Dataset`` are read whole.
    Ids generated for rows without ``segment_id`` continue across chunks. Journal exports are
    streamed the same way; a transcript (``.txt``/``.docx``) is read whole, and a ``.qdpx``
    project gives the segments to classify of its text sources (participant turns, see
    :func:`mpsoc_nlp.io.qdpx.read_qdpx_units`), without its codings.
    """
    codebook = codebook or Codebook.default()
    kind = "frame" if is_frame(path) else _input_kind(path)
    if kind != "table":
        if kind == "frame":  # in memory already: checked whole, as read_segments does
            frame = read_segments(path, codebook=codebook, columns=columns, journals=journals)
        else:
            frame = _read_document(path, kind, codebook=codebook, transcripts=transcripts, units=True)
        for start in range(0, len(frame), chunk_size):
            yield frame.iloc[start : start + chunk_size].reset_index(drop=True)
        return
    p = Path(path)
    fmt = table_format(p)
    if not p.is_file():
        raise InputError("no such file", path=str(p))
    raw = _iter_raw_chunks(p, fmt, chunk_size=chunk_size, sheet=sheet, encoding=encoding, delimiter=delimiter)
    first = next(raw, None)
    if first is None:
        return
    chunks = itertools.chain([first], raw)
    if is_journal_table(first[1], columns):
        from .journals import iter_journal_chunks

        yield from iter_journal_chunks(chunks, path=str(p), options=journals, codebook=codebook)
        return
    positions: Counter[tuple[object, object]] = Counter()
    for records, cols, sheet_name in chunks:
        frame = chunk_segments(
            records, cols, path=str(p), codebook=codebook, sheet=sheet_name, column_map=columns, positions=positions
        )
        if frame is not None:
            yield frame


def _iter_raw_chunks(
    p: Path,
    fmt: str,
    *,
    chunk_size: int,
    sheet: str | int | None,
    encoding: str | None,
    delimiter: str | None,
) -> Iterator[tuple[ChunkRecords | list[tuple[int, dict[str, Any]]], list[str], str | None]]:
    """Chunks ``(records, columns, sheet)`` of a table's rows, read with bounded memory."""
    if fmt in ("csv", "tsv", "jsonl"):
        check_line_lengths(p)  # streamed: a very long line is never read into memory whole
    if fmt in ("csv", "tsv"):
        enc, delim = encoding, delimiter
        with open(p, "rb") as fh:
            head = fh.read(1 << 20)
        if enc is None:
            _, enc = decode_text(head, str(p))
        if delim is None:
            delim = "\t" if fmt == "tsv" else _sniff_delimiter(decode_text(head, str(p))[0], fmt)
        try:
            reader = pd.read_csv(
                p,
                sep=delim,
                encoding=enc,
                dtype=object,  # the cells as Python strings (no conversion, no Arrow strings)
                keep_default_na=False,
                chunksize=chunk_size,
                skip_blank_lines=False,
                engine="c",
            )
            row = 2
            for chunk in reader:
                cols = [str(c) for c in chunk.columns]
                # rows made on demand: a clean chunk is checked by columns (corpus_columns)
                yield ChunkRecords(chunk, np.arange(row, row + len(chunk))), cols, None
                row += len(chunk)
        except (UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise InputError(f"cannot read the file as {fmt.upper()} ({enc}): {exc}", path=str(p)) from exc
    elif fmt == "jsonl":
        batch: list[tuple[int, dict[str, Any]]] = []
        cols_seen: dict[str, None] = {}
        with open(p, encoding=encoding or "utf-8-sig") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"not valid JSON: {exc.msg}", path=str(p), row=line_no) from exc
                if not isinstance(obj, dict):
                    raise InputError("each line must be a JSON object {...}", path=str(p), row=line_no)
                cols_seen.update(dict.fromkeys(obj))
                batch.append((line_no, obj))
                if len(batch) >= chunk_size:
                    yield batch, list(cols_seen), None
                    batch = []
        if batch:
            yield batch, list(cols_seen), None
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(p)
        row = 1
        for rb in pf.iter_batches(batch_size=chunk_size):
            frame = rb.to_pandas()
            cols = [str(c) for c in frame.columns]
            yield ChunkRecords(frame, np.arange(row, row + len(frame)), skip_blank=False), cols, None
            row += len(frame)
    else:
        table = read_table(p, sheet=sheet)
        cols = list(table.frame.columns)
        records = list(iter_records(table))
        for start in range(0, len(records), chunk_size):
            yield records[start : start + chunk_size], cols, table.sheet
