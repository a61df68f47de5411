"""Write predictions (CSV, TSV, XLSX, JSONL, Parquet) chunk by chunk, atomically, with metadata.

Every output records the model, its codebook and the library version: a ``FILE.meta.json``
sidecar for CSV/TSV/JSONL, a sheet ``Om modellen`` in XLSX, the schema metadata in Parquet.
The file is written under a temporary name beside the target and renamed when complete, so an
interrupted run leaves no partial output. The formats themselves are :mod:`.tables`'; this module
adds what predictions look like (``p:CODE`` columns, a ``probabilities`` object in JSONL).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import InputError
from .tables import TableWriter

__all__ = ["PredictionWriter", "OUTPUT_FORMATS", "PROBA_PREFIX", "output_format"]

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


class PredictionWriter(TableWriter):
    """Context manager that appends prediction chunks to one output file, atomically.

    JSONL gathers the ``p:CODE`` columns into one ``probabilities`` object and writes missing
    values as empty strings, as CSV does; XLSX puts the rows in the sheet ``Prediksjoner``
    (``sheet_name`` to change it) and the metadata in ``Om modellen``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import pandas as pd
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "pred.csv"
    >>> with PredictionWriter(out, "csv", {"model": "demo"}) as w:
    ...     w.write(pd.DataFrame({"text": ["hei"], "codes": [("ideell:positiv",)]}))
    >>> out.read_text(encoding="utf-8").splitlines()
    ['text,codes', 'hei,ideell:positiv']
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fmt: str,
        metadata: dict[str, Any],
        *,
        sheet_name: str = "Prediksjoner",
        force: bool = False,
    ) -> None:
        super().__init__(path, fmt, metadata, sheet_name=sheet_name, force=force)

    def jsonl_record(self, record: dict[str, Any]) -> dict[str, Any]:
        pcols = [c for c in record if c.startswith(PROBA_PREFIX)]
        out = {k: (list(v) if isinstance(v, tuple) else self.cell(v)) for k, v in record.items() if k not in pcols}
        if pcols:
            out["probabilities"] = {c[len(PROBA_PREFIX) :]: record[c] for c in pcols}
        return out
