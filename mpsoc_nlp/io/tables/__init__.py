"""Tables (CSV, TSV, XLSX, JSONL, Parquet): read, write, stream back and merge.

Reading (formats, decoding, sniffing, XLSX) lives in :mod:`.read`, writing (:class:`TableWriter`,
metadata sidecars, counting rows, merging) in :mod:`.write`. Every name is importable from here,
as it was when this was one module.
"""

from __future__ import annotations

# the names beyond __all__ (constants, iter_records, write_sidecar, _sniff_delimiter) are imported by siblings
from .read import (  # noqa: F401
    CSV_FIELD_LIMIT,
    TABLE_SUFFIXES,
    Table,
    _sniff_delimiter,
    decode_text,
    iter_records,
    read_table,
    table_format,
)
from .write import (  # noqa: F401
    MERGE_FORMATS,
    WRITE_FORMATS,
    TableWriter,
    count_rows,
    merge_tables,
    metadata_sidecar,
    read_jsonl_frame,
    read_metadata,
    write_sidecar,
)

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
