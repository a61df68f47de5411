"""Reading tables (CSV, TSV, XLSX, JSONL, Parquet): formats, decoding, sniffing, row numbers.

Reading gives string cells with the row numbers users see.

CSV and TSV files come in the encodings Norwegian users meet: UTF-8 (with or without BOM),
Windows-1252/Latin-1 from Excel's "CSV" and UTF-16 from Excel's "Unicode text". The delimiter is
sniffed (``,`` ``;`` tab ``|``). Row numbers follow what a person sees: the spreadsheet row
(header = row 1) for CSV/TSV/XLSX, the 1-based line for JSONL, the 1-based record for Parquet.
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...errors import InputError, InputProblem

if TYPE_CHECKING:
    from ..workbooks import SheetNeed


__all__ = ["Table", "read_table", "decode_text", "TABLE_SUFFIXES", "table_format", "iter_records", "CSV_FIELD_LIMIT"]

logger = logging.getLogger("mpsoc_nlp.io.tables")


TABLE_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_DELIMITERS = ",;\t|"
#: The largest CSV/TSV cell read, in characters: 512 MiB, the largest text a ``.docx``/``.qdpx`` member
#: may unpack to (:class:`~mpsoc_nlp.io.archives.ArchiveLimits`), so every text mpsoc writes to CSV it
#: reads back (Python's default is 128 KiB).
CSV_FIELD_LIMIT = 512 * 2**20
_MOJIBAKE = re.compile("Ã[\u0080-\u00bf¦¸¥†˜…]|Ã\u0098|Ã\u0085")


@dataclass
class Table:
    """A table read from one file: string cells (lists kept in JSONL/Parquet) and provenance."""

    path: str
    format: str
    frame: pd.DataFrame
    rows: np.ndarray
    sheet: str | None = None
    encoding: str | None = None
    delimiter: str | None = None

    def problem(self, message: str, *, row: int | None = None, column: str | None = None) -> InputProblem:
        """An :class:`InputProblem` located in this table."""
        return InputProblem(self.path, message, row=row, column=column, sheet=self.sheet)


def table_format(path: str | PathLike[str]) -> str:
    """The table format of a path from its suffix; raises :class:`InputError` for others."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return TABLE_SUFFIXES[suffix]
    if suffix == ".xls":
        raise InputError(
            "old Excel .xls files are not read: open the file in Excel and save it as .xlsx",
            path=str(p),
        )
    raise InputError(
        f"cannot read {suffix or 'a file without suffix'!r} as a table; use one of "
        f"{', '.join(sorted(set(TABLE_SUFFIXES)))}",
        path=str(p),
    )


def decode_text(data: bytes, path: str = "<input>") -> tuple[str, str]:
    """Decode file bytes as the encodings Excel and editors write; return ``(text, encoding)``.

    BOMs decide first (UTF-8, UTF-16 LE/BE); then UTF-16 without BOM is recognised by its zero
    bytes; then strict UTF-8; then Windows-1252, falling back to Latin-1. Archives, binary
    data, UTF-32, NUL bytes and files mixing UTF-8 with another encoding are refused with an
    :class:`InputError` (see :mod:`mpsoc_nlp.io.sniff`).
    """
    from ..sniff import check_bytes, check_decoded, undecodable_error

    check_bytes(data, path)
    try:
        text, enc = _decode(data, path)
    except UnicodeDecodeError as exc:  # a BOM or UTF-16 that the bytes after it do not keep to
        raise undecodable_error(data, exc, path) from exc
    check_decoded(text, path)
    return text, enc


