"""Writing tables, streaming them back and merging them: :class:`TableWriter`, metadata sidecars.

Files are published atomically through :mod:`mpsoc_nlp._fs`; the metadata of CSV/TSV/JSONL goes
into a ``FILE.meta.json`` sidecar, of XLSX into a second sheet, of Parquet into the schema.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..._fs import atomic_file, atomic_write_text, sha256_file
from ...errors import InputError
from ..cells import check_sheet, text_only
from .read import CSV_FIELD_LIMIT, TABLE_SUFFIXES, _sniff_delimiter, decode_text

if TYPE_CHECKING:
    pass


__all__ = [
    "TableWriter",
    "read_jsonl_frame",
    "read_metadata",
    "merge_tables",
    "metadata_sidecar",
    "write_sidecar",
    "count_rows",
    "WRITE_FORMATS",
    "MERGE_FORMATS",
]

logger = logging.getLogger("mpsoc_nlp.io.tables")

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

    def _csv_text(self, frame: pd.DataFrame, delimiter: str) -> str:
        """The CSV lines of ``frame``, byte for byte what ``csv.writer`` writes row by row, made by columns.

        Strings and numbers are written as they are (:meth:`cell` is applied to the other cells:
        tuples, missing values).
        """
        special = re.compile(f"[{re.escape(delimiter)}\"\r\n]")
        fields = [_csv_column(frame.iloc[:, j], self.cell, special) for j in range(frame.shape[1])]
        return "".join(delimiter.join(row) + "\r\n" for row in zip(*fields))

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
            if len(self._columns) > 1:
                self._fh.write(self._csv_text(frame, self._writer.dialect.delimiter))
            else:  # one column: csv quotes an empty row, leave that to it
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


def _csv_field(v: Any) -> str:
    """What ``csv.writer`` writes for a value: floats by ``repr``, ``None`` empty, the rest by ``str``."""
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _csv_column(col: pd.Series, cell: Any, special: re.Pattern[str]) -> list[str]:
    """One column's CSV fields, quoted where ``csv.writer`` quotes (a delimiter, a quote, a line break)."""
    dtype = col.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return np.where(col.to_numpy(), "True", "False").tolist()
    if dtype.kind == "f" and isinstance(dtype, np.dtype):
        arr = np.ascontiguousarray(col.to_numpy())
        # distinct bit patterns: -0.0 and 0.0 are written apart
        _, first, inverse = np.unique(arr.view(f"i{arr.itemsize}"), return_index=True, return_inverse=True)
        texts = np.asarray(["" if v != v else repr(v) for v in arr[first].tolist()], dtype=object)
        return texts[inverse.ravel()].tolist()
    if dtype.kind in "iu" and isinstance(dtype, np.dtype):
        return col.to_numpy().astype(str).tolist()
    values: list[Any] = col.tolist()
    if pd.api.types.infer_dtype(values, skipna=False) != "string":
        types = {type(v) for v in values}
        if any(issubclass(t, (float, list, dict, set, np.ndarray)) for t in types):
            values = [_csv_field(cell(v)) for v in values]  # 0.0 == -0.0, unhashable cells
        else:  # codes, empty columns: few distinct cells, each formatted once (True == 1: keyed by type too)
            try:
                keys = list(zip(map(type, values), values))
                fields = {k: _csv_field(cell(k[1])) for k in set(keys)}
                values = [fields[k] for k in keys]
            except TypeError:  # a tuple holding an unhashable value
                values = [_csv_field(cell(v)) for v in values]
    if special.search("\x1f".join(values)) is None:
        return values
    return ['"' + v.replace('"', '""') + '"' if special.search(v) else v for v in values]


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
