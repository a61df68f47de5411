"""The MPSOC views of agreement: per code, per community type, per valence and on whole sets.

A segment's value is its set of ``TYPE:VALENCE`` codes. :func:`code_agreement` turns every code,
type and valence into a presence/absence rating and computes the coefficients of
:mod:`mpsoc_nlp.agreement.statistics` on each, plus whole-set statistics;
:func:`segment_agreement` adds F1 and bootstrap intervals that resample whole documents, and
:func:`views_records` makes its rows JSON-ready.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from mpsoc_nlp.codebook import Codebook
from mpsoc_nlp.errors import InputError

from .bootstrap import bootstrap_ci, f1_interval
from .statistics import (
    UndefinedStatisticWarning,
    _Coded,
    _evaluate,
    _frame,
    _index_units_coders,
    _is_set_like,
    _spec,
)

if TYPE_CHECKING:
    from .statistics import RatingsLike

__all__ = [
    "BINARY_STATISTICS",
    "SET_STATISTICS",
    "code_agreement",
    "json_number",
    "segment_agreement",
    "statistics_of",
    "variable_members",
    "views_records",
]

#: Statistics given (with intervals) for each code, type and valence (presence/absence).
BINARY_STATISTICS = ("percent_agreement", "cohen_kappa", "krippendorff_alpha", "gwet_ac1", "f1")
#: Statistics given for whole sets of codes (exact match, and alpha with the MASI distance).
SET_STATISTICS = ("percent_agreement", "cohen_kappa", "krippendorff_alpha", "krippendorff_alpha_masi")
_TWO_CODER = ("cohen_kappa", "f1")


def variable_members(level: str, name: str, codes: Sequence[str]) -> frozenset[str]:
    """The codes that make variable ``name`` present: the code itself, or every code of a type/valence.

    Type and valence membership is :meth:`Codebook.members <mpsoc_nlp.codebook.Codebook.members>`.

    >>> sorted(variable_members("valence", "negativ", ["a:positiv", "a:negativ", "b:negativ"]))
    ['a:negativ', 'b:negativ']
    """
    if level == "code":
        return frozenset({name})
    if level in ("type", "valence"):
        return frozenset(Codebook.members(codes)[level].get(name, ()))
    raise ValueError(f"unknown level {level!r}")


def _code_set(v: object) -> frozenset[str]:
    if isinstance(v, str):
        return frozenset(c.strip() for c in v.split(";") if c.strip())
    if _is_set_like(v):
        return frozenset(cast("Iterable[str]", v))
    raise TypeError(repr(v))


def _parse_segments(
    segments: RatingsLike, codes: Sequence[str], unit: str, coder: str, value: str, where: str
) -> tuple[pd.DataFrame, list[frozenset[str]]]:
    """Kept rows (a rating given) and their sets of codes, checked against ``codes``."""
    frame = _frame(segments, [unit, coder, value], where)
    frame = frame.loc[~frame[value].isna().to_numpy()].reset_index(drop=True)
    sets, bad = [], []
    for i, v in enumerate(frame[value]):
        try:
            sets.append(_code_set(v))
        except TypeError:
            bad.append(f"unit {frame[unit].iat[i]!r}, coder {frame[coder].iat[i]!r}: {v!r} is not a set of codes")
            sets.append(frozenset())
    known = set(codes)
    for i, s in enumerate(sets):
        for c in sorted(s - known):
            bad.append(f"unit {frame[unit].iat[i]!r}, coder {frame[coder].iat[i]!r}: unknown code {c!r}")
    if bad:
        raise InputError(
            "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else ""), path=where, column=value
        )
    return frame, sets


def _mpsoc_variables(codes: Sequence[str]) -> list[tuple[str, str, frozenset[str]]]:
    """(level, name, member codes) for every code, community type and valence, in codebook order."""
    if len(set(codes)) != len(codes):
        raise InputError("codes lists a code twice", path="code_agreement")
    for c in codes:
        if not isinstance(c, str) or c.count(":") != 1:
            raise InputError(f"a code is 'type:valence'; got {c!r}", path="code_agreement")
    groups = Codebook.members(codes)
    out = [("code", c, frozenset({c})) for c in codes]
    for level in ("type", "valence"):
        out += [(level, name, frozenset(group)) for name, group in groups[level].items()]
    return out


def code_agreement(
    segments: RatingsLike,
    *,
    codes: Sequence[str],
    unit: str = "segment_id",
    coder: str = "coder",
    value: str = "codes",
) -> pd.DataFrame:
    """Agreement per MPSOC code, per community type, per valence, and on whole sets of codes.

    Each segment's value is its set of codes (a tuple or list of ``"type:valence"`` strings, or
    a ``;``-separated string; empty = no community; ``None``/``NaN`` = that coder did not code
    the segment). Every code becomes a presence/absence rating; a community *type* is present
    when any of its codes is (regardless of valence), a *valence* when any code with it is. The
    last row compares whole sets: exact-match statistics and Krippendorff's alpha with MASI.

    Parameters
    ----------
    segments : DataFrame or iterable of (unit, coder, value)
        One row per segment and coder.
    codes : sequence of str
        The codebook's codes in order (rows follow it; codes never used still get a row).
    unit, coder, value : str
        Column names.

    Returns
    -------
    DataFrame
        One row per code, type, valence and one ``set`` row, with columns ``level``, ``name``,
        ``n_units`` (segments with two or more ratings), ``n_ratings``, ``n_present`` (ratings
        with the code / a non-empty set), ``both_present``, ``first_only``, ``second_only``,
        ``both_absent`` (two coders only, over segments both rated; the coders are in
        ``.attrs['coders']``), ``percent_agreement``, ``cohen_kappa`` (two coders only),
        ``krippendorff_alpha`` (nominal), ``gwet_ac1`` (q = 2: present/absent; not for whole
        sets, whose number of possible values, 2**len(codes), makes AC1 meaningless),
        ``krippendorff_alpha_masi`` (set row) and ``notes`` (why a value is ``nan``).

    Warns
    -----
    UndefinedStatisticWarning
        Once, if any value is undefined (e.g. a code nobody used has no kappa); the reasons
        are in ``notes``.

    Examples
    --------
    >>> codes = ["relasjonell:positiv", "relasjonell:negativ", "rusrelatert:negativ"]
    >>> segments = pd.DataFrame({
    ...     "segment_id": ["s1", "s1", "s2", "s2", "s3", "s3", "s4", "s4"],
    ...     "coder": ["A", "B"] * 4,
    ...     "codes": [("relasjonell:positiv",), ("relasjonell:positiv",),
    ...               ("rusrelatert:negativ",), (),
    ...               ("relasjonell:negativ", "rusrelatert:negativ"), ("relasjonell:negativ",),
    ...               (), ()]})
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     table = code_agreement(segments, codes=codes)
    >>> table[["level", "name", "n_present", "percent_agreement"]]
         level                 name  n_present  percent_agreement
    0     code  relasjonell:positiv          2               1.00
    1     code  relasjonell:negativ          2               1.00
    2     code  rusrelatert:negativ          2               0.50
    3     type          relasjonell          4               1.00
    4     type          rusrelatert          2               0.50
    5  valence              positiv          2               1.00
    6  valence              negativ          3               0.75
    7      set         (whole sets)          5               0.50
    """
    where = "code_agreement"
    frame, sets = _parse_segments(segments, codes, unit, coder, value, where)
    rows, unit_labels, coder_labels = _index_units_coders(frame, unit, coder, where)
    given = rows >= 0
    safe = np.maximum(rows, 0)
    n_coders = len(coder_labels)
    two = n_coders == 2

    def evaluate(
        matrix: np.ndarray, categories: list[Any], names: Sequence[str], is_sets: bool = False
    ) -> dict[str, Any]:
        coded = _Coded(matrix, categories, unit_labels, coder_labels, is_sets, True)
        specs = {n: _spec(n, coded, where=where) for n in names}
        results = _evaluate(coded, specs)
        m = (matrix >= 0).sum(axis=1)
        record: dict[str, Any] = {"n_units": int((m >= 2).sum()), "n_ratings": int(given.sum())}
        notes = []
        for name in names:
            stat, why = results[name]
            record[name] = stat
            if math.isnan(stat) and why:
                notes.append(f"{name}: {why}")
        record["notes"] = "; ".join(notes)
        return record

    records = []
    names = ["percent_agreement", "cohen_kappa", "krippendorff_alpha", "gwet_ac1"]
    for level, name, members in _mpsoc_variables(codes):
        present = np.fromiter((not s.isdisjoint(members) for s in sets), dtype=bool, count=len(sets))
        matrix = np.where(given, present[safe].astype(np.int64), -1)
        record = {"level": level, "name": name, **evaluate(matrix, [False, True], names)}
        record["n_present"] = int(present.sum())
        if two:
            both = given.all(axis=1)
            a, b = matrix[both, 0], matrix[both, 1]
            record.update(
                both_present=int(((a == 1) & (b == 1)).sum()),
                first_only=int(((a == 1) & (b == 0)).sum()),
                second_only=int(((a == 0) & (b == 1)).sum()),
                both_absent=int(((a == 0) & (b == 0)).sum()),
            )
        records.append(record)
    set_index, distinct = pd.factorize(pd.Series(sets, dtype=object))
    categories = list(distinct)
    matrix = np.where(given, set_index[safe] if len(sets) else -1, -1)
    set_names = ["percent_agreement", "cohen_kappa", "krippendorff_alpha", "krippendorff_alpha_masi"]
    record = {"level": "set", "name": "(whole sets)", **evaluate(matrix, categories, set_names, is_sets=True)}
    record["n_present"] = sum(1 for s in sets if s)
    records.append(record)

    columns = [
        "level",
        "name",
        "n_units",
        "n_ratings",
        "n_present",
        "both_present",
        "first_only",
        "second_only",
        "both_absent",
        "percent_agreement",
        "cohen_kappa",
        "krippendorff_alpha",
        "gwet_ac1",
        "krippendorff_alpha_masi",
        "notes",
    ]
    table = pd.DataFrame.from_records(records).reindex(columns=columns)
    for c in ("both_present", "first_only", "second_only", "both_absent"):
        table[c] = table[c].astype("Int64")
    table.attrs["coders"] = list(coder_labels)
    undefined = int((table["notes"] != "").sum())
    if undefined:
        warnings.warn(
            f"code_agreement: {undefined} of {len(table)} rows have an undefined statistic (nan); "
            "the column 'notes' says why",
            UndefinedStatisticWarning,
            stacklevel=2,
        )
    return table


def segment_agreement(
    segments: pd.DataFrame,
    codes: Sequence[str],
    *,
    coders: Sequence[str] | None = None,
    group: str | None = "document_id",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    unit: str = "segment_id",
    coder: str = "coder",
    value: str = "codes",
) -> pd.DataFrame:
    """The MPSOC views of agreement between coders, with bootstrap intervals by document.

    Only segments coded by two or more of the coders count. Each code, community type and
    valence is a presence/absence rating (see :func:`code_agreement`); the
    last row compares whole sets of codes. Intervals are percentile intervals of ``n_resamples``
    resamples of whole documents (``group``); segments of one interview are not independent.
    Every statistic uses the same resamples (the same ``seed``), so the intervals of one table are
    comparable.

    Parameters
    ----------
    segments : DataFrame
        One row per segment and coder: ``unit``, ``coder``, ``value`` (a tuple of codes; empty = no
        community) and ``group``.
    codes : sequence of str
        The codebook's codes in order.
    coders : sequence of str, optional
        The coders to compare (default all in ``segments``).
    group : str or None
        The resampling unit; ``None`` or an absent/incomplete column gives no intervals (``nan``).
    n_resamples : int
        Bootstrap resamples (0: no intervals).

    Returns
    -------
    DataFrame
        The columns of :func:`code_agreement`, plus ``f1`` (two coders) and
        ``STAT_low``/``STAT_high`` for each statistic of :data:`BINARY_STATISTICS` and
        :data:`SET_STATISTICS`. ``attrs`` holds ``coders``, ``n_segments``, ``n_documents``,
        ``n_resamples``, ``confidence``, ``seed`` and ``intervals`` (whether they were computed).

    Examples
    --------
    >>> codes = ["a:positiv", "a:negativ"]
    >>> segs = pd.DataFrame({"segment_id": [1, 1, 2, 2, 3, 3, 4, 4],
    ...     "document_id": ["d1"] * 4 + ["d2"] * 4, "coder": ["A", "B"] * 4,
    ...     "codes": [("a:positiv",), ("a:positiv",), (), (), ("a:negativ",), ("a:positiv",), (), ()]})
    >>> t = segment_agreement(segs, codes, n_resamples=100)
    >>> t.set_index("name").loc["a:positiv", ["percent_agreement", "f1"]].round(3).tolist()
    [0.75, 0.667]
    >>> t.attrs["n_segments"], t.attrs["n_documents"], t.attrs["coders"]
    (4, 2, ['A', 'B'])
    """
    where = "segment_agreement"
    missing = [c for c in (unit, coder, value) if c not in segments.columns]
    if missing:
        raise InputError(
            f"the segments need the columns {missing} to compare coders"
            + (" (several coders' rows, one per segment and coder)" if coder in missing else ""),
            path=where,
        )
    keep = [unit, coder, value] + ([group] if group and group in segments.columns else [])
    frame = segments.loc[segments[coder].notna() & segments[value].notna(), keep]
    if coders is not None:
        frame = frame.loc[frame[coder].isin(list(coders))]
    frame = frame.loc[frame.groupby(unit)[coder].transform("size").to_numpy() >= 2].reset_index(drop=True)
    if frame.empty:
        found = sorted(map(str, segments[coder].dropna().unique()))
        raise InputError(
            "no segment was coded by two or more coders (rows with the same segment_id and different "
            f"coders); the coders found are {found}",
            path=where,
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedStatisticWarning)
        table = code_agreement(frame, codes=codes, unit=unit, coder=coder, value=value)
    coder_names = [str(c) for c in table.attrs["coders"]]
    two = len(coder_names) == 2
    intervals = bool(
        group and group in frame.columns and frame[group].notna().all() and n_resamples and n_resamples > 0
    )
    n_documents = int(frame[group].nunique()) if group and group in frame.columns else 0

    wide = frame.pivot(index=unit, columns=coder, values=value) if two else None
    if wide is not None and intervals:
        doc_of = frame.drop_duplicates(unit).set_index(unit)[group].reindex(wide.index)
    table["f1"] = math.nan
    for stat in dict.fromkeys(BINARY_STATISTICS + SET_STATISTICS):
        table[f"{stat}_low"] = math.nan
        table[f"{stat}_high"] = math.nan

    sets = [frozenset(v) for v in frame[value]]
    order = {c: i for i, c in enumerate(codes)}
    members_of = {(level, name): members for level, name, members in _mpsoc_variables(codes)}
    stats: tuple[str, ...]
    categories: list[bool] | None
    for i, row in table.iterrows():
        if row["level"] == "set":
            values = pd.Series([tuple(sorted(s, key=order.__getitem__)) for s in sets], dtype=object)
            stats, categories = SET_STATISTICS, None
        else:
            members = members_of[(str(row["level"]), str(row["name"]))]
            values = pd.Series([not s.isdisjoint(members) for s in sets], dtype=bool)
            stats, categories = BINARY_STATISTICS, [False, True]
            if wide is not None:
                present = wide.map(lambda v, m=members: not frozenset(v).isdisjoint(m))  # type: ignore[misc]
                a = present[coder_names[0]].to_numpy(bool)
                b = present[coder_names[1]].to_numpy(bool)
                est, low, high = (
                    f1_interval(a, b, doc_of.to_numpy(), n_resamples=n_resamples, confidence=confidence, seed=seed)
                    if intervals
                    else (f1_interval(a, b, np.zeros(len(a)), n_resamples=0)[0], math.nan, math.nan)
                )
                table.loc[i, ["f1", "f1_low", "f1_high"]] = [est, low, high]
        if not intervals:
            continue
        ratings = pd.DataFrame({unit: frame[unit], coder: frame[coder], "_value": values, group: frame[group]})
        for stat in stats:
            if stat == "f1" or (stat in _TWO_CODER and not two) or pd.isna(row.get(stat)):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UndefinedStatisticWarning)
                ci = bootstrap_ci(
                    ratings, stat, group=str(group), n_resamples=n_resamples, confidence=confidence, seed=seed,
                    unit=unit, coder=coder, value="_value", categories=categories,
                )
            table.loc[i, [f"{stat}_low", f"{stat}_high"]] = [ci.low, ci.high]
    table.attrs.update(
        coders=coder_names,
        n_segments=int(frame[unit].nunique()),
        n_documents=n_documents,
        n_resamples=int(n_resamples) if intervals else 0,
        confidence=float(confidence),
        seed=int(seed),
        intervals=intervals,
    )
    return table


def json_number(v: Any) -> float | int | None:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def statistics_of(row: pd.Series) -> dict[str, tuple[float | None, float | None, float | None]]:
    """The statistics a row of :func:`segment_agreement` gives, each ``(estimate, low, high)``, JSON-ready."""
    stats = SET_STATISTICS if row["level"] == "set" else BINARY_STATISTICS
    return {s: (json_number(row[s]), json_number(row[f"{s}_low"]), json_number(row[f"{s}_high"])) for s in stats}


def views_records(views: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of :func:`segment_agreement` as JSON-ready dicts, each statistic ``{estimate, low, high}``."""
    records = []
    for _, row in views.iterrows():
        rec: dict[str, Any] = {"level": row["level"], "name": row["name"]}
        for c in ("n_units", "n_present", "both_present", "first_only", "second_only", "both_absent"):
            rec[c] = json_number(row[c])
        for stat, (estimate, low, high) in statistics_of(row).items():
            rec[stat] = {"estimate": estimate, "low": low, "high": high}
        rec["notes"] = row["notes"] or ""
        records.append(rec)
    return records
