"""Readers and writers, one module per family of formats."""

from .segments import read_segments
from .tables import Table, decode_text, read_table

__all__ = ["read_segments", "read_table", "decode_text", "Table"]
