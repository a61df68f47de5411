"""Agreement coefficients on long-format ratings and :func:`agreement_table`: pure functions, no I/O.

Ratings are *long format*: one row per (unit, coder) with the value that coder gave that unit,
as a :class:`pandas.DataFrame` (columns named by ``unit=``, ``coder=``, ``value=``) or as an
iterable of ``(unit, coder, value)`` triples. A rating whose value is missing (``None``/``NaN``),
or a row that is absent, is a missing rating; any number of coders (two or more) may rate any
subset of the units. A value may be a scalar category or a *set* of codes (a tuple, list, set or
frozenset; the empty tuple is a real value, "no community", not a missing rating).

Every statistic reproduces a published worked example in its docstring (run as doctests).
An undefined statistic (everyone used one category, no unit has two ratings, a two-coder
statistic on another number of coders) returns ``nan`` and warns with
:class:`UndefinedStatisticWarning` saying why; it never returns 0 or 1 in place of "undefined".

Internally the ratings become a units x coders matrix of category indices, and every statistic
is computed from sums over units (agreeing pairs, category counts, the coincidence matrix). The
same sums, taken per document, let :func:`~mpsoc_nlp.agreement.bootstrap.bootstrap_ci` resample
documents with one matrix product instead of recomputing the statistic a thousand times.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from mpsoc_nlp.errors import InputError

if TYPE_CHECKING:
    from typing import TypeAlias

    RatingsLike: TypeAlias = pd.DataFrame | Iterable[tuple[Hashable, Hashable, Any]]

__all__ = [
    "STATISTICS",
    "AgreementTable",
    "UndefinedStatisticWarning",
    "agreement_table",
    "brennan_prediger",
    "cohen_kappa",
    "fleiss_kappa",
    "gwet_ac1",
    "krippendorff_alpha",
    "krippendorff_alpha_masi",
    "masi_distance",
    "percent_agreement",
    "ratings_from_wide",
    "scotts_pi",
    "weighted_cohen_kappa",
]

Level = Literal["nominal", "ordinal", "interval", "ratio"]
KappaWeights = Literal["linear", "quadratic"]

_LEVELS = ("nominal", "ordinal", "interval", "ratio")
# A V x V coincidence or confusion matrix per group is built only up to this many categories.
_MAX_MATRIX_CATEGORIES = 4096
_TOL = 1e-12

_NO_PAIRS = "no unit was rated by two or more coders, so there is nothing to compare"
_ONE_CATEGORY = (
    "every rating falls in one category, so the agreement expected by chance is perfect and the coefficient is 0/0"
)


class UndefinedStatisticWarning(RuntimeWarning):
    """A statistic is undefined for these ratings; the function returned ``nan``."""


# --------------------------------------------------------------------------------------------
# Input: long-format ratings -> units x coders matrix of category indices
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Coded:
    """Ratings as a ``(n_units, n_coders)`` matrix of category indices; -1 = no rating."""

    matrix: np.ndarray
    categories: list[Any]
    units: np.ndarray
    coders: np.ndarray
    is_sets: bool
    given: bool  # the categories (and their order) came from the caller, not from the data

    @property
    def n_coders(self) -> int:
        return int(self.matrix.shape[1])


def _frame(ratings: RatingsLike, columns: Sequence[str], where: str) -> pd.DataFrame:
    """Return the named columns of ``ratings`` (a DataFrame or an iterable of tuples)."""
    if isinstance(ratings, pd.DataFrame):
        absent = [c for c in columns if c not in ratings.columns]
        if absent:
            raise InputError(
                f"expected the columns {list(columns)}, but {absent} are not among "
                f"{[str(c) for c in ratings.columns]}; name the columns with "
                "unit=, coder=, value= (or group= for bootstrap_ci)",
                path=where,
            )
        return ratings.loc[:, list(columns)]
    rows = list(ratings)
    bad = [i for i, row in enumerate(rows) if not isinstance(row, Sequence) or len(row) != len(columns)]
    if bad:
        raise InputError(
            f"each rating must be a tuple {tuple(columns)}; item {bad[0]} is {rows[bad[0]]!r}",
            path=where,
        )
    frame = pd.DataFrame(index=range(len(rows)))
    for j, name in enumerate(columns):
        frame[name] = pd.Series([row[j] for row in rows], dtype=object)
    return frame


def _is_set_like(value: object) -> bool:
    return isinstance(value, (tuple, list, set, frozenset))


def _sort_categories(values: Sequence[Any], is_sets: bool) -> list[Any]:
    if is_sets:
        return sorted(values, key=lambda s: (len(s), sorted(map(str, s))))
    try:
        return sorted(values)
    except TypeError:  # mixed types: keep the order of first appearance
        return list(values)


def _index_units_coders(
    frame: pd.DataFrame, unit: str, coder: str, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map rows to a units x coders matrix of row positions (-1 = no row).

    Returns ``(rows, unit_labels, coder_labels)``; coders are sorted where their labels allow.
    """
    u_codes, u_labels = pd.factorize(frame[unit])
    try:
        c_codes, c_labels = pd.factorize(frame[coder], sort=True)
    except TypeError:
        c_codes, c_labels = pd.factorize(frame[coder])
    if (u_codes < 0).any() or (c_codes < 0).any():
        column = unit if (u_codes < 0).any() else coder
        raise InputError("a rating has no value in this column", path=where, column=column)
    n_units, n_coders = len(u_labels), len(c_labels)
    key = u_codes.astype(np.int64) * n_coders + c_codes
    seen = np.bincount(key, minlength=n_units * n_coders)
    if (seen > 1).any():
        dup = np.flatnonzero(seen > 1)
        shown = ", ".join(f"unit {u_labels[k // n_coders]!r} by coder {c_labels[k % n_coders]!r}" for k in dup[:5])
        more = f" and {len(dup) - 5} more" if len(dup) > 5 else ""
        raise InputError(
            f"a coder rated the same unit twice ({shown}{more}); give each coder one value per "
            "unit (several codes on one segment go in one tuple of codes)",
            path=where,
        )
    rows = np.full((n_units, n_coders), -1, dtype=np.int64)
    rows[u_codes, c_codes] = np.arange(len(frame))
    return rows, np.asarray(u_labels, dtype=object), np.asarray(c_labels, dtype=object)


def _encode(
    ratings: RatingsLike,
    *,
    unit: str,
    coder: str,
    value: str,
    categories: Sequence[Any] | None,
    where: str,
    extra: Sequence[str] = (),
) -> tuple[_Coded, pd.DataFrame, np.ndarray]:
    """Encode ratings; also return the kept rows and the units x coders row matrix."""
    frame = _frame(ratings, [unit, coder, value, *extra], where)
    frame = frame.loc[~frame[value].isna().to_numpy()]
    raw_is_numeric = frame[value].dtype.kind in "biuf"
    v_codes, v_uniques, is_sets = _factorize_values(frame[value], value, where)
    if categories is None and raw_is_numeric:
        cats = v_uniques  # already sorted; the codes index them
    elif categories is None:
        cats = _sort_categories(list(v_uniques), is_sets)
    else:
        cats = [frozenset(c) if is_sets else c for c in categories]
        if len(set(cats)) != len(cats):
            raise InputError("categories lists a category twice", path=where)
    if cats is v_uniques:
        mapping = np.arange(len(cats), dtype=np.int64)
    else:
        lookup = {c: i for i, c in enumerate(cats)}
        mapping = np.array([lookup.get(v, -1) for v in v_uniques], dtype=np.int64)
    if (mapping < 0).any():
        unknown = [v for v, m in zip(v_uniques, mapping, strict=True) if m < 0]
        raise InputError(
            f"values not among the categories given: {unknown[:5]}"
            + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""),
            path=where,
            column=value,
        )
    rows, unit_labels, coder_labels = _index_units_coders(frame, unit, coder, where)
    values = mapping[v_codes] if len(v_codes) else np.zeros(0, dtype=np.int64)
    matrix = np.where(rows >= 0, values[np.maximum(rows, 0)] if len(values) else -1, -1)
    coded = _Coded(matrix, cats, unit_labels, coder_labels, is_sets, categories is not None)
    return coded, frame, rows


