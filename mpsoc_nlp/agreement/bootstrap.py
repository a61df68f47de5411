"""Percentile bootstrap intervals of agreement statistics, resampling whole documents.

Segments of one interview are not independent, so every interval here resamples documents (a
cluster bootstrap). The named statistics are finished from per-document sums of
:mod:`mpsoc_nlp.agreement.statistics`, so a resample costs one matrix product; :func:`f1_interval`
draws the same resamples for the F1 of two coders' presence/absence.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mpsoc_nlp.errors import InputError

from .statistics import (
    STATISTICS,
    Level,
    UndefinedStatisticWarning,
    _encode,
    _spec,
    _sums,
    brennan_prediger,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    krippendorff_alpha_masi,
    percent_agreement,
    scotts_pi,
)

__all__ = ["BootstrapInterval", "bootstrap_ci", "f1_interval"]


class BootstrapInterval(NamedTuple):
    """A percentile bootstrap interval.

    ``n_undefined`` counts resamples on which the statistic was undefined; they are left out
    of the percentiles.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    n_resamples: int
    n_groups: int
    n_undefined: int


_FUNCTION_STATISTICS: dict[str, str] = {}  # filled below: function name -> statistic name


def _statistic_name(statistic: str | Callable[..., float]) -> str | None:
    """The built-in statistic a name or one of this module's functions stands for, else None."""
    if isinstance(statistic, str):
        if statistic not in STATISTICS:
            raise InputError(f"unknown statistic {statistic!r}; choose one of {list(STATISTICS)}", path="bootstrap_ci")
        return statistic
    name = getattr(statistic, "__name__", None)
    if getattr(statistic, "__module__", None) == percent_agreement.__module__ and name in _FUNCTION_STATISTICS:
        return _FUNCTION_STATISTICS[name]
    return None


def bootstrap_ci(
    segments: pd.DataFrame,
    statistic: str | Callable[[pd.DataFrame], float],
    *,
    group: str = "document_id",
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    unit: str = "segment_id",
    coder: str = "coder",
    value: str = "codes",
    level: Level = "nominal",
    categories: Sequence[Any] | None = None,
) -> BootstrapInterval:
    """Percentile bootstrap interval of an agreement statistic, resampling whole documents.

    Segments of one interview are not independent, so the resampling unit is the document
    (``group``): each resample draws as many documents as there are, with replacement, and
    keeps all their segments and ratings (a cluster bootstrap).

    ``statistic`` is the name of one of the statistics of :func:`agreement_table` (or one of
    the statistic functions, e.g. ``krippendorff_alpha_masi``): these are computed
    from per-document sums, so a resample costs one matrix product and 1,000 resamples of
    10,000 segments take milliseconds. Any other callable taking a ratings DataFrame (columns
    ``unit``, ``coder``, ``value``) and returning a float also works, recomputed per resample
    (slower); it receives the unit column recoded as integers unique within a resample, so a
    document drawn twice counts as two documents. The named statistics keep the categories of
    the whole data (or ``categories``) in every resample, so ``q`` of AC1 and Brennan-Prediger
    does not change when a resample happens to lack a category; a callable recomputes whatever
    it computes.

    Parameters
    ----------
    segments : DataFrame
        Long-format ratings with a ``group`` column; every unit lies in one group.
    statistic : str or callable
        What to estimate (see above). ``krippendorff_alpha`` uses ``level``.
    group : str
        Column of the resampling unit (document).
    n_resamples : int
        Number of bootstrap resamples.
    confidence : float
        Coverage of the interval, in (0, 1).
    seed : int
        Seed of the random generator; the same seed gives the same interval.
    unit, coder, value : str
        Column names.
    level : {'nominal', 'ordinal', 'interval', 'ratio'}
        Level for ``krippendorff_alpha``.
    categories : sequence, optional
        As for the statistic.

    Returns
    -------
    BootstrapInterval
        ``(estimate, low, high, confidence, n_resamples, n_groups, n_undefined)``.

    Warns
    -----
    UndefinedStatisticWarning
        When the statistic is undefined on the data (then everything is ``nan``), or on some
        resamples (left out; their number is ``n_undefined``), or there is only one group.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> truth = rng.integers(0, 3, size=200)
    >>> segments = pd.DataFrame({
    ...     "segment_id": np.repeat(np.arange(200), 2),
    ...     "document_id": np.repeat(np.arange(200) // 10, 2),
    ...     "coder": ["A", "B"] * 200,
    ...     "codes": [t if rng.random() < 0.8 else rng.integers(0, 3) for t in np.repeat(truth, 2)]})
    >>> ci = bootstrap_ci(segments, "krippendorff_alpha", n_resamples=500, seed=7)
    >>> ci.low < ci.estimate < ci.high, ci.n_groups
    (True, 20)
    >>> ci == bootstrap_ci(segments, "krippendorff_alpha", n_resamples=500, seed=7)
    True
    """
    where = "bootstrap_ci"
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must lie strictly between 0 and 1, not {confidence!r}", path=where)
    if int(n_resamples) < 1:
        raise InputError(f"n_resamples must be at least 1, not {n_resamples!r}", path=where)
    name = _statistic_name(statistic)
    coded, frame, rows = _encode(
        segments, unit=unit, coder=coder, value=value, categories=categories, where=where, extra=[group]
    )
    g_rows, g_labels = pd.factorize(frame[group])
    if (g_rows < 0).any():
        raise InputError("a rating has no value in this column", path=where, column=group)
    unit_group = np.full(rows.shape[0], -1, dtype=np.int64)
    present = rows >= 0
    unit_of_row = np.repeat(np.arange(rows.shape[0]), present.sum(axis=1))
    g_of_row = g_rows[rows[present]]
    unit_group[unit_of_row] = g_of_row
    if (unit_group[unit_of_row] != g_of_row).any():
        u = unit_of_row[np.flatnonzero(unit_group[unit_of_row] != g_of_row)[0]]
        raise InputError(
            f"unit {coded.units[u]!r} lies in more than one {group}; a unit must belong to one group",
            path=where,
            column=group,
        )
    n_groups = len(g_labels)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_groups, size=(int(n_resamples), n_groups))

    if name is not None:
        sp = _spec(name, coded, level=level, where=where)
        per_group = _sums(coded.matrix, len(coded.categories), sp.needs, groups=unit_group, n_groups=n_groups, x=sp.x)
        weights = np.zeros((int(n_resamples), n_groups))
        np.add.at(weights, (np.arange(int(n_resamples))[:, None], draws), 1.0)
        total = {k: v.sum(axis=0, keepdims=True) for k, v in per_group.items()}
        total["_batch"] = np.zeros(1)
        (estimate,), why = sp.finish(total)
        boot_sums = {k: np.tensordot(weights, v, axes=1) for k, v in per_group.items()}
        boot_sums["_batch"] = np.zeros(int(n_resamples))
        boot, _ = sp.finish(boot_sums)
        label = name
    else:
        estimate, boot = _bootstrap_callable(frame, statistic, draws, g_rows, unit, n_groups)  # type: ignore[arg-type]
        why = "the statistic returned nan on the data"
        label = getattr(statistic, "__name__", "the statistic")
    return _percentile_interval(float(estimate), np.asarray(boot, dtype=float), confidence, n_groups, label, why)


