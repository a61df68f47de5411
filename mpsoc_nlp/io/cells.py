"""Cell safety of the spreadsheets mpsoc writes: text stays text, nothing executes, nothing leaks.

* A cell whose text starts with ``=``, ``+``, ``-`` or ``@`` is a formula to Excel and
  LibreOffice (formula injection: ``=HYPERLINK(...)`` runs when the sheet is opened). Every such
  cell is stored as a text cell (:func:`text_only`), so it shows the text as written.
* Characters that XML 1.0 cannot hold (NUL and the other C0 controls except tab, newline and
  carriage return) cannot be stored in ``.xlsx``. :func:`check_cells` refuses them with an
  :class:`~mpsoc_nlp.errors.InputError` that names the row and the column and the character's code
  point, never the text (it may be sensitive).
* A worksheet holds at most :data:`XLSX_MAX_ROWS` rows, the header included;
  :func:`check_row_limit` says so before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from os import PathLike
from typing import Any

import pandas as pd

from ..errors import InputError, InputProblem

__all__ = [
    "check_sheet",
    "FORMULA_PREFIXES", "XLSX_MAX_ROWS", "XLSX_MAX_DATA_ROWS", "check_cells", "check_row_limit", "text_only"]

#: First characters that make a spreadsheet cell a formula.
FORMULA_PREFIXES = ("=", "+", "-", "@")
#: Rows of one worksheet in Excel (and openpyxl's writer), the header row included.
XLSX_MAX_ROWS = 1_048_576
#: Data rows below the header that fit one worksheet.
XLSX_MAX_DATA_ROWS = XLSX_MAX_ROWS - 1
#: What XML 1.0 (and so ``.xlsx``) cannot hold: the C0 controls except tab, LF and CR.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MAX_LISTED = 20


def check_row_limit(rows: int, path: str | PathLike[str]) -> None:
    """Refuse ``rows`` data rows for one worksheet of ``path`` when they do not fit."""
    if rows > XLSX_MAX_DATA_ROWS:
        raise InputError(
            f"{rows} rows do not fit one .xlsx worksheet (at most {XLSX_MAX_DATA_ROWS} rows below the header); "
            "write .csv, .jsonl or .parquet instead, or split the input",
            path=str(path),
        )


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            if isinstance(v, str):
                yield v


def check_cells(
    frame: pd.DataFrame, path: str | PathLike[str], *, first_row: int = 2, sheet: str | None = None
) -> None:
    """Refuse cells of ``frame`` that a spreadsheet cannot store; never quote their text.

    ``first_row`` is the spreadsheet row of the frame's first row (2 below a header).
    """
    problems: list[InputProblem] = []
    found = 0
    for j, column in enumerate(frame.columns):
        col = frame.iloc[:, j]
        if col.dtype != object:
            continue
        for i, value in enumerate(col.tolist()):
            for s in _strings(value):
                m = _ILLEGAL.search(s)
                if m is None:
                    continue
                found += 1
                if len(problems) < _MAX_LISTED:
                    where = ""
                    if "segment_id" in frame.columns and isinstance(frame["segment_id"].iloc[i], str):
                        where = f" (segment {frame['segment_id'].iloc[i]!r})"
                    problems.append(
                        InputProblem(
                            str(path),
                            f"the cell{where} holds the control character U+{ord(m.group()):04X}, which a "
                            "spreadsheet cannot store; remove it from the input or write .csv, .jsonl or .parquet",
                            first_row + i,
                            str(column),
                            sheet,
                        )
                    )
                break
    if problems:
        raise InputError(problems, truncated=found - len(problems))


def check_sheet(
    frame: pd.DataFrame, path: str | PathLike[str], *, rows_before: int = 0, sheet: str | None = None
) -> None:
    """Check one chunk of a worksheet: the rows so far fit (:func:`check_row_limit`), the cells can be stored.

    ``rows_before`` is the number of data rows written above this chunk.
    """
    check_row_limit(rows_before + len(frame), path)
    check_cells(frame, path, first_row=rows_before + 2, sheet=sheet)


def text_only(worksheet: Any) -> None:
    """Store every cell of an openpyxl ``worksheet`` that would be a formula as a text cell."""
    for row in worksheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith(FORMULA_PREFIXES):
                cell.data_type = "s"