def _factorize_values(raw: pd.Series, column: str, where: str) -> tuple[np.ndarray, list[Any], bool]:
    """Codes and distinct values of the ratings; set-like values become frozensets."""
    if raw.dtype.kind in "biuf":  # numbers: no sets possible; sorted distinct values
        codes, uniques = pd.factorize(raw, sort=True)
        return codes, uniques.tolist(), False
    try:
        codes, uniques = pd.factorize(raw)
    except TypeError:  # unhashable values: lists or sets of codes
        codes, uniques = pd.factorize(pd.Series([_freeze(v, column, where) for v in raw], dtype=object))
    flags = [_is_set_like(u) for u in uniques]
    if not any(flags):
        return codes, list(uniques), False
    if not all(flags):
        raise InputError(
            "mixes set-valued ratings (tuples of codes) with single values; use a tuple for every "
            "rating, () for 'no code'",
            path=where,
            column=column,
        )
    # ('a', 'b') and ('b', 'a') are one set: merge the distinct values that are equal as sets
    merged, sets = pd.factorize(pd.Series([frozenset(u) for u in uniques], dtype=object))
    return merged[codes], list(sets), True


def _freeze(value: object, column: str, where: str) -> object:
    if isinstance(value, (list, set)):
        return frozenset(value)
    try:
        hash(value)
    except TypeError:
        raise InputError(f"cannot use {value!r} as a rating value", path=where, column=column) from None
    return value


def _numeric(categories: Sequence[Any], level: str, where: str) -> np.ndarray:
    try:
        x = np.asarray([float(c) for c in categories], dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"the {level} level needs numeric values; got {list(categories)[:5]}", path=where) from None
    if not np.isfinite(x).all():
        raise InputError(f"the {level} level needs finite numeric values", path=where)
    return x


# --------------------------------------------------------------------------------------------
# Sufficient statistics: sums over units, optionally per group (document)
# --------------------------------------------------------------------------------------------


