"""Tables (CSV, TSV, XLSX, JSONL, Parquet): read, write, stream back and merge.

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

from .._fs import atomic_file, atomic_write_text, sha256_file
from ..errors import InputError, InputProblem
from .cells import check_sheet, text_only

if TYPE_CHECKING:
    from .workbooks import SheetNeed

__all__ = [
    "Table",
    "read_table",
    "decode_text",
    "TABLE_SUFFIXES",
    "table_format",
    "TableWriter",
    "read_jsonl_frame",
    "read_metadata",
    "merge_tables",
    "metadata_sidecar",
    "count_rows",
]

logger = logging.getLogger(__name__)

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
    from .sniff import check_bytes, check_decoded, undecodable_error

    check_bytes(data, path)
    try:
        text, enc = _decode(data, path)
    except UnicodeDecodeError as exc:  # a BOM or UTF-16 that the bytes after it do not keep to
        raise undecodable_error(data, exc, path) from exc
    check_decoded(text, path)
    return text, enc


def _decode(data: bytes, path: str) -> tuple[str, str]:
    from .sniff import mixed_encoding_error, truncated_utf8

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
    problems: list[InputProblem] = []
    for row, rec in zip(rows, body):
        for column, cell in zip(columns, rec):
            if "\n" not in cell:
                continue
            lines = cell.rstrip("\n").split("\n")[1:]
            like_rows = sum(1 for line in lines if width > 1 and len(line.split(delim)) >= width)
            if like_rows and (odd or like_rows > 1 or len(lines) == like_rows):
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

    from .archives import check_zip_file
    from .workbooks import choose_sheet, fill_merged, merged_ranges, warn_typed_cells

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
        from .sniff import check_line_lengths

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
        from .workbooks import warn_value_like_text

        warn_value_like_text(str(p), list(table.frame.columns), table.rows.tolist(), table.frame)
    logger.info("read %s: %d rows, columns %s", p.name, len(table.frame), list(table.frame.columns))
    return table


def iter_records(table: Table) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(row_number, {column: value})`` for each data row of a table."""
    cols = list(table.frame.columns)
    for row, values in zip(table.rows.tolist(), table.frame.itertuples(index=False, name=None)):
        yield row, dict(zip(cols, values))


# --------------------------------------------------------------------------------------------
# writing, streaming back and merging
# --------------------------------------------------------------------------------------------

WRITE_FORMATS = ("csv", "tsv", "xlsx", "jsonl", "parquet")


