"""Agreement between coders on files: the library side of ``mpsoc agreement``.

Two kinds of input:

* a **ratings file** (columns unit, coder, value; see :func:`mpsoc_nlp.io.ratings.read_ratings`):
  every statistic of :func:`mpsoc_nlp.agreement.agreement_table` that applies;
* a **segment table** (a ``codes`` column, several coders in long format): the MPSOC views of
  :func:`segment_agreement`, per code, per community type, per valence and on whole sets of codes,
  with percentile bootstrap intervals that resample whole documents.

The statistics themselves live in :mod:`mpsoc_nlp.agreement`; this module picks the rows, adds
the intervals (and F1, which is not an agreement coefficient but what model users read) and
packages the result for the CLI and the reports.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from .agreement import AgreementTable, UndefinedStatisticWarning, agreement_table, bootstrap_ci, code_agreement
from .codebook import Codebook
from .errors import InputError

__all__ = [
    "AgreementReport",
    "BINARY_STATISTICS",
    "SET_STATISTICS",
    "agreement_report",
    "f1_interval",
    "segment_agreement",
    "variable_members",
]

PathArg = str | os.PathLike[str]

#: Statistics given (with intervals) for each code, type and valence (presence/absence).
BINARY_STATISTICS = ("percent_agreement", "cohen_kappa", "krippendorff_alpha", "gwet_ac1", "f1")
#: Statistics given for whole sets of codes (exact match, and alpha with the MASI distance).
SET_STATISTICS = ("percent_agreement", "cohen_kappa", "krippendorff_alpha", "krippendorff_alpha_masi")
_TWO_CODER = ("cohen_kappa", "f1")


def variable_members(level: str, name: str, codes: Sequence[str]) -> frozenset[str]:
    """The codes that make variable ``name`` present: the code itself, or every code of a type/valence.

    >>> sorted(variable_members("valence", "negativ", ["a:positiv", "a:negativ", "b:negativ"]))
    ['a:negativ', 'b:negativ']
    """
    if level == "code":
        return frozenset({name})
    if level == "type":
        return frozenset(c for c in codes if c.split(":", 1)[0] == name)
    if level == "valence":
        return frozenset(c for c in codes if c.split(":", 1)[-1] == name)
    raise ValueError(f"unknown level {level!r}")


def _draws(groups: np.ndarray, n_resamples: int, seed: int) -> tuple[np.ndarray, int]:
    """Resample weights (n_resamples x n_groups) drawn as :func:`~mpsoc_nlp.agreement.bootstrap_ci` draws them."""
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(int(n_resamples), n_groups))
    weights = np.zeros((int(n_resamples), n_groups))
    np.add.at(weights, (np.arange(int(n_resamples))[:, None], draws), 1.0)
    return weights, n_groups


def f1_interval(
    first: np.ndarray,
    second: np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """F1 of one coder's presence/absence against another's, with a document bootstrap interval.

    ``F1 = 2 both / (2 both + first_only + second_only)``, symmetric in the two coders (it is the
    F1 of either against the other taken as gold). Resamples draw documents (``groups``) with
    replacement, as :func:`mpsoc_nlp.agreement.bootstrap_ci` does with the same ``seed``; a
    resample without any positive is left out.

    Returns
    -------
    (estimate, low, high)
        ``nan`` where no unit is positive for either coder.

    Examples
    --------
    >>> a = np.array([1, 1, 0, 0, 1, 0], bool)
    >>> b = np.array([1, 0, 0, 0, 1, 1], bool)
    >>> est, low, high = f1_interval(a, b, ["d1", "d1", "d2", "d2", "d3", "d3"], n_resamples=200)
    >>> round(est, 3), low <= est <= high
    (0.667, True)
    """
    a = np.asarray(first, dtype=bool)
    b = np.asarray(second, dtype=bool)
    g, _ = pd.factorize(pd.Series(list(groups), dtype=object))
    counts = np.zeros((int(g.max()) + 1 if len(g) else 0, 3))
    np.add.at(counts, (g, 0), (a & b).astype(float))
    np.add.at(counts, (g, 1), (a & ~b).astype(float))
    np.add.at(counts, (g, 2), (~a & b).astype(float))

    def f1(c: np.ndarray) -> np.ndarray:
        den = 2 * c[..., 0] + c[..., 1] + c[..., 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, 2 * c[..., 0] / np.where(den > 0, den, 1), np.nan)

    estimate = float(f1(counts.sum(axis=0)))
    if math.isnan(estimate) or n_resamples < 1 or len(counts) == 0:
        return estimate, math.nan, math.nan
    weights, _ = _draws(g, n_resamples, seed)
    boot = f1(weights @ counts)
    if np.isnan(boot).all():
        return estimate, math.nan, math.nan
    tail = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(boot, [tail, 1.0 - tail])
    return estimate, float(low), float(high)


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
    valence is a presence/absence rating (see :func:`mpsoc_nlp.agreement.code_agreement`); the
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
        The columns of :func:`~mpsoc_nlp.agreement.code_agreement`, plus ``f1`` (two coders) and
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
    stats: tuple[str, ...]
    categories: list[bool] | None
    for i, row in table.iterrows():
        if row["level"] == "set":
            values = pd.Series([tuple(sorted(s, key=order.__getitem__)) for s in sets], dtype=object)
            stats, categories = SET_STATISTICS, None
        else:
            members = variable_members(str(row["level"]), str(row["name"]), codes)
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


# --------------------------------------------------------------------------------------------
# mpsoc agreement: one function from files to a result
# --------------------------------------------------------------------------------------------


@dataclass
class AgreementReport:
    """What ``mpsoc agreement`` found: a ratings table or the MPSOC views of a segment table."""

    kind: Literal["ratings", "segments"]
    files: list[str]
    table: AgreementTable | None = None
    views: pd.DataFrame | None = None
    level: str = "nominal"
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: for ratings exactly the statistics by name plus ``warnings``."""
        if self.kind == "ratings":
            assert self.table is not None
            out: dict[str, Any] = {k: _number(v) for k, v in self.table.items()}
            out["warnings"] = list(self.table.warnings) + list(self.info.get("warnings", []))
            return out
        assert self.views is not None
        return {
            "files": self.files,
            **{k: v for k, v in self.views.attrs.items()},
            "views": views_records(self.views),
        }


