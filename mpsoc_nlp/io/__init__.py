"""Readers and writers, one module per family of formats."""

from .journals import read_journal
from .qdpx import read_qdpx, write_qdc, write_qdpx
from .segments import iter_segment_chunks, read_segments
from .tables import Table, decode_text, read_table
from .transcripts import read_transcript

__all__ = [
    "read_segments",
    "iter_segment_chunks",
    "read_table",
    "read_transcript",
    "read_journal",
    "read_qdpx",
    "write_qdpx",
    "write_qdc",
    "decode_text",
    "Table",
]