def _decode(data: bytes, path: str) -> tuple[str, str]:
    from ..sniff import mixed_encoding_error, truncated_utf8

    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="strict"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    head = data[:4000]
    if len(head) >= 4 and head.count(0) > len(head) // 4:
        enc = "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        return data.decode(enc), enc
    try:
        text, enc = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if truncated_utf8(data, exc):  # UTF-8 cut inside its last character (the start of a file)
            return data[: exc.start].decode("utf-8"), "utf-8"
        mixed = mixed_encoding_error(data, exc, path)
        if mixed is not None:
            raise mixed from exc
        try:
            text, enc = data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            text, enc = data.decode("latin-1"), "latin-1"
    if _MOJIBAKE.search(text[:200_000]):
        logger.warning(
            "%s: the text contains sequences such as 'Ã¸' where 'ø' was probably meant; the file was "
            "likely converted to UTF-8 twice. Re-export it from the original program as UTF-8.",
            path,
        )
    return text, enc


def _sniff_delimiter(text: str, suffix_format: str) -> str:
    sample = text[:65536]
    if suffix_format == "tsv":
        return "\t"
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        first = sample.split("\n", 1)[0]
        counts = {d: first.count(d) for d in _DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _header(cells: list[Any], path: str, row: int, sheet: str | None = None) -> list[str]:
    names = []
    problems = []
    for i, cell in enumerate(cells, 1):
        name = "" if cell is None else str(cell).strip()
        if not name:
            name = f"unnamed_{i}"
        if name in names:
            problems.append(
                InputProblem(path, f"the column name {name!r} occurs twice in the header", row, name, sheet)
            )
        names.append(name)
    if problems:
        raise InputError(problems)
    return names


def _read_csv(path: Path, fmt: str, encoding: str | None, delimiter: str | None) -> Table:
    data = path.read_bytes()
    if encoding:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise InputError(f"cannot decode the file as {encoding}: {exc}", path=str(path)) from exc
        text = text.lstrip("\ufeff")
        enc = encoding
    else:
        text, enc = decode_text(data, str(path))
    if not text.strip():
        raise InputError("the file is empty", path=str(path))
    delim = delimiter or _sniff_delimiter(text, fmt)
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    try:
        records = list(reader)
    except csv.Error as exc:
        raise InputError(
            f"cannot parse the file as {fmt.upper()} (line {reader.line_num}): {exc}", path=str(path)
        ) from exc
    # the first non-empty record is the header; its 1-based position is its spreadsheet row
    start = next(i for i, r in enumerate(records) if any(c.strip() for c in r))
    columns = _header(records[start], str(path), start + 1)
    body = []
    rows = []
    width = len(columns)
    problems = []
    for i in range(start + 1, len(records)):
        rec = records[i]
        if not any(c.strip() for c in rec):
            continue
        if len(rec) > width and any(c.strip() for c in rec[width:]):
            problems.append(
                InputProblem(
                    str(path),
                    f"the row has {len(rec)} cells but the header has {width} columns; "
                    "a cell probably contains the delimiter "
                    f"{delim!r} without quotes",
                    i + 1,
                )
            )
            continue
        rec = (rec + [""] * width)[:width]
        body.append(rec)
        rows.append(i + 1)
    problems.extend(_unclosed_quotes(text, body, rows, columns, delim, str(path)))
    if problems:
        raise InputError(problems[:50], truncated=max(0, len(problems) - 50))
    frame = pd.DataFrame(body, columns=columns, dtype=object)
    return Table(str(path), fmt, frame, np.asarray(rows, dtype=np.int64), encoding=enc, delimiter=delim)


def _unclosed_quotes(
    text: str, body: list[list[str]], rows: list[int], columns: list[str], delim: str, path: str
) -> list[InputProblem]:
    """Cells that swallowed the rows below them because a quote was opened and never closed.

    Such a cell runs over several lines, and some of those lines split into as many cells as the
    header has columns (one such line is enough when the file's quotes do not pair up). The
    message names the row and column, never the text.
    """
    width = len(columns)
    odd = text.count('"') % 2 == 1
    # the shapes of the first column's one-line values (``s12`` -> ``a9``), made on first need: a
    # swallowed row starts like the rows around it, a second line of a text ("Plan: prøver, ...") rarely does
    first_shapes: set[str] = set()

    def starts_like_a_row(line: str) -> bool:
        if not first_shapes:
            first_shapes.update(_shape(r[0]) for r in body if r and "\n" not in r[0])
        return _shape(line.split(delim)[0]) in first_shapes

    problems: list[InputProblem] = []
    for row, rec in zip(rows, body):
        for column, cell in zip(columns, rec):
            if "\n" not in cell:
                continue
            lines = cell.rstrip("\n").split("\n")[1:]
            like = [line for line in lines if width > 1 and len(line.split(delim)) >= width]
            like_rows = len(like)
            # quotes that do not pair up, or several row-like lines, say enough; one row-like line
            # after paired quotes only when it also starts like a row
            if like_rows and (odd or like_rows > 1 or (len(lines) == 1 and starts_like_a_row(like[0]))):
                problems.append(
                    InputProblem(
                        path,
                        f"the cell runs over {len(lines) + 1} lines, {like_rows} of them look like rows of the "
                        'table: a quote (") was probably opened and not closed, and the rows below were read as '
                        "part of this cell. Close or remove the quote",
                        row,
                        column,
                    )
                )
    return problems


def _shape(value: str) -> str:
    """The shape of a cell: runs of letters as ``a``, runs of digits as ``9``, the rest kept."""
    return re.sub(r"\d+", "9", re.sub(r"[^\W\d_]+", "a", value.strip()))


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, _dt.datetime):
        if value.time() == _dt.time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)