def _cells(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-empty (unit, category) cells and how many coders put the unit in the category."""
    n_coders = matrix.shape[1]
    if matrix.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    flat = np.sort(matrix, axis=1).ravel()
    start = np.ones(flat.shape, dtype=bool)
    start[1:] = flat[1:] != flat[:-1]
    start[::n_coders] = True  # every row starts a run
    first = np.flatnonzero(start)
    counts = np.diff(np.append(first, flat.size))
    keep = flat[first] >= 0
    return first[keep] // n_coders, flat[first][keep], counts[keep]


def _coder_pairs(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ordered pair of two different coders' ratings of one unit: (unit, value, value)."""
    n_coders = matrix.shape[1]
    units, first, second = [], [], []
    for a in range(n_coders):
        va = matrix[:, a]
        others = matrix[:, np.arange(n_coders) != a]
        ok = (va >= 0)[:, None] & (others >= 0)
        r = np.nonzero(ok)[0]
        units.append(r)
        first.append(va[r])
        second.append(others[ok])
    if not units:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(units), np.concatenate(first), np.concatenate(second)


def _sums(
    matrix: np.ndarray,
    n_categories: int,
    needs: frozenset[str],
    *,
    groups: np.ndarray | None = None,
    n_groups: int = 1,
    x: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-group sums from which every statistic is finished (leading axis = group).

    ``needs`` picks the families: ``pa`` (pairwise agreement), ``pi`` (category shares),
    ``nominal`` (coincidence diagonal and marginals), ``coincidence`` (full V x V),
    ``interval`` (moments for interval alpha), ``pair`` and ``confusion`` (first two coders).
    """
    n_units = matrix.shape[0]
    nv, ng = n_categories, n_groups
    g = np.zeros(n_units, dtype=np.int64) if groups is None else groups
    m = (matrix >= 0).sum(axis=1)
    out: dict[str, np.ndarray] = {}

    def count(keys: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(keys, weights=weights, minlength=size).astype(float)

    if needs & {"pa", "pi", "nominal"}:
        # r = how many of unit u's m_u coders chose category v; agreeing ordered pairs r (r - 1)
        cu, cv, r = _cells(matrix)
        mc = m[cu].astype(float)
        gv = g[cu] * nv + cv
        same = r * (r - 1.0)
    if "pa" in needs:
        out["agree"] = count(g[cu], ng, same / (mc * np.maximum(mc - 1, 1)))
        out["pairable"] = count(g[m >= 2], ng)
    if "pi" in needs:
        out["pi"] = count(gv, ng * nv, r / mc).reshape(ng, nv)
        out["rated"] = count(g[m >= 1], ng)
    if "nominal" in needs:
        out["n_c"] = count(gv, ng * nv, r * (mc >= 2)).reshape(ng, nv)
        out["o_diag"] = count(gv, ng * nv, same / np.maximum(mc - 1, 1)).reshape(ng, nv)
    if "coincidence" in needs:
        pu, pv, pw = _coder_pairs(matrix)
        w = 1.0 / np.maximum(m[pu] - 1, 1)
        out["o"] = count(g[pu] * nv * nv + pv * nv + pw, ng * nv * nv, w).reshape(ng, nv, nv)
    if "interval" in needs:
        # within a unit, the sum over ordered pairs of (x_i - x_j)**2 is 2 (m sum x**2 - (sum x)**2)
        assert x is not None
        pairable = m >= 2
        rated = (matrix >= 0) & pairable[:, None]
        values = x[np.maximum(matrix, 0)]
        centre = values[rated].mean() if rated.any() else 0.0  # for numerical stability
        xs = np.where(rated, values - centre, 0.0)
        s1, s2 = xs.sum(axis=1), (xs**2).sum(axis=1)
        within = 2.0 * (m * s2 - s1**2) / np.maximum(m - 1, 1)
        out["d_o"] = count(g, ng, np.where(pairable, within, 0.0))
        out["n"] = count(g, ng, np.where(pairable, m, 0).astype(float))
        out["s1"] = count(g, ng, s1)
        out["s2"] = count(g, ng, s2)
    if needs & {"pair", "confusion"}:
        a, b = matrix[:, 0], matrix[:, 1]
        both = (a >= 0) & (b >= 0)
        gb, ab, bb = g[both], a[both], b[both]
        if "pair" in needs:
            out["both"] = count(gb, ng)
            out["agree2"] = count(gb[ab == bb], ng)
            out["marg_a"] = count(gb * nv + ab, ng * nv).reshape(ng, nv)
            out["marg_b"] = count(gb * nv + bb, ng * nv).reshape(ng, nv)
        if "confusion" in needs:
            out["conf"] = count(gb * nv * nv + ab * nv + bb, ng * nv * nv).reshape(ng, nv, nv)
    return out


# --------------------------------------------------------------------------------------------
# Finishing: statistics from (batched) sums. Each returns (values, why-the-first-nan-is-nan).
# --------------------------------------------------------------------------------------------

_Finished = tuple[np.ndarray, "str | None"]


def _nan_where(
    values: np.ndarray, mask: np.ndarray, why: str | None, message: str, earlier: np.ndarray | None = None
) -> _Finished:
    """Set ``values`` to nan where ``mask``; ``message`` explains it unless an earlier check did."""
    if mask.any():
        values = np.where(mask, np.nan, values)
        if why is None and (earlier is None or (mask & ~earlier).any()):
            why = message
    return values, why


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient: np.ndarray = np.asarray(num, dtype=float) / np.asarray(den, dtype=float)
    return quotient


def _chance_corrected(observed: np.ndarray, expected: np.ndarray, why: str | None) -> _Finished:
    den = 1.0 - expected
    values = _divide(observed - expected, den)
    return _nan_where(values, np.abs(den) <= _TOL, why, _ONE_CATEGORY, earlier=np.isnan(observed))


def _f_percent(s: Mapping[str, np.ndarray]) -> _Finished:
    pa = _divide(s["agree"], s["pairable"])
    why = _NO_PAIRS if np.isnan(pa).any() else None
    return pa, why


def _pi(s: Mapping[str, np.ndarray]) -> np.ndarray:
    return _divide(s["pi"], s["rated"][:, None])


def _f_fleiss(s: Mapping[str, np.ndarray]) -> _Finished:
    pa, why = _f_percent(s)
    return _chance_corrected(pa, (_pi(s) ** 2).sum(axis=1), why)


def _too_few_categories(q: int) -> str:
    return f"{q} categor{'y' if q == 1 else 'ies'}: the coefficient needs at least 2 (pass categories=)"


def _f_ac1(s: Mapping[str, np.ndarray], q: int) -> _Finished:
    pa, why = _f_percent(s)
    if q < 2:
        return np.full_like(pa, np.nan), why or _too_few_categories(q)
    pi = _pi(s)
    return _chance_corrected(pa, (pi * (1.0 - pi)).sum(axis=1) / (q - 1), why)


def _f_bp(s: Mapping[str, np.ndarray], q: int) -> _Finished:
    pa, why = _f_percent(s)
    if q < 2:
        return np.full_like(pa, np.nan), why or _too_few_categories(q)
    return _chance_corrected(pa, np.full_like(pa, 1.0 / q), why)


def _alpha(n: np.ndarray, d_o: np.ndarray, d_e: np.ndarray, one_value: np.ndarray) -> _Finished:
    values, why = _nan_where(1.0 - (n - 1.0) * _divide(d_o, d_e), n < 2, None, _NO_PAIRS)
    return _nan_where(values, one_value, why, _ONE_CATEGORY, earlier=n < 2)


def _f_alpha_nominal(s: Mapping[str, np.ndarray]) -> _Finished:
    n_c = s["n_c"]
    n = n_c.sum(axis=1)
    d_e = n**2 - (n_c**2).sum(axis=1)
    return _alpha(n, n - s["o_diag"].sum(axis=1), d_e, d_e <= 0)


def _f_alpha_interval(s: Mapping[str, np.ndarray]) -> _Finished:
    n, s1, s2 = s["n"], s["s1"], s["s2"]
    d_e = 2.0 * (n * s2 - s1**2)
    return _alpha(n, s["d_o"], d_e, d_e <= _TOL * np.maximum(n * s2, 1.0))


def _ordinal_delta(n_c: np.ndarray) -> np.ndarray:
    """Krippendorff's ordinal metric from the (batched) marginals of the coincidence matrix."""
    nv = n_c.shape[1]
    idx = np.arange(nv)
    lo, hi = np.minimum.outer(idx, idx), np.maximum.outer(idx, idx)
    cum = np.cumsum(n_c, axis=1)
    between = cum[:, hi] - cum[:, lo] + n_c[:, lo]  # sum of n_g for g from lo to hi
    delta: np.ndarray = (between - (n_c[:, :, None] + n_c[:, None, :]) / 2.0) ** 2
    return delta


def _f_alpha_matrix(s: Mapping[str, np.ndarray], delta: np.ndarray | Callable[[np.ndarray], np.ndarray]) -> _Finished:
    o = s["o"]
    n_c = o.sum(axis=2)
    n = n_c.sum(axis=1)
    d = delta(n_c) if callable(delta) else delta[None, :, :]
    d_o = (o * d).sum(axis=(1, 2))
    d_e = (n_c[:, :, None] * n_c[:, None, :] * d).sum(axis=(1, 2))
    return _alpha(n, d_o, d_e, d_e <= 0)


_NO_BOTH = "no unit was rated by both coders"


def _f_cohen(s: Mapping[str, np.ndarray]) -> _Finished:
    n = s["both"]
    po, why = _nan_where(_divide(s["agree2"], n), n == 0, None, _NO_BOTH)
    pe = _divide((s["marg_a"] * s["marg_b"]).sum(axis=1), n**2)
    return _chance_corrected(po, pe, why)


def _f_scott(s: Mapping[str, np.ndarray]) -> _Finished:
    n = s["both"]
    po, why = _nan_where(_divide(s["agree2"], n), n == 0, None, _NO_BOTH)
    pooled = _divide(s["marg_a"] + s["marg_b"], 2.0 * n[:, None])
    return _chance_corrected(po, (pooled**2).sum(axis=1), why)


def _f_weighted(s: Mapping[str, np.ndarray], w: np.ndarray) -> _Finished:
    conf = s["conf"]
    n = conf.sum(axis=(1, 2))
    expected = _divide(conf.sum(axis=2)[:, :, None] * conf.sum(axis=1)[:, None, :], n[:, None, None])
    den = (w * expected).sum(axis=(1, 2))
    values, why = _nan_where(1.0 - _divide((w * conf).sum(axis=(1, 2)), den), n == 0, None, _NO_BOTH)
    return _nan_where(values, den <= _TOL * np.maximum(n, 1.0), why, _ONE_CATEGORY, earlier=n == 0)


def _f_nan(s: Mapping[str, np.ndarray], why: str) -> _Finished:
    # needs nothing, so it learns the batch size from "_batch", which every caller of finish sets
    return np.full(s["_batch"].shape[0], np.nan), why


@dataclass(frozen=True)
class _Spec:
    """How to compute one statistic: which sums it needs, and how to finish them."""

    needs: frozenset[str]
    finish: Callable[[Mapping[str, np.ndarray]], _Finished]
    x: np.ndarray | None = None


_TWO_CODER = {
    "cohen_kappa": "Cohen's kappa",
    "scotts_pi": "Scott's pi",
    "weighted_cohen_kappa_linear": "weighted kappa",
    "weighted_cohen_kappa_quadratic": "weighted kappa",
}


def _masi_matrix(sets: Sequence[frozenset[Any]]) -> np.ndarray:
    """MASI distances between every two sets, vectorised over a multi-hot encoding."""
    items = sorted({c for s in sets for c in s}, key=str)
    pos = {c: i for i, c in enumerate(items)}
    hot = np.zeros((len(sets), len(items)))
    for i, s in enumerate(sets):
        hot[i, [pos[c] for c in s]] = 1.0
    inter = hot @ hot.T
    size = hot.sum(axis=1)
    union = size[:, None] + size[None, :] - inter
    equal = (inter == size[:, None]) & (inter == size[None, :])
    subset = inter == np.minimum(size[:, None], size[None, :])
    monotonicity = np.select([equal, subset, inter > 0], [1.0, 2.0 / 3.0, 1.0 / 3.0], 0.0)
    jaccard = np.where(union > 0, _divide(inter, union), 1.0)
    distance: np.ndarray = 1.0 - jaccard * monotonicity
    return distance


def _spec(name: str, coded: _Coded, *, level: str = "nominal", where: str = "") -> _Spec:
    """The computation of statistic ``name`` for these coded ratings."""
    nv = len(coded.categories)
    where = where or name
    if name in _TWO_CODER and coded.n_coders != 2:
        why = (
            f"{_TWO_CODER[name]} compares exactly two coders; these ratings have {coded.n_coders} "
            "(use fleiss_kappa, krippendorff_alpha or gwet_ac1 for more)"
        )
        return _Spec(frozenset(), partial(_f_nan, why=why))
    needs_matrix = (
        name.startswith("weighted")
        or name == "krippendorff_alpha_masi"
        or (name == "krippendorff_alpha" and level in ("ordinal", "ratio"))
    )
    if needs_matrix and nv > _MAX_MATRIX_CATEGORIES:
        raise InputError(
            f"{name} at this level needs a {nv} x {nv} matrix of the distinct values; "
            f"that is more than {_MAX_MATRIX_CATEGORIES} values (round them, or use the interval level)",
            path=where,
        )
    if name == "percent_agreement":
        return _Spec(frozenset({"pa"}), _f_percent)
    if name == "fleiss_kappa":
        return _Spec(frozenset({"pa", "pi"}), _f_fleiss)
    if name == "gwet_ac1":
        return _Spec(frozenset({"pa", "pi"}), partial(_f_ac1, q=nv))
    if name == "brennan_prediger":
        return _Spec(frozenset({"pa"}), partial(_f_bp, q=nv))
    if name == "cohen_kappa":
        return _Spec(frozenset({"pair"}), _f_cohen)
    if name == "scotts_pi":
        return _Spec(frozenset({"pair"}), _f_scott)
    if name.startswith("weighted_cohen_kappa_"):
        if coded.is_sets:
            raise InputError("weighted kappa needs ordered categories; sets have no order", path=where)
        _check_order(coded, "weighted kappa", where)
        idx = np.arange(nv, dtype=float)
        dist = np.abs(idx[:, None] - idx[None, :])
        w = dist if name.endswith("linear") else dist**2
        return _Spec(frozenset({"confusion"}), partial(_f_weighted, w=w))
    if name == "krippendorff_alpha_masi":
        if not coded.is_sets and coded.categories:  # (no ratings at all: undefined, not wrong)
            raise InputError(
                "krippendorff_alpha_masi needs set-valued ratings (a tuple or frozenset of codes "
                "per rating, () for none)",
                path=where,
            )
        return _Spec(frozenset({"coincidence"}), partial(_f_alpha_matrix, delta=_masi_matrix(coded.categories)))
    if name == "krippendorff_alpha":
        if level not in _LEVELS:
            raise InputError(f"level must be one of {list(_LEVELS)}, not {level!r}", path=where)
        if level == "nominal":
            return _Spec(frozenset({"nominal"}), _f_alpha_nominal)
        if coded.is_sets:
            raise InputError(f"set-valued ratings have no {level} scale; use level='nominal'", path=where)
        if level == "ordinal":
            _check_order(coded, "the ordinal level", where)
            return _Spec(frozenset({"coincidence"}), partial(_f_alpha_matrix, delta=_ordinal_delta))
        x = _numeric(coded.categories, level, where)
        if level == "interval":
            return _Spec(frozenset({"interval"}), _f_alpha_interval, x=x)
        if (x < 0).any():
            raise InputError("the ratio level needs values of 0 or more (an absolute zero)", path=where)
        total = x[:, None] + x[None, :]
        ratio = np.where(total != 0, _divide(x[:, None] - x[None, :], total), 0.0) ** 2
        return _Spec(frozenset({"coincidence"}), partial(_f_alpha_matrix, delta=ratio))
    raise InputError(f"unknown statistic {name!r}; choose one of {list(STATISTICS)}", path=where)


def _check_order(coded: _Coded, what: str, where: str) -> None:
    """Refuse to take an order of text categories from the alphabet."""
    if not coded.given and any(isinstance(c, str) for c in coded.categories):
        raise InputError(
            f"{what} needs the order of the categories: pass categories=[...] from lowest to "
            "highest (text values are not ordered by the alphabet)",
            path=where,
        )


def _evaluate(coded: _Coded, specs: Mapping[str, _Spec]) -> dict[str, tuple[float, str | None]]:
    """Point estimates of several statistics from one pass of sums."""
    needs = frozenset().union(*(sp.needs for sp in specs.values()))
    x = next((sp.x for sp in specs.values() if sp.x is not None), None)
    sums = _sums(coded.matrix, len(coded.categories), needs, x=x)
    sums["_batch"] = np.zeros(1)
    results = {}
    for name, sp in specs.items():
        values, why = sp.finish(sums)
        results[name] = (float(values[0]), why)
    return results


def _point(coded: _Coded, name: str, *, level: str = "nominal", label: str | None = None) -> float:
    value, why = _evaluate(coded, {name: _spec(name, coded, level=level)})[name]
    if math.isnan(value):
        warnings.warn(f"{label or name} is undefined: {why}", UndefinedStatisticWarning, stacklevel=3)
    return value


# --------------------------------------------------------------------------------------------
# Public statistics
# --------------------------------------------------------------------------------------------


def ratings_from_wide(
    table: pd.DataFrame | Sequence[Sequence[Any]],
    *,
    coders: Sequence[Hashable] | None = None,
    unit: str = "unit",
    coder: str = "coder",
    value: str = "value",
) -> pd.DataFrame:
    """Turn a units x coders table into long-format ratings.

    Parameters
    ----------
    table : DataFrame or sequence of rows
        One row per unit, one column per coder; ``None``/``NaN`` cells are missing ratings.
        A DataFrame's index gives the unit ids, a sequence's rows are units 0, 1, ...
    coders : sequence, optional
        Coder names for the columns of a sequence (default 0, 1, ...), or the columns of a
        DataFrame to use (default all).
    unit, coder, value : str
        Names of the columns of the result.

    Returns
    -------
    DataFrame
        Columns ``unit``, ``coder``, ``value``; one row per rating given, unit by unit.

    Examples
    --------
    >>> ratings_from_wide([["a", "a"], ["b", None]], coders=["Kari", "Ola"])
       unit coder value
    0     0  Kari     a
    1     0   Ola     a
    2     1  Kari     b
    """
    if isinstance(table, pd.DataFrame):
        frame = table if coders is None else table.loc[:, list(coders)]
    else:
        rows = [list(r) for r in table]
        frame = pd.DataFrame(index=range(len(rows)))
        width = max((len(r) for r in rows), default=0)
        names = list(coders) if coders is not None else list(range(width))
        if any(len(r) != len(names) for r in rows):
            raise InputError(f"every row needs {len(names)} cells, one per coder", path="ratings_from_wide")
        for j, name in enumerate(names):
            frame[name] = pd.Series([r[j] for r in rows], dtype=object)
    cells = frame.to_numpy(dtype=object)
    long = pd.DataFrame(
        {
            unit: np.repeat(frame.index.to_numpy(), frame.shape[1]),
            coder: np.tile(frame.columns.to_numpy(dtype=object), frame.shape[0]),
            value: pd.Series(list(cells.ravel()), dtype=object),
        }
    )
    return long.loc[~long[value].isna().to_numpy()].reset_index(drop=True)


def percent_agreement(
    ratings: RatingsLike,
    *,
    unit: str = "unit",
    coder: str = "coder",
    value: str = "value",
) -> float:
    """Proportion of agreeing pairs of ratings, averaged over units (Gwet's definition).

    For each unit with two or more ratings, the share of the pairs of its coders that gave the
    same value, ``sum_k r_uk (r_uk - 1) / (r_u (r_u - 1))``; then the mean over those units
    (Gwet 2014, the percent agreement of his multi-rater coefficients; Fleiss 1971's ``P_i``).
    With two coders this is the plain share of units, rated by both, on which they agree.
    Units with fewer than two ratings do not count.

    Parameters
    ----------
    ratings : DataFrame or iterable of (unit, coder, value)
        Long-format ratings; missing values and absent rows are missing ratings.
    unit, coder, value : str
        Column names.

    Returns
    -------
    float
        In [0, 1]; ``nan`` (with a warning) when no unit has two ratings.

    References
    ----------
    Gwet, K. L. (2014). *Handbook of Inter-Rater Reliability* (4th ed.). Advanced Analytics.
    Gwet's irrCAC package, ``pa.coeff.raw(cac.raw4raters)``: 0.8181818.

    Examples
    --------
    Krippendorff's (2011) 4 coders x 12 units with missing ratings, as ``cac.raw4raters`` in
    Gwet's irrCAC (published percent agreement 0.8181818):

    >>> k2011 = ratings_from_wide([
    ...     [1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2],
    ...     [1, 2, 3, 4], [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5],
    ...     [None, None, 1, 1], [None, None, 3, None]])
    >>> print(f"{percent_agreement(k2011):.7f}")
    0.8181818
    """
    coded, _, _ = _encode(ratings, unit=unit, coder=coder, value=value, categories=None, where="percent_agreement")
    return _point(coded, "percent_agreement", label="percent agreement")


def cohen_kappa(
    ratings: RatingsLike,
    *,
    categories: Sequence[Any] | None = None,
    unit: str = "unit",
    coder: str = "coder",
    value: str = "value",
) -> float:
    """Cohen's (1960) kappa for exactly two coders.

    ``(p_o - p_e) / (1 - p_e)`` with ``p_o`` the share of units on which the two coders agree
    and ``p_e = sum_k p_A(k) p_B(k)`` from each coder's own marginal distribution. Only units
    rated by both coders count (pairwise deletion, as in scikit-learn and R ``irr``).

    Parameters
    ----------
    ratings : DataFrame or iterable of (unit, coder, value)
        Long-format ratings of two coders.
    categories : sequence, optional
        All categories; values outside it are an error. Does not change kappa.
    unit, coder, value : str
        Column names.

    Returns
    -------
    float
        ``nan`` with a warning for another number of coders than two, when no unit was rated
        by both, or when both coders used one and the same category throughout.

    References
    ----------
    Cohen, J. (1960). A coefficient of agreement for nominal scales. *Educational and
    Psychological Measurement*, 20(1), 37-46.
    Artstein, R., & Poesio, M. (2008). Inter-coder agreement for computational linguistics.
    *Computational Linguistics*, 34(4), 555-596.

    Examples
    --------
    The two-coder, two-category example of Artstein & Poesio (2008), 100 utterances with the
    contingency table [[20, 20], [10, 50]] (kappa 0.348, the value scikit-learn also tests):

    >>> pairs = ([("Stat", "Stat")] * 20 + [("Stat", "IReq")] * 20
    ...          + [("IReq", "Stat")] * 10 + [("IReq", "IReq")] * 50)
    >>> print(f"{cohen_kappa(ratings_from_wide(pairs, coders=['A', 'B'])):.3f}")
    0.348

    Their three-category example (Table 4: A_o = 0.88, kappa = 0.8013):

    >>> table4 = ([("Stat", "Stat")] * 46 + [("IReq", "Stat")] * 6 + [("IReq", "IReq")] * 32
    ...           + [("IReq", "Chck")] * 6 + [("Chck", "Chck")] * 10)
    >>> print(f"{cohen_kappa(ratings_from_wide(table4)):.4f}")
    0.8013
    """
    coded, _, _ = _encode(ratings, unit=unit, coder=coder, value=value, categories=categories, where="cohen_kappa")
    return _point(coded, "cohen_kappa", label="Cohen's kappa")


def weighted_cohen_kappa(
    ratings: RatingsLike,
    *,
    weights: KappaWeights = "linear",
    categories: Sequence[Any] | None = None,
    unit: str = "unit",
    coder: str = "coder",
    value: str = "value",
) -> float:
    """Cohen's (1968) weighted kappa for two coders on ordered categories.

    ``1 - sum w_ij o_ij / sum w_ij e_ij`` with disagreement weights ``|i - j|`` (linear) or
    ``(i - j)**2`` (quadratic) over the *positions* ``i, j`` of the categories in their order,
    ``o`` the observed and ``e`` the chance-expected (product of marginals) joint proportions.

    Parameters
    ----------
    ratings : DataFrame or iterable of (unit, coder, value)
        Long-format ratings of two coders.
    weights : {'linear', 'quadratic'}
        The disagreement weights.
    categories : sequence, optional
        The categories from lowest to highest. Default: the values sorted (numbers numerically,
        text alphabetically, which is rarely the order you mean).
    unit, coder, value : str
        Column names.

    Returns
    -------
    float
        ``nan`` with a warning where Cohen's kappa is undefined.

    References
    ----------
    Cohen, J. (1968). Weighted kappa: Nominal scale agreement with provision for scaled
    disagreement or partial credit. *Psychological Bulletin*, 70(4), 213-220.
    Gwet's irrCAC, ``kappa2.table(cont3x3abstractors)`` with linear and quadratic weights.

    Examples
    --------
    Gwet's ``cont3x3abstractors`` (100 pregnancies classified by two abstractors; published
    weighted kappas 0.843 linear and 0.892 quadratic):

    >>> cells = {("Ectopic", "Ectopic"): 13, ("AIU", "AIU"): 20, ("AIU", "NIU"): 7,
    ...          ("NIU", "AIU"): 4, ("NIU", "NIU"): 56}
    >>> abstractors = ratings_from_wide([pair for pair, n in cells.items() for _ in range(n)])
    >>> order = ["Ectopic", "AIU", "NIU"]
    >>> print(f"{weighted_cohen_kappa(abstractors, weights='linear', categories=order):.3f}")
    0.843
    >>> print(f"{weighted_cohen_kappa(abstractors, weights='quadratic', categories=order):.3f}")
    0.892
    """
    if weights not in ("linear", "quadratic"):
        raise InputError(f"weights must be 'linear' or 'quadratic', not {weights!r}", path="weighted_cohen_kappa")
    coded, _, _ = _encode(
        ratings, unit=unit, coder=coder, value=value, categories=categories, where="weighted_cohen_kappa"
    )
    return _point(coded, f"weighted_cohen_kappa_{weights}", label=f"{weights} weighted kappa")


def scotts_pi(
    ratings: RatingsLike,
    *,
    unit: str = "unit",
    coder: str = "coder",
    value: str = "value",
) -> float:
    """Scott's (1955) pi for exactly two coders.

    Like Cohen's kappa, but chance agreement ``p_e = sum_k ((p_A(k) + p_B(k)) / 2)**2`` comes
    from the two coders' pooled distribution. Only units rated by both count.

    Parameters
    ----------
    ratings : DataFrame or iterable of (unit, coder, value)
        Long-format ratings of two coders.
    unit, coder, value : str
        Column names.

    Returns
    -------
    float
        ``nan`` with a warning where undefined (see :func:`cohen_kappa`).

    References
    ----------
    Scott, W. A. (1955). Reliability of content analysis: The case of nominal scale coding.
    *Public Opinion Quarterly*, 19(3), 321-325.
    Artstein & Poesio (2008), Table 4 (pi = 0.7995); Gwet's irrCAC
    ``scott2.table(cont3x3abstractors)`` (0.7962397).

    Examples
    --------
    >>> table4 = ([("Stat", "Stat")] * 46 + [("IReq", "Stat")] * 6 + [("IReq", "IReq")] * 32
    ...           + [("IReq", "Chck")] * 6 + [("Chck", "Chck")] * 10)
    >>> print(f"{scotts_pi(ratings_from_wide(table4)):.4f}")
    0.7995
    >>> cells = {("Ectopic", "Ectopic"): 13, ("AIU", "AIU"): 20, ("AIU", "NIU"): 7,
    ...          ("NIU", "AIU"): 4, ("NIU", "NIU"): 56}
    >>> abstractors = ratings_from_wide([pair for pair, n in cells.items() for _ in range(n)])
    >>> print(f"{scotts_pi(abstractors):.7f}")
    0.7962397
    """
    coded, _, _ = _encode(ratings, unit=unit, coder=coder, value=value, categories=None, where="scotts_pi")
    return _point(coded, "scotts_pi", label="Scott's pi")


def fleiss_kappa(
    ratings: RatingsLike,
    *,
    unit: str = "unit",
    coder: str = "coder",
    value: str = "value",
) -> float:
    """Fleiss' (1971) kappa for two or more coders, with missing ratings as Gwet generalises it.

    ``(p_a - p_e) / (1 - p_e)`` with ``p_a`` the :func:`percent_agreement` (mean over units
    with two or more ratings) and ``p_e = sum_k pi_k**2``, where ``pi_k`` is the mean over all
    rated units of the share of the unit's ratings in category ``k`` (Gwet 2014). With the same
    number of ratings on every unit this is exactly Fleiss' statistic.

    Parameters
    ----------
    ratings : DataFrame or iterable of (unit, coder, value)
        Long-format ratings; the coders need not be the same people on every unit.
    unit, coder, value : str
        Column names.

    Returns
    -------
    float
        ``nan`` with a warning when no unit has two ratings or only one category is used.

    References
    ----------
    Fleiss, J. L. (1971). Measuring nominal scale agreement among many raters. *Psychological
    Bulletin*, 76(5), 378-382.
    Gwet (2014); irrCAC ``fleiss.kappa.raw(cac.raw4raters)``: 0.76117.

    Examples
    --------
    Fleiss' Table 1: 30 patients, 6 psychiatrists each, 5 diagnoses; counts per diagnosis
    (published kappa 0.430):

    >>> counts = [
    ...     [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0],
    ...     [2, 0, 4, 0, 0], [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6],
    ...     [1, 0, 0, 5, 0], [1, 1, 0, 4, 0], [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1],
    ...     [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0], [0, 2, 0, 4, 0], [1, 0, 2, 0, 3],
    ...     [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0], [1, 0, 0, 4, 1],
    ...     [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6]]
    >>> fleiss1971 = ratings_from_wide(
    ...     [[k for k, n in enumerate(row) for _ in range(n)] for row in counts])
    >>> print(f"{fleiss_kappa(fleiss1971):.3f}")
    0.430

    With missing ratings (Krippendorff's 4 x 12 data as Gwet's ``cac.raw4raters``, 0.76117):

    >>> k2011 = ratings_from_wide([
    ...     [1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2],
    ...     [1, 2, 3, 4], [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5],
    ...     [None, None, 1, 1], [None, None, 3, None]])
    >>> print(f"{fleiss_kappa(k2011):.5f}")
    0.76117
    """
    coded, _, _ = _encode(ratings, unit=unit, coder=coder, value=value, categories=None, where="fleiss_kappa")
    return _point(coded, "fleiss_kappa", label="Fleiss' kappa")


def krippendorff_alpha(
    ratings: RatingsLike,
    *,
    level: Level = "nominal",
    categories: Sequence[Any] | None = None,
    unit: str = "unit",
    coder: str = "coder",
    value: str = "value",
) -> float:
    """Krippendorff's alpha at the nominal, ordinal, interval or ratio level.

    ``alpha = 1 - (n - 1) * sum_ck o_ck delta_ck / sum_ck n_c n_k delta_ck`` from the
    coincidence matrix ``o_ck = sum_u (pairs of values c, k in unit u) / (m_u - 1)`` over units
    with ``m_u >= 2`` ratings, its marginals ``n_c`` and ``n = sum_c n_c`` (Krippendorff 2011).
    ``delta`` is the level's metric: 0/1 (nominal); ``(sum_{g=c..k} n_g - (n_c + n_k)/2)**2``
    (ordinal, over the category order); ``(c - k)**2`` (interval; computed from per-unit moments,
    so continuous values cost nothing extra); ``((c - k)/(c + k))**2`` (ratio).

    Unlike the ``krippendorff`` package, the default level is *nominal*, and the input is
    long-format ratings rather than a coders x units matrix. The implementation is vectorised
    (100,000 units x 5 coders in a fraction of a second; see ``benchmarks/agreement_speed.py``).

    Parameters
    ----------
    ratings : DataFrame or iterable of (unit, coder, value)
        Long-format ratings; missing ratings allowed; any number of coders.
    level : {'nominal', 'ordinal', 'interval', 'ratio'}
        Level of measurement. Interval and ratio need numeric values; ordinal text values need
        ``categories`` in order.
    categories : sequence, optional
        The categories, in order for the ordinal level.
    unit, coder, value : str
        Column names.

    Returns
    -------
    float
        ``nan`` with a warning when no unit has two ratings or all pairable values are equal.

    Raises
    ------
    InputError
        Unknown level, non-numeric values at the interval/ratio level, unordered text at the
        ordinal level.

    References
    ----------
    Krippendorff, K. (2011). *Computing Krippendorff's alpha-reliability*. Departmental Papers
    (ASC), University of Pennsylvania. https://repository.upenn.edu/asc_papers/43

    Examples
    --------
    Krippendorff's (2011) example, 4 coders x 12 units with missing data (published: nominal
    0.743, ordinal 0.815, interval 0.849, ratio 0.797):

    >>> k2011 = ratings_from_wide([
    ...     [1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2],
    ...     [1, 2, 3, 4], [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5],
    ...     [None, None, 1, 1], [None, None, 3, None]])
    >>> for level in ["nominal", "ordinal", "interval", "ratio"]:
    ...     print(level, f"{krippendorff_alpha(k2011, level=level):.3f}")
    nominal 0.743
    ordinal 0.815
    interval 0.849
    ratio 0.797
    """
    coded, _, _ = _encode(
        ratings, unit=unit, coder=coder, value=value, categories=categories, where="krippendorff_alpha"
    )
    return _point(coded, "krippendorff_alpha", level=level, label=f"Krippendorff's alpha ({level})")


def masi_distance(a: Iterable[Hashable], b: Iterable[Hashable]) -> float:
    """MASI distance between two sets of codes (Passonneau 2006).

    ``1 - J * M`` with ``J = |A & B| / |A | B|`` (Jaccard; 1 for two empty sets) and the
    monotonicity weight ``M`` = 1 if the sets are equal, 2/3 if one is a subset of the other,
    1/3 if they overlap otherwise, 0 if they are disjoint. The empty set ("no community") is a
    subset of every set but shares nothing with it, so its distance to any non-empty set is 1.

    Parameters
    ----------
    a, b : iterable of hashable
        The two sets (tuples, lists and sets are read as sets).

    Returns
    -------
    float
        In [0, 1].

    Notes
    -----
    NLTK's ``masi_distance`` rounds the weights to 0.67 and 0.33, so it gives 0.665 where the
    exact definition gives 2/3 for ``{1, 2}`` vs ``{1, 2, 3, 4}``.

    References
    ----------
    Passonneau, R. (2006). Measuring agreement on set-valued items (MASI) for semantic and
    pragmatic annotation. *Proceedings of LREC 2006*, 831-836.

    Examples
    --------
    >>> masi_distance({"a"}, {"a"}), masi_distance((), ())
    (0.0, 0.0)
    >>> round(masi_distance({"a"}, {"a", "b"}), 4)   # subset: 1 - 1/2 * 2/3
    0.6667
    >>> round(masi_distance({"a", "b"}, {"b", "c"}), 4)   # overlap: 1 - 1/3 * 1/3
    0.8889
    >>> masi_distance({"a"}, {"b"}), masi_distance((), {"a"})
    (1.0, 1.0)
    """
    return float(_masi_matrix([frozenset(a), frozenset(b)])[0, 1])


def krippendorff_alpha_masi(
    ratings: RatingsLike,
    *,
    unit: str = "unit",
    coder: str = "coder",
    value: str = "value",
) -> float:
    """Krippendorff's alpha for set-valued ratings with the MASI distance.

    Alpha as in :func:`krippendorff_alpha`, over the coincidences of whole sets of codes, with
    ``delta = masi_distance`` (used as is, not squared, as Passonneau 2006 and NLTK do). Each
    rating is a set of codes: a tuple, list, set or frozenset; ``()`` is a real value (no code),
    ``None``/``NaN`` a missing rating. On single-code sets MASI is the nominal metric, so the
    result equals nominal alpha.

    Parameters
    ----------
    ratings : DataFrame or iterable of (unit, coder, value)
        Long-format ratings whose values are sets of codes.
    unit, coder, value : str
        Column names.

    Returns
    -------
    float
        ``nan`` with a warning when no unit has two ratings or everyone gave the same set.

    References
    ----------
    Passonneau, R. (2006), see :func:`masi_distance`; Krippendorff (2011).

    Examples
    --------
    Krippendorff's (2011) data as single-code sets reproduce his nominal alpha, 0.743:

    >>> k2011 = ratings_from_wide([
    ...     [1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2],
    ...     [1, 2, 3, 4], [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5],
    ...     [None, None, 1, 1], [None, None, 3, None]])
    >>> as_sets = k2011.assign(value=[(v,) for v in k2011["value"]])
    >>> print(f"{krippendorff_alpha_masi(as_sets):.3f}")
    0.743

    Partial overlap counts as partial agreement (two coders, two segments: one exact match,
    one subset at distance 2/3). By hand: n = 4 values; observed sum_ck o_ck delta_ck = 2 * 2/3;
    expected sum_ck n_c n_k delta_ck = 2 * (2 * 1 * 1 + 2 * 1 * 1 + 1 * 1 * 2/3) = 28/3; so
    alpha = 1 - 3 * (4/3) / (28/3) = 4/7:

    >>> sets = [("s1", "A", ("rusrelatert:negativ",)), ("s1", "B", ("rusrelatert:negativ",)),
    ...         ("s2", "A", ("relasjonell:positiv",)),
    ...         ("s2", "B", ("relasjonell:positiv", "relasjonell:negativ"))]
    >>> print(f"{krippendorff_alpha_masi(sets):.3f}")
    0.571
    """
    coded, _, _ = _encode(
        ratings, unit=unit, coder=coder, value=value, categories=None, where="krippendorff_alpha_masi"
    )
    return _point(coded, "krippendorff_alpha_masi", label="Krippendorff's alpha (MASI)")


def gwet_ac1(
    ratings: RatingsLike,
    *,
    categories: Sequence[Any] | None = None,
    unit: str = "unit",
    coder: str = "coder",
    value: str = "value",
) -> float:
    """Gwet's AC1 for two or more coders, with missing ratings.

    ``(p_a - p_e) / (1 - p_e)`` with ``p_a`` the :func:`percent_agreement` and
    ``p_e = sum_k pi_k (1 - pi_k) / (q - 1)``, ``pi_k`` as in :func:`fleiss_kappa` and ``q``
    the number of categories (Gwet 2008, 2014). AC1 stays defined when everyone uses one
    category, provided ``q >= 2`` categories are declared with ``categories``: that is the
    point of the coefficient (high agreement on a rare code), so it is then 1, not ``nan``.

    Parameters
    ----------
    ratings : DataFrame or iterable of (unit, coder, value)
        Long-format ratings.
    categories : sequence, optional
        All possible categories; fixes ``q``. Default: the categories that occur.
    unit, coder, value : str
        Column names.

    Returns
    -------
    float
        ``nan`` with a warning when no unit has two ratings or ``q < 2``.

    References
    ----------
    Gwet, K. L. (2008). Computing inter-rater reliability and its variance in the presence of
    high agreement. *British Journal of Mathematical and Statistical Psychology*, 61(1), 29-48.
    Gwet (2014); irrCAC ``gwet.ac1.raw(cac.raw4raters)`` 0.77544 and
    ``gwet.ac1.table(cont3x3abstractors)`` 0.8493305.

    Examples
    --------
    >>> k2011 = ratings_from_wide([
    ...     [1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2],
    ...     [1, 2, 3, 4], [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5],
    ...     [None, None, 1, 1], [None, None, 3, None]])
    >>> print(f"{gwet_ac1(k2011):.5f}")
    0.77544
    >>> cells = {("Ectopic", "Ectopic"): 13, ("AIU", "AIU"): 20, ("AIU", "NIU"): 7,
    ...          ("NIU", "AIU"): 4, ("NIU", "NIU"): 56}
    >>> abstractors = ratings_from_wide([pair for pair, n in cells.items() for _ in range(n)])
    >>> print(f"{gwet_ac1(abstractors):.7f}")
    0.8493305
    """
    coded, _, _ = _encode(ratings, unit=unit, coder=coder, value=value, categories=categories, where="gwet_ac1")
    return _point(coded, "gwet_ac1", label="Gwet's AC1")


def brennan_prediger(
    ratings: RatingsLike,
    *,
    categories: Sequence[Any] | None = None,
    unit: str = "unit",
    coder: str = "coder",
    value: str = "value",
) -> float:
    """Brennan & Prediger's (1981) kappa: chance agreement ``1/q`` for ``q`` categories.

    ``(p_a - 1/q) / (1 - 1/q)`` with ``p_a`` the :func:`percent_agreement`; for two coders this
    is Bennett, Alpert & Goldstein's (1954) S. ``q`` should be the number of categories the
    coders could choose from: pass ``categories``, or it is the number that occur.

    Parameters
    ----------
    ratings : DataFrame or iterable of (unit, coder, value)
        Long-format ratings.
    categories : sequence, optional
        All possible categories; fixes ``q``.
    unit, coder, value : str
        Column names.

    Returns
    -------
    float
        ``nan`` with a warning when no unit has two ratings or ``q < 2``.

    References
    ----------
    Brennan, R. L., & Prediger, D. J. (1981). Coefficient kappa: Some uses, misuses, and
    alternatives. *Educational and Psychological Measurement*, 41(3), 687-699.
    Artstein & Poesio (2008), Table 4: S = 0.82; irrCAC ``bp.coeff.raw(cac.raw4raters)``
    0.77273 and ``bp2.table(cont3x3abstractors)`` 0.835.

    Examples
    --------
    >>> table4 = ([("Stat", "Stat")] * 46 + [("IReq", "Stat")] * 6 + [("IReq", "IReq")] * 32
    ...           + [("IReq", "Chck")] * 6 + [("Chck", "Chck")] * 10)
    >>> print(f"{brennan_prediger(ratings_from_wide(table4)):.2f}")
    0.82
    >>> k2011 = ratings_from_wide([
    ...     [1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2],
    ...     [1, 2, 3, 4], [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5],
    ...     [None, None, 1, 1], [None, None, 3, None]])
    >>> print(f"{brennan_prediger(k2011):.5f}")
    0.77273
    """
    coded, _, _ = _encode(ratings, unit=unit, coder=coder, value=value, categories=categories, where="brennan_prediger")
    return _point(coded, "brennan_prediger", label="Brennan-Prediger kappa")


# The statistics of agreement_table and bootstrap_ci, by name.
STATISTICS: tuple[str, ...] = (
    "percent_agreement",
    "cohen_kappa",
    "weighted_cohen_kappa_linear",
    "weighted_cohen_kappa_quadratic",
    "scotts_pi",
    "fleiss_kappa",
    "krippendorff_alpha",
    "krippendorff_alpha_masi",
    "gwet_ac1",
    "brennan_prediger",
)


class AgreementTable(dict[str, float]):
    """The statistics of :func:`agreement_table` by name, plus what was not computable and why.

    Attributes
    ----------
    warnings : list of str
        One line per statistic that is ``nan`` for these ratings, naming it and the reason.
    n_units, n_coders, n_ratings : int
        Units with at least one rating, coders with at least one rating, ratings given.
    """

    def __init__(
        self, values: Mapping[str, float], *, warnings: list[str], n_units: int, n_coders: int, n_ratings: int
    ) -> None:
        super().__init__(values)
        self.warnings = warnings
        self.n_units = n_units
        self.n_coders = n_coders
        self.n_ratings = n_ratings


def _table_specs(coded: _Coded, level: str, where: str) -> dict[str, _Spec | None]:
    """The specs of agreement_table; None marks a statistic that does not apply (nan, no warning)."""
    specs: dict[str, _Spec | None] = {}
    ordered = level != "nominal" or coded.given
    for name in STATISTICS:
        not_masi = name == "krippendorff_alpha_masi" and not coded.is_sets
        unordered = name.startswith("weighted") and (coded.is_sets or not ordered) and coded.n_coders == 2
        specs[name] = None if not_masi or unordered else _spec(name, coded, level=level, where=where)
    return specs


def agreement_table(
    ratings: RatingsLike,
    *,
    level: Level = "nominal",
    categories: Sequence[Any] | None = None,
    unit: str = "unit",
    coder: str = "coder",
    value: str = "value",
) -> AgreementTable:
    """Every applicable agreement statistic for one set of ratings, in one pass.

    Keys (always all present, ``nan`` where a statistic does not apply or is undefined):
    ``percent_agreement``, ``cohen_kappa``, ``weighted_cohen_kappa_linear``,
    ``weighted_cohen_kappa_quadratic``, ``scotts_pi`` (the last four only for exactly two
    coders), ``fleiss_kappa``, ``krippendorff_alpha`` (at ``level``),
    ``krippendorff_alpha_masi`` (set-valued ratings only), ``gwet_ac1``, ``brennan_prediger``.

    Weighted kappas need an order of the categories, so they are computed only when ``level``
    is ordinal, interval or ratio, or ``categories`` is given; otherwise ``nan`` without a
    warning. Set-valued ratings are compared as whole sets (exact match) by every statistic
    except ``krippendorff_alpha_masi``. Undefined statistics are not warned about one by one:
    the reasons are collected in the returned table's ``warnings``.

    Parameters
    ----------
    ratings : DataFrame or iterable of (unit, coder, value)
        Long-format ratings.
    level : {'nominal', 'ordinal', 'interval', 'ratio'}
        Level of measurement for Krippendorff's alpha and whether weighted kappas apply.
    categories : sequence, optional
        All possible categories, in order; fixes ``q`` for Brennan-Prediger and AC1 and the
        order for weighted kappa and ordinal alpha.
    unit, coder, value : str
        Column names.

    Returns
    -------
    AgreementTable
        A ``dict[str, float]`` with the attributes ``warnings``, ``n_units``, ``n_coders`` and
        ``n_ratings``.

    Examples
    --------
    Gwet's ``cont3x3abstractors`` (irrCAC publishes percent agreement 0.89, Cohen's kappa
    0.7964094, Scott's pi 0.7962397, Krippendorff's alpha 0.7972585, AC1 0.8493305,
    Brennan-Prediger 0.835, weighted kappa 0.843 linear and 0.892 quadratic):

    >>> cells = {("Ectopic", "Ectopic"): 13, ("AIU", "AIU"): 20, ("AIU", "NIU"): 7,
    ...          ("NIU", "AIU"): 4, ("NIU", "NIU"): 56}
    >>> abstractors = ratings_from_wide([pair for pair, n in cells.items() for _ in range(n)])
    >>> table = agreement_table(abstractors, categories=["Ectopic", "AIU", "NIU"])
    >>> for name, stat in table.items():
    ...     print(f"{name:31} {stat:.3f}")
    percent_agreement               0.890
    cohen_kappa                     0.796
    weighted_cohen_kappa_linear     0.843
    weighted_cohen_kappa_quadratic  0.892
    scotts_pi                       0.796
    fleiss_kappa                    0.796
    krippendorff_alpha              0.797
    krippendorff_alpha_masi         nan
    gwet_ac1                        0.849
    brennan_prediger                0.835
    >>> table.warnings, table.n_coders
    ([], 2)
    """
    coded, _, _ = _encode(ratings, unit=unit, coder=coder, value=value, categories=categories, where="agreement_table")
    specs = _table_specs(coded, level, "agreement_table")
    results = _evaluate(coded, {k: v for k, v in specs.items() if v is not None})
    values: dict[str, float] = {}
    notes: list[str] = []
    for name in STATISTICS:
        stat, why = results.get(name, (math.nan, None))
        values[name] = stat
        if math.isnan(stat) and why:
            notes.append(f"{name}: {why}")
    return AgreementTable(
        values,
        warnings=notes,
        n_units=int(coded.matrix.shape[0]),
        n_coders=coded.n_coders,
        n_ratings=int((coded.matrix >= 0).sum()),
    )