def _number(v: Any) -> float | int | None:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def views_records(views: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of :func:`segment_agreement` as JSON-ready dicts, each statistic ``{estimate, low, high}``."""
    records = []
    for _, row in views.iterrows():
        rec: dict[str, Any] = {"level": row["level"], "name": row["name"]}
        for c in ("n_units", "n_present", "both_present", "first_only", "second_only", "both_absent"):
            rec[c] = _number(row[c])
        stats = SET_STATISTICS if row["level"] == "set" else BINARY_STATISTICS
        for stat in stats:
            rec[stat] = {
                "estimate": _number(row[stat]),
                "low": _number(row[f"{stat}_low"]),
                "high": _number(row[f"{stat}_high"]),
            }
        rec["notes"] = row["notes"] or ""
        records.append(rec)
    return records


def _is_segment_table(path: PathArg, sheet: str | int | None) -> tuple[bool, list[str]]:
    from .corpus import _resolve_columns
    from .io import read_table
    from .io.workbooks import SheetNeed

    def coded(cols: Sequence[str]) -> bool:
        found = _resolve_columns(cols, None)
        return "value" in cols or "codes" in found or "community_type" in found

    need = SheetNeed(coded, "a 'codes' column, or a 'value' column (ratings)")
    columns = [str(c) for c in read_table(path, sheet=sheet, need=need).frame.columns]
    resolved = _resolve_columns(columns, None)
    return ("codes" in resolved or "community_type" in resolved), columns


def agreement_report(
    paths: PathArg | Sequence[PathArg],
    *,
    unit: str | None = None,
    coder: str | None = None,
    value: str | None = None,
    level: Literal["nominal", "ordinal", "interval", "ratio"] = "nominal",
    categories: Sequence[Any] | None = None,
    codebook: Codebook | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    sheet: str | int | None = None,
) -> AgreementReport:
    """Agreement between the coders of ratings files or segment tables.

    A file is read as a ratings file when ``unit``, ``coder`` or ``value`` is given or it has a
    ``value`` column; otherwise as a segment table when it has a ``codes`` (or ``community_type``)
    column. All files must be of one kind.

    Parameters
    ----------
    paths : path or list of paths
        Tables (CSV, TSV, XLSX, JSONL, Parquet).
    unit, coder, value : str, optional
        Column names of a ratings file (default ``unit``, ``coder``, ``value``).
    level : {'nominal', 'ordinal', 'interval', 'ratio'}
        Level of measurement of a ratings file's values.
    categories : sequence, optional
        A ratings file's categories in order (fixes their number and order).
    codebook : Codebook, optional
        For segment tables; default MPSOC.
    n_resamples, seed, confidence
        Bootstrap intervals of segment tables (resampling documents).
    """
    from .io.ratings import read_ratings

    files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not files:
        raise InputError("no input files were given")
    explicit = any(x is not None for x in (unit, coder, value))
    kinds = []
    for path in files:
        if explicit:
            kinds.append("ratings")
            continue
        is_segments, columns = _is_segment_table(path, sheet)
        if "value" in columns:
            kinds.append("ratings")
        elif is_segments:
            kinds.append("segments")
        else:
            raise InputError(
                f"found the columns {columns}: neither a ratings file (columns unit, coder, value; name "
                "yours with --unit, --coder, --value) nor a segment table (a 'codes' column)",
                path=str(path),
            )
    if len(set(kinds)) > 1:
        raise InputError(
            "give files of one kind together: "
            + ", ".join(
                f"{p} is a {'ratings file' if k == 'ratings' else 'segment table'}"
                for p, k in zip(files, kinds, strict=True)
            )
        )
    names = [str(p) for p in files]
    if kinds[0] == "ratings":
        ratings = read_ratings(
            files, unit=unit or "unit", coder=coder or "coder", value=value or "value", level=level,
            categories=categories, sheet=sheet,
        )
        table = agreement_table(ratings, level=level, categories=ratings.attrs.get("categories"))
        return AgreementReport("ratings", names, table=table, level=level)
    if level != "nominal" or categories is not None:
        raise InputError(
            "--level and --categories apply to ratings files (unit, coder, value); a segment table is "
            "compared code by code (present/absent) and on whole sets of codes"
        )
    from .io import read_segments

    codebook = codebook or Codebook.default()
    segments = read_segments(files, codebook=codebook, sheet=sheet, require_codes=True)
    if "coder" not in segments.columns or segments["coder"].isna().all():
        raise InputError(
            "the segment table names no coders: add a 'coder' column, with one row per segment and coder",
            path=names[0],
        )
    views = segment_agreement(
        segments, codebook.codes, n_resamples=n_resamples, seed=seed, confidence=confidence,
        group="document_id" if "document_id" in segments.columns else None,
    )
    per_coder = segments["coder"].value_counts()
    views.attrs["segments_per_coder"] = {str(k): int(v) for k, v in per_coder.sort_index().items()}
    views.attrs["n_segments_single"] = int(segments["segment_id"].nunique()) - int(views.attrs["n_segments"])
    return AgreementReport("segments", names, views=views)
