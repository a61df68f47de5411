"""Workbooks as people keep them: find the sheet that holds the data, merged and typed cells.

Without ``--sheet``, the sheet read is the one whose header has the columns the command needs
(a segment table's ``text`` column, or a journal export's journal and note columns, or the
columns a caller names). When exactly one sheet has them it is read, and the log says which;
when none or several have them, the error lists every sheet with its columns. Visible sheets
come first: a hidden sheet is taken only when no visible sheet fits, with a warning.

Cells are read as Excel saved them: a formula as its last computed value, a merged range as its
top-left value in every cell of the range, and numbers, dates and booleans in a text column as
text (``3``, ``2025-03-01``, ``true``) with a warning naming the cells.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from openpyxl.utils.cell import get_column_letter, range_boundaries

from ..errors import InputError

__all__ = [
    "SheetNeed",
    "SEGMENT_OR_JOURNAL",
    "columns_need",
    "choose_sheet",
    "merged_ranges",
    "fill_merged",
    "warn_typed_cells",
    "warn_value_like_text",
]

logger = logging.getLogger(__name__)

#: How many rows are looked at for a sheet's header (its first non-empty row) while searching.
HEADER_SEARCH_ROWS = 50
_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=\"([A-Za-z]+[0-9]+:[A-Za-z]+[0-9]+)\"")


@dataclass(frozen=True)
class SheetNeed:
    """The columns a reader needs: a test on a header, and words for messages."""

    accepts: Callable[[Sequence[str]], bool]
    description: str


def _segment_or_journal(columns: Sequence[str]) -> bool:
    from ..corpus import _resolve_columns
    from .journals import is_journal_table

    return "text" in _resolve_columns(columns, None) or is_journal_table(columns)


#: The default: a segment table (a ``text`` column or its aliases) or a journal export.
SEGMENT_OR_JOURNAL = SheetNeed(_segment_or_journal, "a 'text' column, or a journal and a note column")


def columns_need(names: Iterable[str]) -> SheetNeed:
    """A :class:`SheetNeed` for a header holding all of ``names`` (as written)."""
    wanted = [str(n) for n in names]
    return SheetNeed(lambda cols: all(n in [str(c) for c in cols] for n in wanted), f"the columns {wanted}")


def _header_of(ws: Any) -> list[str]:
    for i, values in enumerate(ws.iter_rows(values_only=True)):
        if i >= HEADER_SEARCH_ROWS:
            break
        cells = ["" if v is None else str(v).strip() for v in values]
        if any(cells):
            while cells and not cells[-1]:
                cells.pop()
            return cells
    return []


def _state(wb: Any, name: str) -> str:
    return str(getattr(wb[name], "sheet_state", "visible") or "visible")


def _listing(sheets: Sequence[tuple[str, str, list[str]]]) -> str:
    parts = []
    for name, state, cols in sheets:
        hidden = f" ({state})" if state != "visible" else ""
        shown = cols[:12] + (["..."] if len(cols) > 12 else [])
        parts.append(f"{name!r}{hidden}: {shown if cols else 'empty'}")
    return "; ".join(parts)


def choose_sheet(wb: Any, path: str, need: SheetNeed | None = None) -> str:
    """The name of the sheet of ``wb`` (an open openpyxl workbook) that has the needed columns.

    A workbook of one sheet gives that sheet (its columns are checked by the reader). Otherwise
    the one visible sheet whose header ``need`` accepts, else the one hidden sheet that does.
    Raises :class:`InputError` listing every sheet and its columns when none or several fit.
    """
    need = need or SEGMENT_OR_JOURNAL
    names = list(wb.sheetnames)
    if len(names) == 1:
        return names[0]
    sheets = [(name, _state(wb, name), _header_of(wb[name])) for name in names]
    fits = [s for s in sheets if s[2] and need.accepts(s[2])]
    visible = [s for s in fits if s[1] == "visible"]
    chosen = visible if visible else fits
    if len(chosen) == 1:
        name, state = chosen[0][0], chosen[0][1]
        if state != "visible":
            logger.warning(
                "%s: read the %s sheet %r, the only sheet with %s (a hidden sheet may be out of date; "
                "name it with --sheet to silence this)",
                path, state, name, need.description,
            )
        elif name != names[0]:
            logger.info("%s: read the sheet %r, the only sheet with %s", path, name, need.description)
        return name
    if not chosen:
        raise InputError(
            f"no sheet has {need.description}; the sheets are {_listing(sheets)}. "
            "Name the sheet with --sheet, or the column with --text-column",
            path=path,
        )
    raise InputError(
        f"{len(chosen)} sheets have {need.description}: {_listing(chosen)}. Name the one to read with --sheet "
        f"(all sheets: {', '.join(repr(n) for n in names)})",
        path=path,
    )


def merged_ranges(ws: Any) -> list[tuple[int, int, int, int]]:
    """The merged ranges ``(min_col, min_row, max_col, max_row)`` of a read-only worksheet.

    Read-only worksheets do not keep merged ranges, so the sheet's XML is streamed once for its
    ``<mergeCell ref="A2:A5"/>`` elements (they sit after the cells).
    """
    source = getattr(ws, "_get_source", None)
    if source is None:
        return [tuple(range_boundaries(str(r))) for r in getattr(ws, "merged_cells", [])]  # type: ignore[misc]
    out: list[tuple[int, int, int, int]] = []
    tail = b""
    with source() as fh:
        while True:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            data = tail + chunk
            last = data.rfind(b"<")  # a tag cut at the chunk's end is read with the next chunk
            keep = last >= 0 and len(data) - last < 4096
            body, tail = (data[:last], data[last:]) if keep else (data, b"")
            for m in _MERGE.finditer(body):
                out.append(range_boundaries(m.group(1).decode("ascii")))  # type: ignore[arg-type]
    for m in _MERGE.finditer(tail):
        out.append(range_boundaries(m.group(1).decode("ascii")))  # type: ignore[arg-type]
    return out


def fill_merged(rows: list[list[Any]], row_numbers: Sequence[int], ranges: Sequence[tuple[int, int, int, int]]) -> int:
    """Copy each merged range's top-left value into the range's other cells of ``rows`` (in place).

    ``rows[k]`` is the sheet's row ``row_numbers[k]`` (1-based) as a list of cells; returns how
    many cells were filled.
    """
    at = {r: k for k, r in enumerate(row_numbers)}
    filled = 0
    for min_col, min_row, max_col, max_row in ranges:
        if min_row not in at:
            continue
        top = rows[at[min_row]]
        value = top[min_col - 1] if min_col - 1 < len(top) else None
        for r in range(min_row, max_row + 1):
            if r not in at:
                continue
            row = rows[at[r]]
            for c in range(min_col, max_col + 1):
                if (r, c) != (min_row, min_col) and c - 1 < len(row) and row[c - 1] in (None, ""):
                    row[c - 1] = value
                    filled += 1
    return filled


def warn_typed_cells(
    path: str, sheet: str, header: Sequence[str], typed: Sequence[tuple[int, int]], *, limit: int = 10
) -> None:
    """Warn, naming the cells, when a text column holds numbers, dates or booleans.

    ``typed`` holds ``(row, column_index)`` (1-based row, 0-based column) of the cells that
    Excel stored as numbers, dates or booleans; they were read as text.
    """
    if not typed:
        return
    cols = [str(c) for c in header]
    idx = {cols.index(c) for c in _text_columns(cols)}
    cells = [f"{get_column_letter(c + 1)}{r}" for r, c in typed if c in idx]
    if not cells:
        return
    more = f" and {len(cells) - limit} more" if len(cells) > limit else ""
    names = ", ".join(repr(cols[i]) for i in sorted(idx))
    logger.warning(
        "%s, sheet %r: the text column %s holds numbers, dates or booleans in cell(s) %s%s; they were read "
        "as text (dates as YYYY-MM-DD). Check that the column is the text you meant",
        path, sheet, names, ", ".join(cells[:limit]), more,
    )


def _text_columns(cols: Sequence[str]) -> set[str]:
    """The columns of a header that hold text: a segment table's ``text``, a journal's note."""
    from ..corpus import _resolve_columns
    from .journals import journal_columns

    return {c for c in (_resolve_columns(cols, None).get("text"), journal_columns(cols).get("note")) if c}


_VALUE_LIKE = re.compile(
    r"[-+]?\d+(?:[.,]\d+)?|\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?|\d{1,2}[./]\d{1,2}[./]\d{2,4}"
    r"|true|false|sann|usann",
    re.IGNORECASE,
)


def warn_value_like_text(
    path: str, columns: Sequence[str], rows: Sequence[int], frame: Any, *, limit: int = 10
) -> None:
    """Warn, naming the rows, when a text column of a CSV, TSV or JSONL table holds bare values.

    A cell that is only a number, a date or a boolean (``42``, ``2025-03-01``, ``TRUE``) in the
    text column is read as text, but it is often a column shifted by a missing delimiter.
    """
    for col in sorted(_text_columns([str(c) for c in columns])):
        hits = [
            int(r)
            for r, v in zip(rows, frame[col], strict=False)
            if isinstance(v, (bool, int, float)) or (isinstance(v, str) and _VALUE_LIKE.fullmatch(v.strip()))
        ]
        if hits:
            more = f" and {len(hits) - limit} more" if len(hits) > limit else ""
            logger.warning(
                "%s: the text column %r holds only a number, date or boolean in row(s) %s%s; they were read as "
                "text. Check that the column is the text you meant",
                path, col, ", ".join(str(r) for r in hits[:limit]), more,
            )
