"""Read generic ratings files (one row per unit and coder) for ``mpsoc agreement``.

A ratings file has a unit column, a coder column and a value column (names configurable). In
CSV/TSV/XLSX every value is a cell: numbers for the interval and ratio levels, any text for the
nominal and ordinal levels (numbers are read as numbers when every value is one). In JSONL (and
Parquet) a value may be a list: a *set* of codes, ``[]`` for "none". An empty cell (or ``null``)
is a missing rating. Every problem names file, row and column, and a file's problems are
reported together.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .._fs import PathArg
from ..errors import InputError, InputProblem
from .frames import as_inputs, frame_table, is_frame
from .tables import iter_records, read_table
from .workbooks import columns_need

__all__ = ["read_ratings"]

_MAX_PROBLEMS = 50


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        s = v.strip().replace("\u2212", "-")
        try:
            f = float(s)
        except ValueError:
            try:  # Norwegian decimal comma
                f = float(s.replace(",", ".")) if s.count(",") == 1 and "." not in s else math.nan
            except ValueError:
                return None
        return f if math.isfinite(f) else None
    return None


def _tidy(f: float) -> float | int:
    return int(f) if f.is_integer() else f


def read_ratings(
    paths: PathArg | pd.DataFrame | Sequence[Any],
    *,
    unit: str = "unit",
    coder: str = "coder",
    value: str = "value",
    level: str = "nominal",
    categories: Sequence[Any] | None = None,
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Read ratings files into long format: columns ``unit``, ``coder``, ``value``.

    Parameters
    ----------
    paths : path, DataFrame, Dataset, or a list of them
        CSV, TSV, XLSX, JSONL or Parquet files (or frames, rows numbered as in the frame); their
        rows are pooled (a unit id names the same unit in every file, so one file per coder works).
    unit, coder, value : str
        The files' column names.
    level : {'nominal', 'ordinal', 'interval', 'ratio'}
        Interval and ratio need numeric values; ordinal text values need ``categories``.
    categories : sequence, optional
        The possible values in order; a value outside them is an error. Numeric-looking
        categories become numbers when the values are numbers.

    Returns
    -------
    DataFrame
        Columns ``unit``, ``coder``, ``value`` (a number, a string or a tuple of codes) and
        ``source_file``, ``source_row``; missing ratings are left out. ``attrs['categories']``
        holds the categories converted like the values (or ``None``).

    Raises
    ------
    InputError
        Every problem found, each naming file, row and column.
    """
    files = as_inputs(paths)
    if not files:
        raise InputError("no input files were given")
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise InputError(f"--level must be nominal, ordinal, interval or ratio, not {level!r}")
    problems: list[InputProblem] = []
    n_problems = 0

    def problem(p: InputProblem) -> None:
        nonlocal n_problems
        n_problems += 1
        if len(problems) < _MAX_PROBLEMS:
            problems.append(p)

    records: list[dict[str, Any]] = []
    for path in files:
        need = columns_need([unit, coder, value])
        table = frame_table(path) if is_frame(path) else read_table(path, sheet=sheet, need=need)
        columns = [str(c) for c in table.frame.columns]
        absent = [c for c in (unit, coder, value) if c not in columns]
        if absent:
            problem(
                table.problem(
                    f"expected the columns {[unit, coder, value]} but {absent} {'is' if len(absent) == 1 else 'are'} "
                    f"not among {columns}; name the columns with --unit, --coder and --value"
                )
            )
            continue
        for row, rec in iter_records(table):
            u, c, v = rec.get(unit), rec.get(coder), rec.get(value)
            if u is None or (isinstance(u, str) and not u.strip()):
                problem(table.problem("the unit is empty", row=row, column=unit))
                continue
            if c is None or (isinstance(c, str) and not c.strip()):
                problem(table.problem("the coder is empty", row=row, column=coder))
                continue
            if v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and v != v):
                continue  # a missing rating
            if isinstance(v, dict):
                message = f"a value must be a category, a number or a list, not {v!r}"
                problem(table.problem(message, row=row, column=value))
                continue
            if isinstance(v, (list, tuple)):
                bad = [x for x in v if isinstance(x, (list, dict, tuple)) or x is None]
                if bad:
                    problem(table.problem(f"a set of codes holds plain codes, not {bad[0]!r}", row=row, column=value))
                    continue
                v = tuple(sorted({str(x).strip() for x in v}))
            elif isinstance(v, bool):
                v = str(v).lower()
            key_u = u.strip() if isinstance(u, str) else u
            key_c = c.strip() if isinstance(c, str) else c
            records.append(
                {"unit": str(key_u), "coder": str(key_c), "value": v, "source_file": table.path,
                 "source_row": row, "_sheet": table.sheet if table.format == "xlsx" else None, "_column": value}
            )

    def where(r: dict[str, Any], message: str) -> InputProblem:
        return InputProblem(r["source_file"], message, r["source_row"], r["_column"], r["_sheet"])

    # one value per unit and coder
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        key = (r["unit"], r["coder"])
        if key in seen:
            first = seen[key]
            problem(
                where(
                    r,
                    f"coder {r['coder']!r} rated unit {r['unit']!r} twice (also {first['source_file']} row "
                    f"{first['source_row']}); give one value per unit and coder (a set of codes goes in one list)",
                )
            )
        else:
            seen[key] = r

    # sets and single values do not mix
    set_rows = [r for r in records if isinstance(r["value"], tuple)]
    if set_rows and len(set_rows) < len(records):
        first_scalar = next(r for r in records if not isinstance(r["value"], tuple))
        problem(
            where(
                first_scalar,
                f"a single value {first_scalar['value']!r} among set-valued ratings (lists, e.g. in "
                f"{set_rows[0]['source_file']} row {set_rows[0]['source_row']}); write every value as a "
                "list ([] for none)",
            )
        )
    is_sets = bool(set_rows) and len(set_rows) == len(records)

    # numbers
    numeric_cats: list[Any] | None = None
    if not is_sets and records:
        numbers = [_number(r["value"]) for r in records]
        all_numeric = all(n is not None for n in numbers)
        if level in ("interval", "ratio") and not all_numeric:
            for r, n in zip(records, numbers, strict=True):
                if n is None:
                    problem(where(r, f"the {level} level needs a number, not {r['value']!r}"))
        elif level == "ratio":
            for r, n in zip(records, numbers, strict=True):
                if n is not None and n < 0:
                    problem(where(r, f"the ratio level needs values of 0 or more, not {r['value']!r}"))
        if all_numeric:
            for r, n in zip(records, numbers, strict=True):
                r["value"] = _tidy(float(n))  # type: ignore[arg-type]
            if categories is not None:
                cat_numbers = [_number(c) for c in categories]
                if all(n is not None for n in cat_numbers):
                    numeric_cats = [_tidy(float(n)) for n in cat_numbers]  # type: ignore[arg-type]
        else:
            for r in records:
                r["value"] = str(r["value"]).strip()

    cats: list[Any] | None = None
    if categories is not None:
        if is_sets:
            problem(InputProblem(str(files[0]), "--categories applies to single values, not to sets of codes"))
        else:
            cats = numeric_cats if numeric_cats is not None else [str(c).strip() for c in categories]
            if len(set(cats)) != len(cats):
                problem(InputProblem(str(files[0]), f"--categories lists a category twice: {list(categories)}"))
            allowed = set(cats)
            for r in records:
                if r["value"] not in allowed:
                    problem(where(r, f"{r['value']!r} is not among the categories {list(categories)}"))
    elif level == "ordinal" and records and not is_sets and isinstance(records[0]["value"], str):
        problem(
            InputProblem(
                str(files[0]),
                "the ordinal level needs the order of the text values: give them from lowest to highest "
                "with --categories (for example --categories low,middle,high)",
            )
        )
    if level in ("ordinal", "interval", "ratio") and is_sets:
        problem(InputProblem(str(files[0]), f"sets of codes have no {level} scale; use --level nominal"))

    if n_problems:
        rank = {str(f): i for i, f in enumerate(files)}
        problems.sort(key=lambda p: (rank.get(p.path, len(rank)), p.row or 0))
        raise InputError(problems, truncated=n_problems - len(problems))
    if not records:
        raise InputError("no ratings found (every value is empty)", path=str(files[0]))
    frame = pd.DataFrame.from_records(records, columns=["unit", "coder", "value", "source_file", "source_row"])
    frame["value"] = pd.Series([r["value"] for r in records], dtype=object)
    frame.attrs["categories"] = cats
    frame.attrs["sets"] = is_sets
    return frame