def _read_xlsx(path: Path, sheet: str | int | None, need: SheetNeed | None = None) -> Table:
    import openpyxl

    from ..archives import check_zip_file
    from ..workbooks import choose_sheet, fill_merged, merged_ranges, warn_typed_cells

    check_zip_file(path, "Excel workbook")
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException ...
        raise InputError(
            f"cannot open the file as an Excel workbook ({type(exc).__name__}); is it a real .xlsx?",
            path=str(path),
        ) from exc
    try:
        names = wb.sheetnames
        if sheet is None:
            name = choose_sheet(wb, str(path), need)
        elif isinstance(sheet, int) or (isinstance(sheet, str) and sheet.isdigit() and sheet not in names):
            idx = int(sheet)
            if not 0 <= idx < len(names):
                raise InputError(
                    f"the workbook has {len(names)} sheet(s) {names}; sheet number {idx} does not exist "
                    "(sheets are counted from 0)",
                    path=str(path),
                )
            name = names[idx]
        elif sheet in names:
            name = sheet
        else:
            raise InputError(f"no sheet named {sheet!r}; the sheets are {names}", path=str(path))
        ws = wb[name]
        header: list[str] | None = None
        body: list[list[Any]] = []
        rows: list[int] = []
        typed: list[tuple[int, int]] = []  # numbers, dates, booleans: read as text, warned in a text column
        for r, values in enumerate(ws.iter_rows(values_only=True), 1):
            cells = [_cell(v) for v in values]
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = _header(list(values), str(path), r, name)
                continue
            typed.extend((r, i) for i, v in enumerate(values[: len(header)]) if not isinstance(v, (str, type(None))))
            cells = (cells + [""] * len(header))[: len(header)]
            body.append(cells)
            rows.append(r)
        if header is not None:
            filled = fill_merged(body, rows, ranges := merged_ranges(ws))
            if filled:
                logger.warning(
                    "%s, sheet %r: %d merged cell range(s) (%s): each cell of a range was read as its "
                    "first cell's value, as Excel shows it; unmerge them if that is not what you meant",
                    path, name, len(ranges), ", ".join(_range_ref(*r) for r in ranges[:5])
                    + (" ..." if len(ranges) > 5 else ""),
                )
            warn_typed_cells(str(path), name, header, typed)
    finally:
        wb.close()
    if header is None:
        raise InputError("the sheet is empty", path=str(path), sheet=name)
    frame = pd.DataFrame(body, columns=header, dtype=object)
    return Table(str(path), "xlsx", frame, np.asarray(rows, dtype=np.int64), sheet=name)