def _json_default(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if v is pd.NA:
        return None
    raise TypeError(type(v).__name__)


def _json_value(v: Any) -> Any:
    """A cell as JSON has it: tuples as lists, every kind of missing as ``null``."""
    if isinstance(v, tuple):
        return list(v)
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    return v


def _for_arrow(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object and out[c].map(lambda v: isinstance(v, tuple)).any():
            out[c] = out[c].map(lambda v: list(v) if isinstance(v, tuple) else v)
    return out


def metadata_sidecar(path: str | PathLike[str]) -> Path:
    """Where the metadata of a CSV/TSV/JSONL file goes: ``FILE.meta.json`` beside it."""
    p = Path(path)
    return p.with_name(p.name + ".meta.json")


def write_sidecar(path: str | PathLike[str], metadata: dict[str, Any]) -> None:
    """Write the ``FILE.meta.json`` of a file just published (replacing a stale one of an earlier run)."""
    atomic_write_text(metadata_sidecar(path), json.dumps(metadata, ensure_ascii=False, indent=2), replace=True)


class TableWriter:
    """Context manager that appends frames to one table file, atomically, with metadata.

    The file is written under a temporary name beside the target and published when complete
    (exclusively: an existing file only with ``force``), so an interrupted run leaves no partial
    output and the second of two racing runs gets :class:`~mpsoc_nlp.errors.OutputExistsError`.
    ``metadata`` (if not ``None``) is recorded in a ``FILE.meta.json`` sidecar for CSV/TSV/JSONL
    (with the file's ``rows`` and ``sha256``, so a cut or edited file is detected), a second sheet
    (``meta_sheet``) in XLSX and the schema metadata (key ``mpsoc_nlp``) in Parquet. After the
    block, ``rows`` and ``sha256`` hold the written file's row count and checksum. JSONL holds one
    object per row, tuples as lists, missing values as ``null``; subclasses shape records with :meth:`jsonl_record` and
    text cells with :meth:`cell`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "t.jsonl"
    >>> with TableWriter(out, "jsonl") as w:
    ...     w.write(pd.DataFrame({"text": ["hei"], "codes": [("a", "b")], "n": [None]}))
    >>> out.read_text(encoding="utf-8")
    '{"text": "hei", "codes": ["a", "b"], "n": null}\\n'
    """

    def __init__(
        self,
        path: str | PathLike[str],
        fmt: str,
        metadata: dict[str, Any] | None = None,
        *,
        sheet_name: str = "Data",
        meta_sheet: str = "About",
        force: bool = False,
    ) -> None:
        if fmt not in WRITE_FORMATS:
            raise InputError(f"cannot write a table as {fmt!r}; use one of {', '.join(WRITE_FORMATS)}")
        self.path = Path(path)
        self.fmt = fmt
        self.metadata = metadata
        self.sheet_name = sheet_name
        self.meta_sheet = meta_sheet
        self.rows = 0
        self._atomic = atomic_file(self.path, replace=force)
        self.sha256: str | None = None
        self._columns: list[str] | None = None
        self._fh: Any = None
        self._writer: Any = None
        self._frames: list[pd.DataFrame] = []

    # hooks --------------------------------------------------------------------------------
    #: CSV/TSV: the encoding and the delimiter (``None``: ``,`` for CSV, tab for TSV).
    csv_encoding: str = "utf-8"
    csv_delimiter: str | None = None
    #: XLSX: a note on the header cell of these columns (the column in the other language).
    header_notes: dict[str, str] = {}

    def cell(self, v: Any) -> Any:
        """A cell of CSV/TSV/XLSX: code sets joined by ``; ``, missing values empty."""
        if isinstance(v, tuple):
            return "; ".join(v)
        if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
            return ""
        return v

    def jsonl_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """The JSON object of one row."""
        return {k: _json_value(v) for k, v in record.items()}

    # the context manager ------------------------------------------------------------------
    def __enter__(self) -> TableWriter:
        self._tmp = self._atomic.__enter__()
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Append one chunk (columns must match the first chunk)."""
        if self._columns is None:
            self._columns = list(frame.columns)
        frame = frame[self._columns]
        self.rows += len(frame)
        if self.fmt in ("csv", "tsv"):
            if self._fh is None:
                self._fh = open(self._tmp, "w", encoding=self.csv_encoding, newline="")  # noqa: SIM115
                delimiter = self.csv_delimiter or ("," if self.fmt == "csv" else "\t")
                self._writer = csv.writer(self._fh, delimiter=delimiter)
                self._writer.writerow(self._columns)
            for row in frame.itertuples(index=False, name=None):
                self._writer.writerow([self.cell(v) for v in row])
        elif self.fmt == "jsonl":
            if self._fh is None:
                self._fh = open(self._tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - open across writes
            for rec in frame.to_dict(orient="records"):
                line = json.dumps(self.jsonl_record(rec), ensure_ascii=False, default=_json_default)
                self._fh.write(line + "\n")
        elif self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(_for_arrow(frame), preserve_index=False)
            if self._writer is None:
                meta = dict(table.schema.metadata or {})
                if self.metadata is not None:
                    meta[b"mpsoc_nlp"] = json.dumps(self.metadata, ensure_ascii=False).encode("utf-8")
                # a column empty in the first chunk (no codes predicted, no speaker) has no type yet
                self._schema = pa.schema([_typed(f) for f in table.schema]).with_metadata(meta)
                self._writer = pq.ParquetWriter(self._tmp, self._schema)
            self._writer.write_table(table.cast(self._schema))
        else:
            check_sheet(frame, self.path, rows_before=self.rows - len(frame), sheet=self.sheet_name)
            self._frames.append(frame)

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if self.fmt == "xlsx" and exc_type is None:
                self._write_xlsx()
            if self._fh is not None:
                self._fh.close()
            if self._writer is not None and self.fmt == "parquet":
                self._writer.close()
            if exc_type is None:
                self.sha256 = sha256_file(self._tmp)
        except BaseException as err:
            self._atomic.__exit__(type(err), err, err.__traceback__)
            raise
        self._atomic.__exit__(exc_type, exc, tb)  # publishes; the loser of a race stops here
        if exc_type is None and self.metadata is not None and self.fmt in ("csv", "tsv", "jsonl"):
            write_sidecar(self.path, {**self.metadata, "rows": self.rows, "sha256": self.sha256})

    def _write_xlsx(self) -> None:
        """The workbook, laid out for reading: header bold, frozen and filtered, text wide and wrapped.

        Codes columns (tuples) and ``text`` wrap; probability columns (``p:...``) show two
        decimals; :attr:`header_notes` become notes on their header cells. The metadata go to the
        sheet ``meta_sheet`` (columns ``item`` and ``value``, as in ``disagreements.xlsx``).
        """
        from openpyxl.comments import Comment
        from openpyxl.styles import Alignment, Font
        from openpyxl.utils import get_column_letter

        frame = pd.concat(self._frames, ignore_index=True) if self._frames else pd.DataFrame(columns=self._columns)
        wrapped = {str(c) for c in frame.columns if frame[c].map(lambda v: isinstance(v, tuple)).any()}
        wrapped |= {c for c in ("text", "codes", "gold_codes") if c in frame.columns}
        frame = frame.map(self.cell)  # type: ignore[operator]
        with pd.ExcelWriter(self._tmp, engine="openpyxl") as xw:
            frame.to_excel(xw, index=False, sheet_name=self.sheet_name)
            ws = xw.sheets[self.sheet_name]
            text_only(ws)
            ws.freeze_panes = "A2"
            ws.auto_filter.ref = ws.dimensions
            wrap = Alignment(wrap_text=True, vertical="top")
            for j, name in enumerate(map(str, frame.columns), 1):
                head = ws.cell(row=1, column=j)
                head.font = Font(bold=True)
                if name in self.header_notes:
                    head.comment = Comment(self.header_notes[name], "mpsoc_nlp", width=300, height=110)
                letter = get_column_letter(j)
                is_p = name.startswith("p:")
                width = 70 if name == "text" else 30 if name in wrapped else 9 if is_p else len(name) + 2
                ws.column_dimensions[letter].width = min(max(width, 9), 70)
                if name in wrapped or is_p:
                    for cell in ws[letter][1:]:
                        if is_p:
                            cell.number_format = "0.00"
                        else:
                            cell.alignment = wrap
            if self.metadata is not None:
                meta = pd.DataFrame(
                    [
                        (k, json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v)
                        for k, v in self.metadata.items()
                    ],
                    columns=["item", "value"],
                )
                meta.to_excel(xw, index=False, sheet_name=self.meta_sheet)
                about = xw.sheets[self.meta_sheet]
                about.column_dimensions["A"].width = 18
                about.column_dimensions["B"].width = 100
                for cell in about[1]:
                    cell.font = Font(bold=True)


def _range_ref(min_col: int, min_row: int, max_col: int, max_row: int) -> str:
    from openpyxl.utils import get_column_letter

    return f"{get_column_letter(min_col)}{min_row}:{get_column_letter(max_col)}{max_row}"


def _typed(field: Any) -> Any:
    """A field of null type (or list of null) as string (list of string)."""
    import pyarrow as pa

    if pa.types.is_null(field.type):
        return field.with_type(pa.string())
    if pa.types.is_list(field.type) and pa.types.is_null(field.type.value_type):
        return field.with_type(pa.list_(pa.string()))
    return field


def count_rows(path: str | PathLike[str], *, sheet: str | int | None = None) -> int | None:
    """The data rows of a table file, counted without reading it into a frame (an upper bound).

    CSV/TSV: records that are not blank, less the header; JSONL: lines that are not blank;
    Parquet: the footer's count; XLSX: the sheet's dimension less the header. ``None`` for a
    file that is no table (a transcript, a journal export, a project).
    """
    p = Path(path)
    fmt = TABLE_SUFFIXES.get(p.suffix.lower())
    if fmt is None or not p.is_file():
        return None
    if fmt in ("csv", "tsv"):
        text, _ = decode_text(p.read_bytes(), str(p))
        csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
        try:
            n = sum(1 for rec in csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text, fmt))
                    if any(c.strip() for c in rec))
        except csv.Error:
            return None  # the reader says what is wrong, located
        return max(0, n - 1)
    if fmt == "jsonl":
        with open(p, "rb") as fh:
            return sum(1 for line in fh if line.strip())
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return int(pq.ParquetFile(p).metadata.num_rows)
        except Exception:  # damaged: the reader says so
            return None
    import openpyxl

    try:
        wb = openpyxl.load_workbook(p, read_only=True)
        ws = wb.worksheets[int(sheet)] if isinstance(sheet, int) else wb[sheet] if sheet else wb.worksheets[0]
        rows = ws.max_row
        wb.close()
    except Exception:  # the reader says what is wrong
        return None
    return None if rows is None else max(0, rows - 1)


def read_jsonl_frame(path: str | PathLike[str]) -> pd.DataFrame:
    """Read back what :class:`TableWriter` wrote as JSONL: object cells, ``null`` as ``None``.

    Unlike :func:`read_table` (which reads user files as string cells) nothing is converted;
    the columns are those of the first object.
    """
    with open(path, encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    cols = list(records[0]) if records else []
    return pd.DataFrame([[r.get(c) for c in cols] for r in records], columns=cols, dtype=object)


def read_metadata(path: str | PathLike[str], fmt: str) -> dict[str, Any] | None:
    """The metadata a :class:`TableWriter` recorded with a CSV/TSV/JSONL/Parquet file, if any."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        raw = (pq.read_schema(path).metadata or {}).get(b"mpsoc_nlp")
        return json.loads(raw) if raw else None
    side = metadata_sidecar(path)
    return json.loads(side.read_text(encoding="utf-8")) if side.is_file() else None


MERGE_FORMATS = ("csv", "tsv", "jsonl", "parquet")


def _header_key(line: bytes) -> bytes:
    return line.removeprefix(b"\xef\xbb\xbf").rstrip(b"\r\n")


def merge_tables(
    paths: list[Path],
    out: str | PathLike[str],
    fmt: str,
    metadata: dict[str, Any] | None = None,
    *,
    force: bool = False,
) -> int | None:
    """Join table files of one format and the same columns into ``out`` with flat memory.

    CSV/TSV keep the first file's header; Parquet gets ``metadata`` in its schema, the others
    a sidecar (with the merged file's ``sha256``). Empty files are skipped. Returns the number
    of rows, or ``None`` for CSV/TSV (quoted line breaks make a line count no row count).
    Publishes atomically and exclusively (an existing ``out`` only with ``force``).
    """
    data = [p for p in paths if p.stat().st_size > 0]
    rows = 0
    digest: str | None = None
    with atomic_file(out, mkdir=False, replace=force) as tmp:
        if fmt in ("csv", "tsv", "jsonl"):
            header: bytes | None = None
            with open(tmp, "wb") as dst:
                for p in data:
                    with open(p, "rb") as src:
                        if fmt != "jsonl":
                            head = src.readline()
                            if header is None:
                                header = head
                                dst.write(head)
                            elif _header_key(head) != _header_key(header):
                                raise InputError(f"its columns differ from {data[0].name}'s", path=str(p))
                        last = b"\n"
                        while True:
                            block = src.read(1 << 20)
                            if not block:
                                break
                            rows += block.count(b"\n")
                            dst.write(block)
                            last = block[-1:]
                        if last != b"\n":
                            dst.write(b"\n")
                            rows += 1
            digest = sha256_file(tmp)
        elif data:
            import pyarrow as pa
            import pyarrow.parquet as pq

            schemas = [pq.read_schema(p) for p in data]
            for p, sch in zip(data[1:], schemas[1:], strict=True):
                if sch.names != schemas[0].names:
                    raise InputError(f"its columns differ from {data[0].name}'s", path=str(p))
            try:
                schema = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise InputError(f"the shards' column types do not agree: {exc}") from exc
            meta = dict(schemas[0].metadata or {})
            if metadata is not None:
                meta[b"mpsoc_nlp"] = json.dumps(metadata, ensure_ascii=False).encode("utf-8")
            schema = schema.with_metadata(meta)
            with pq.ParquetWriter(tmp, schema) as writer:
                for p in data:
                    for batch in pq.ParquetFile(p).iter_batches():
                        writer.write_table(pa.Table.from_batches([batch]).cast(schema))
                        rows += batch.num_rows
    if fmt != "parquet":
        if metadata is not None:
            write_sidecar(out, {**metadata, "sha256": digest})
        return None if fmt in ("csv", "tsv") else rows
    return rows
