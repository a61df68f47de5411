"""Readers and writers, one module per family of formats.

The names below are imported when first used (PEP 562): ``from mpsoc_nlp.io import read_segments``
does not import the REFI-QDA or journal modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .frames import to_dataset
    from .journals import read_journal
    from .qdpx import import_qdpx, read_qdpx, write_qdc, write_qdpx
    from .segments import iter_segment_chunks, read_segments
    from .tables import Table, TableWriter, decode_text, merge_tables, read_table
    from .transcripts import read_transcript

_LAZY = {
    "read_segments": ".segments",
    "iter_segment_chunks": ".segments",
    "read_table": ".tables",
    "decode_text": ".tables",
    "Table": ".tables",
    "TableWriter": ".tables",
    "merge_tables": ".tables",
    "read_transcript": ".transcripts",
    "to_dataset": ".frames",
    "read_journal": ".journals",
    "read_qdpx": ".qdpx",
    "import_qdpx": ".qdpx",
    "write_qdpx": ".qdpx",
    "write_qdc": ".qdpx",
}

__all__ = [
    "read_segments",
    "iter_segment_chunks",
    "read_table",
    "read_transcript",
    "read_journal",
    "read_qdpx",
    "import_qdpx",
    "write_qdpx",
    "write_qdc",
    "decode_text",
    "Table",
    "TableWriter",
    "merge_tables",
    "to_dataset",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