def _read_jsonl(path: Path) -> Table:
    text, enc = decode_text(path.read_bytes(), str(path))
    records: list[dict[str, Any]] = []
    rows: list[int] = []
    problems: list[InputProblem] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(InputProblem(str(path), f"not valid JSON: {exc.msg} at character {exc.pos + 1}", line_no))
            continue
        if not isinstance(obj, dict):
            problems.append(InputProblem(str(path), "each line must be a JSON object {...}", line_no))
            continue
        records.append({k: ("" if v is None else v) for k, v in obj.items()})
        rows.append(line_no)
    if problems:
        raise InputError(problems[:50], truncated=max(0, len(problems) - 50))
    if not records:
        raise InputError("the file has no JSON objects", path=str(path))
    frame = pd.DataFrame.from_records(records).astype(object)
    frame = frame.where(frame.notna(), "")
    return Table(str(path), "jsonl", frame, np.asarray(rows, dtype=np.int64), encoding=enc)


def _read_parquet(path: Path) -> Table:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise InputError(f"cannot read the file as Parquet: {exc}", path=str(path)) from exc
    frame = frame.astype(object)
    for col in frame.columns:
        frame[col] = [
            list(v) if isinstance(v, np.ndarray) else ("" if v is None or (isinstance(v, float) and v != v) else v)
            for v in frame[col]
        ]
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    return Table(str(path), "parquet", frame, rows)


def _range_ref(min_col: int, min_row: int, max_col: int, max_row: int) -> str:
    from openpyxl.utils import get_column_letter

    return f"{get_column_letter(min_col)}{min_row}:{get_column_letter(max_col)}{max_row}"


def read_table(
    path: str | PathLike[str],
    *,
    sheet: str | int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    need: SheetNeed | None = None,
) -> Table:
    """Read one table file into a :class:`Table` of string cells with user-facing row numbers.

    Parameters
    ----------
    path : str or path
        A ``.csv``, ``.tsv``, ``.xlsx``, ``.jsonl`` or ``.parquet`` file.
    sheet : str or int, optional
        XLSX only: the sheet's name or 0-based number; default the one sheet with the needed
        columns (see :func:`mpsoc_nlp.io.workbooks.choose_sheet`).
    need : SheetNeed, optional
        XLSX only: the columns a sheet must have to be chosen; default a segment table or a
        journal export.
    encoding, delimiter : str, optional
        CSV/TSV only: override the detected encoding or delimiter.
    """
    p = Path(path)
    fmt = table_format(p)
    if not p.exists():
        raise InputError("no such file", path=str(p))
    if p.is_dir():
        raise InputError("this is a folder, not a file", path=str(p))
    if fmt in ("csv", "tsv", "jsonl"):
        from ..sniff import check_line_lengths

        check_line_lengths(p)  # streamed: a very long line is never read into memory whole
    if fmt in ("csv", "tsv"):
        table = _read_csv(p, fmt, encoding, delimiter)
    elif fmt == "xlsx":
        table = _read_xlsx(p, sheet, need)
    elif fmt == "jsonl":
        table = _read_jsonl(p)
    else:
        table = _read_parquet(p)
    if fmt != "xlsx":  # xlsx warns by the cells' own types
        from ..workbooks import warn_value_like_text

        warn_value_like_text(str(p), list(table.frame.columns), table.rows.tolist(), table.frame)
    logger.info("read %s: %d rows, columns %s", p.name, len(table.frame), list(table.frame.columns))
    return table


def iter_records(table: Table) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row_number, {column: value})`` for each data row of a table."""
    cols = list(table.frame.columns)
    for row, values in zip(table.rows.tolist(), table.frame.itertuples(index=False, name=None)):
        yield row, dict(zip(cols, values))
