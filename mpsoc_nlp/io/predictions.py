"""Write predictions (CSV, TSV, XLSX, JSONL, Parquet) chunk by chunk, atomically, with metadata.

Every output records the model, its codebook and the library version: a ``FILE.meta.json``
sidecar for CSV/TSV/JSONL, a sheet ``About`` in XLSX, the schema metadata in Parquet.

Workbooks speak English, as ``disagreements.xlsx`` does: sheet and column names, ``(no code)``
for a segment without codes; each header cell carries a note in Norwegian. ``excel=True`` writes
CSV for Norwegian Excel: UTF-8 with BOM and ``;`` as delimiter (a double-click opens it in
columns, with æøå intact).
The file is written under a temporary name beside the target and renamed when complete, so an
interrupted run leaves no partial output. The formats themselves are :mod:`.tables`'; this module
adds what predictions look like (``p:CODE`` columns, a ``probabilities`` object in JSONL).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..codebook import NO_CODE
from ..errors import InputError
from .tables import TableWriter

__all__ = [
    "PredictionWriter",
    "OUTPUT_FORMATS",
    "PROBA_PREFIX",
    "PREDICTIONS_SHEET",
    "CODINGS_SHEET",
    "HEADER_NOTES",
    "output_format",
]

#: The sheet of a predictions workbook (``classify --out x.xlsx``) and of coded segments
#: (``import-qdpx --out x.xlsx``); the metadata go to the sheet ``About``.
PREDICTIONS_SHEET = "Predictions"
CODINGS_SHEET = "Codings"
#: The Norwegian of the columns, as notes on the header cells of a workbook.
HEADER_NOTES = {
    "segment_id": "Segment-ID (unik per koder).",
    "document_id": "Dokument: intervjuet eller journalen segmentet kommer fra.",
    "coder": "Koder: hvem som kodet raden.",
    "genre": "Sjanger: intervju eller journal.",
    "speaker": "Taler.",
    "turn_index": "Replikknummer i dokumentet.",
    "start": "Start: tegnposisjon i dokumentet (fra 0).",
    "end": "Slutt: tegnposisjon i dokumentet (ikke medregnet).",
    "text": "Tekst: segmentets tekst.",
    "gold_codes": "Koder satt av mennesker i inndata (fasit). (no code) = ingen kode.",
    "codes": "Koder: type:valens, skilt med ';'. (no code) = ingen kode.",
    "review": "Se over: TRUE der modellen er usikker (en sannsynlighet nær terskelen).",
    "source_file": "Kildefil.",
    "source_row": "Rad i kildefilen.",
}

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
    values as empty strings, as CSV does; XLSX puts the rows in the sheet ``Predictions``
    (``sheet_name`` to change it), shows an empty set of codes as ``(no code)``, notes each
    header in Norwegian, and puts the metadata in ``About``. ``excel=True`` (CSV only) writes
    UTF-8 with BOM and ``;`` for Norwegian Excel.

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

    header_notes = HEADER_NOTES

    def __init__(
        self,
        path: str | os.PathLike[str],
        fmt: str,
        metadata: dict[str, Any],
        *,
        sheet_name: str = PREDICTIONS_SHEET,
        force: bool = False,
        excel: bool = False,
    ) -> None:
        if excel and fmt != "csv":
            raise InputError(f"--excel writes CSV for Excel (UTF-8 with BOM, ';'); it does not apply to {fmt}")
        super().__init__(path, fmt, metadata, sheet_name=sheet_name, force=force)
        if excel:
            self.csv_encoding, self.csv_delimiter = "utf-8-sig", ";"

    def cell(self, v: Any) -> Any:
        """As :meth:`TableWriter.cell`; in a workbook an empty set of codes reads ``(no code)``."""
        if self.fmt == "xlsx" and isinstance(v, tuple) and not v:
            return NO_CODE
        return super().cell(v)

    def jsonl_record(self, record: dict[str, Any]) -> dict[str, Any]:
        pcols = [c for c in record if c.startswith(PROBA_PREFIX)]
        out = {k: (list(v) if isinstance(v, tuple) else self.cell(v)) for k, v in record.items() if k not in pcols}
        if pcols:
            out["probabilities"] = {c[len(PROBA_PREFIX) :]: record[c] for c in pcols}
        return out