def _bootstrap_callable(
    frame: pd.DataFrame,
    statistic: Callable[[pd.DataFrame], float],
    draws: np.ndarray,
    g_rows: np.ndarray,
    unit: str,
    n_groups: int,
) -> tuple[float, np.ndarray]:
    """Resample documents and recompute an arbitrary statistic on each resample."""
    order = np.argsort(g_rows, kind="stable")
    ordered = frame.iloc[order].reset_index(drop=True)
    unit_codes = pd.factorize(ordered[unit])[0]
    n_unit_codes = int(unit_codes.max()) + 1 if len(unit_codes) else 1
    sizes = np.bincount(g_rows, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedStatisticWarning)
        estimate = _as_float(statistic(frame))
        boot = np.empty(draws.shape[0])
        for b, drawn in enumerate(draws):
            lengths = sizes[drawn]
            total = int(lengths.sum())
            offsets = np.repeat(starts[drawn] - (np.cumsum(lengths) - lengths), lengths)
            picked = np.arange(total) + offsets
            resample = ordered.iloc[picked].copy()
            resample[unit] = unit_codes[picked] + np.repeat(np.arange(len(drawn)), lengths) * n_unit_codes
            boot[b] = _as_float(statistic(resample))
    return estimate, boot


def _as_float(result: object) -> float:
    try:
        return float(result)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(
            f"the statistic must return a number, not {type(result).__name__}", path="bootstrap_ci"
        ) from None


def _percentile_interval(
    estimate: float, boot: np.ndarray, confidence: float, n_groups: int, label: str, why: str | None
) -> BootstrapInterval:
    n = len(boot)
    if math.isnan(estimate):
        warnings.warn(f"{label} is undefined: {why}", UndefinedStatisticWarning, stacklevel=3)
        return BootstrapInterval(math.nan, math.nan, math.nan, confidence, n, n_groups, n)
    undefined = int(np.isnan(boot).sum())
    if n_groups < 2:
        warnings.warn(
            f"only {n_groups} group: every resample is the whole data, so the interval shows no "
            "between-document variation",
            UndefinedStatisticWarning,
            stacklevel=3,
        )
    if undefined == n:
        warnings.warn(f"{label} is undefined on every resample", UndefinedStatisticWarning, stacklevel=3)
        return BootstrapInterval(estimate, math.nan, math.nan, confidence, n, n_groups, undefined)
    if undefined:
        warnings.warn(
            f"{label} is undefined on {undefined} of {n} resamples; they are left out of the interval",
            UndefinedStatisticWarning,
            stacklevel=3,
        )
    tail = (1.0 - confidence) / 2.0
    low, high = np.nanquantile(boot, [tail, 1.0 - tail])
    return BootstrapInterval(estimate, float(low), float(high), confidence, n, n_groups, undefined)


_FUNCTION_STATISTICS.update(
    {
        f.__name__: f.__name__
        for f in (
            percent_agreement,
            cohen_kappa,
            scotts_pi,
            fleiss_kappa,
            krippendorff_alpha,
            krippendorff_alpha_masi,
            gwet_ac1,
            brennan_prediger,
        )
    }
    | {"weighted_cohen_kappa": "weighted_cohen_kappa_linear"}  # its default weights
)


def _draws(groups: np.ndarray, n_resamples: int, seed: int) -> tuple[np.ndarray, int]:
    """Resample weights (n_resamples x n_groups) drawn as :func:`bootstrap_ci` draws them."""
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
    replacement, as :func:`bootstrap_ci` does with the same ``seed``; a
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
