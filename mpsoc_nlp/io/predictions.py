"""Write predictions (CSV, TSV, XLSX, JSONL, Parquet) chunk by chunk, atomically, with metadata.

Every output records the model, its codebook and the library version: a ``FILE.meta.json``
sidecar for CSV/TSV/JSONL, a sheet ``Om modellen`` in XLSX, the schema metadata in Parquet.
The file is written under a temporary name beside the target and renamed when complete, so an
interrupted run leaves no partial output.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .._fs import apply_umask
from ..errors import InputError, OutputExistsError

__all__ = ["PredictionWriter", "OUTPUT_FORMATS", "output_format", "check_output_path", "atomic_write_text"]

OUTPUT_FORMATS = ("csv", "tsv", "xlsx", "jsonl", "parquet")
_SUFFIX = {".csv": "csv", ".tsv": "tsv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".parquet": "parquet", ".qdpx": "qdpx"}
PROBA_PREFIX = "p:"


def output_format(path: str | os.PathLike[str], fmt: str | None) -> str:
    """The output format: ``fmt`` if given, else from the suffix of ``path``."""
    if fmt:
        fmt = fmt.lower().lstrip(".")
        if fmt not in OUTPUT_FORMATS + ("qdpx",):
            raise InputError(f"unknown --format {fmt!r}; use one of {', '.join(OUTPUT_FORMATS + ('qdpx',))}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIX:
        raise InputError(
            f"cannot tell the output format from {str(path)!r}; end the name in .csv, .tsv, .xlsx, .jsonl or "
            ".parquet, or give --format"
        )
    return _SUFFIX[suffix]


def check_output_path(
    out: str | os.PathLike[str], inputs: Sequence[str | os.PathLike[str]], *, force: bool
) -> Path:
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


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file under a temporary name and rename it into place."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
    apply_umask(tmp)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cell(v: Any) -> Any:
    if isinstance(v, tuple):
        return "; ".join(v)
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return ""
    return v


class PredictionWriter:
    """Context manager that appends prediction chunks to one output file, atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "pred.csv"
    >>> with PredictionWriter(out, "csv", {"model": "demo"}) as w:
    ...     w.write(pd.DataFrame({"text": ["hei"], "codes": [("ideell:positiv",)]}))
    >>> out.read_text(encoding="utf-8").splitlines()
    ['text,codes', 'hei,ideell:positiv']
    """

    def __init__(self, path: str | os.PathLike[str], fmt: str, metadata: dict[str, Any]) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.metadata = metadata
        self.rows = 0
        self._columns: list[str] | None = None
        self._fh: Any = None
        self._writer: Any = None
        self._frames: list[pd.DataFrame] = []

    def __enter__(self) -> PredictionWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        apply_umask(tmp)
        self._tmp = Path(tmp)
        return self

    def write(self, frame: pd.DataFrame) -> None:
        """Append one chunk of predictions (columns must match the first chunk)."""
        if self._columns is None:
            self._columns = list(frame.columns)
        frame = frame[self._columns]
        self.rows += len(frame)
        if self.fmt in ("csv", "tsv"):
            if self._fh is None:
                self._fh = open(self._tmp, "w", encoding="utf-8", newline="")  # noqa: SIM115 - open across writes
                self._writer = csv.writer(self._fh, delimiter="," if self.fmt == "csv" else "\t")
                self._writer.writerow(self._columns)
            for row in frame.itertuples(index=False, name=None):
                self._writer.writerow([_cell(v) for v in row])
        elif self.fmt == "jsonl":
            if self._fh is None:
                self._fh = open(self._tmp, "w", encoding="utf-8", newline="\n")  # noqa: SIM115 - open across writes
            pcols = [c for c in self._columns if c.startswith(PROBA_PREFIX)]
            for rec in frame.to_dict(orient="records"):
                out = {k: (list(v) if isinstance(v, tuple) else _cell(v)) for k, v in rec.items() if k not in pcols}
                if pcols:
                    out["probabilities"] = {c[len(PROBA_PREFIX) :]: rec[c] for c in pcols}
                self._fh.write(json.dumps(out, ensure_ascii=False, default=_json_default) + "\n")
        elif self.fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(_for_arrow(frame), preserve_index=False)
            if self._writer is None:
                meta = dict(table.schema.metadata or {})
                meta[b"mpsoc_nlp"] = json.dumps(self.metadata, ensure_ascii=False).encode("utf-8")
                # a column empty in the first chunk (no codes predicted, no speaker) has no type yet
                fields = [_typed(f) for f in table.schema]
                self._schema = pa.schema(fields).with_metadata(meta)
                self._writer = pq.ParquetWriter(self._tmp, self._schema)
            self._writer.write_table(table.cast(self._schema))
        elif self.fmt == "xlsx":
            self._frames.append(frame)
        else:
            raise InputError(f"cannot write predictions as {self.fmt!r}")

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if self.fmt == "xlsx" and exc_type is None:
                self._write_xlsx()
            if self._fh is not None:
                self._fh.close()
            if self._writer is not None and self.fmt == "parquet":
                self._writer.close()
        finally:
            if exc_type is not None:
                self._tmp.unlink(missing_ok=True)
        if exc_type is not None:
            return
        if self.fmt in ("csv", "tsv", "jsonl"):
            atomic_write_text(
                self.path.with_name(self.path.name + ".meta.json"),
                json.dumps(self.metadata, ensure_ascii=False, indent=2),
            )
        os.replace(self._tmp, self.path)

    def _write_xlsx(self) -> None:
        frame = pd.concat(self._frames, ignore_index=True) if self._frames else pd.DataFrame(columns=self._columns)
        frame = frame.map(_cell)  # type: ignore[operator]
        meta = pd.DataFrame(
            [
                (k, json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v)
                for k, v in self.metadata.items()
            ],
            columns=["felt", "verdi"],
        )
        with pd.ExcelWriter(self._tmp, engine="openpyxl") as xw:
            frame.to_excel(xw, index=False, sheet_name="Prediksjoner")
            meta.to_excel(xw, index=False, sheet_name="Om modellen")


def _typed(field: Any) -> Any:
    """A field of null type (or list of null) as string (list of string)."""
    import pyarrow as pa

    if pa.types.is_null(field.type):
        return field.with_type(pa.string())
    if pa.types.is_list(field.type) and pa.types.is_null(field.type.value_type):
        return field.with_type(pa.list_(pa.string()))
    return field


def _for_arrow(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for c in out.columns:
        if out[c].dtype == object and out[c].map(lambda v: isinstance(v, tuple)).any():
            out[c] = out[c].map(lambda v: list(v) if isinstance(v, tuple) else v)
    return out


def _json_default(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    if v is pd.NA:
        return None
    raise TypeError(type(v).__name__)
