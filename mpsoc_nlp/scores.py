"""Scores of predicted code sets against gold ones: per code, community type and valence.

Precision, recall, F1 and Cohen's kappa (:func:`~mpsoc_nlp.agreement.statistics.cohen_kappa`) of
each code, the same collapsed to community types and valences (:meth:`Codebook.members
<mpsoc_nlp.codebook.Codebook.members>`), and the confusion of two coders' label sets.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .agreement.statistics import UndefinedStatisticWarning, cohen_kappa
from .codebook import Codebook
from .errors import InputError

__all__ = ["binary_scores", "multilabel_confusion", "score"]


def _safe_div(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def binary_scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, float | int]:
    """Precision, recall, F1, Cohen's kappa and counts of one binary decision.

    Undefined values (no predicted or no true positives, one class only) are ``nan``. Kappa is
    :func:`~mpsoc_nlp.agreement.statistics.cohen_kappa` with the truth and the prediction as the
    two coders.

    >>> s = binary_scores(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
    >>> (s["precision"], s["recall"], round(s["f1"], 3), s["kappa"])
    (1.0, 0.5, 0.667, 0.5)
    """
    t = truth.astype(bool)
    p = pred.astype(bool)
    tp = int((t & p).sum())
    fp = int((~t & p).sum())
    fn = int((t & ~p).sum())
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    f1 = _safe_div(2 * tp, 2 * tp + fp + fn)
    if len(set(t.tolist()) | set(p.tolist())) < 2:
        kappa = float("nan")
    else:
        n = len(t)
        ratings = pd.DataFrame(
            {"unit": np.tile(np.arange(n), 2), "coder": np.repeat([0, 1], n), "value": np.concatenate([t, p])}
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedStatisticWarning)
            kappa = cohen_kappa(ratings)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "kappa": kappa,
        "support": int(t.sum()),
        "predicted": int(p.sum()),
    }


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray([v for v in values if v == v], dtype=float)
    return float(arr.mean()) if len(arr) else float("nan")


def _dimension(truth: np.ndarray, pred: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    per = {n: binary_scores(truth[:, j], pred[:, j]) for j, n in enumerate(names)}
    tp = int((truth.astype(bool) & pred.astype(bool)).sum())
    micro = _safe_div(2 * tp, int(truth.sum()) + int(pred.sum()))
    macro = _nanmean([per[n]["f1"] for n in names if per[n]["support"] > 0])  # type: ignore[misc]
    return {"per": per, "micro_f1": micro, "macro_f1": macro}


def _collapse(m: np.ndarray, codebook: Codebook, dimension: str) -> np.ndarray:
    """Multi-hot codes -> multi-hot community types (``"type"``) or valences (``"valence"``)."""
    groups = codebook.members(codebook.codes)[dimension]
    return np.stack([m[:, [codebook.index(c) for c in group]].max(axis=1) for group in groups.values()], 1)


def score(
    gold: Sequence[Sequence[str]] | np.ndarray,
    predicted: Sequence[Sequence[str]] | np.ndarray,
    codebook: Codebook,
) -> dict[str, Any]:
    """Scores of predicted code sets against gold code sets.

    Returns per-code precision/recall/F1/Cohen's kappa, micro and macro F1 over codes (macro over
    codes present in the gold data), the same collapsed to community type and to valence, the F1
    of "any community" and the exact-set accuracy.
    """
    y = codebook.encode(gold) if not isinstance(gold, np.ndarray) else gold
    p = codebook.encode(predicted) if not isinstance(predicted, np.ndarray) else predicted
    if y.shape != p.shape:
        raise InputError(f"gold has {len(y)} segments but predictions {len(p)}")
    codes = _dimension(y, p, codebook.codes)
    out: dict[str, Any] = {
        "n_segments": int(len(y)),
        "per_code": codes["per"],
        "summary": {"micro_f1": codes["micro_f1"], "macro_f1": codes["macro_f1"]},
    }
    for dimension, names in (("type", codebook.type_names), ("valence", codebook.valence_names)):
        if not names:
            continue
        d = _dimension(_collapse(y, codebook, dimension), _collapse(p, codebook, dimension), names)
        out[f"per_{dimension}"] = d["per"]
        out["summary"].update({f"{dimension}_micro_f1": d["micro_f1"], f"{dimension}_macro_f1": d["macro_f1"]})
    anyc = binary_scores(np.asarray(y.any(axis=1)), np.asarray(p.any(axis=1)))
    out["any_community"] = anyc
    out["summary"]["any_community_f1"] = anyc["f1"]
    out["summary"]["exact_set_accuracy"] = float((y == p).all(axis=1).mean()) if len(y) else float("nan")
    return out


def multilabel_confusion(
    rows: Sequence[Sequence[str]], columns: Sequence[Sequence[str]], labels: Sequence[str]
) -> np.ndarray:
    """A confusion matrix of two coders' label sets, with a last row and column for "none".

    For each segment, labels both coders gave count on the diagonal. A label only the row coder
    gave is split evenly over the labels only the column coder gave (``1/k`` each), or goes to
    the column "none" when there are none; a label only the column coder gave, when the row
    coder has no unmatched label, goes to the row "none". A segment both left empty counts once
    in ("none", "none"). So each row sums to how often the row coder used the label.

    >>> m = multilabel_confusion([("a",), ("b",), ()], [("a",), ("a", "c"), ("b",)], ["a", "b", "c"])
    >>> m.tolist()  # rows a, b, c, none; columns a, b, c, none
    [[1.0, 0.0, 0.0, 0.0], [0.5, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]]
    """
    index = {label: i for i, label in enumerate(labels)}
    none = len(labels)
    m = np.zeros((none + 1, none + 1))
    for r, c in zip(rows, columns, strict=True):
        rs, cs = set(r), set(c)
        for label in rs & cs:
            m[index[label], index[label]] += 1
        r_only, c_only = sorted(rs - cs, key=index.__getitem__), sorted(cs - rs, key=index.__getitem__)
        if not rs and not cs:
            m[none, none] += 1
        elif r_only and c_only:
            for a in r_only:
                for b in c_only:
                    m[index[a], index[b]] += 1.0 / len(c_only)
        elif r_only:
            for a in r_only:
                m[index[a], none] += 1
        else:
            for b in c_only:
                m[none, index[b]] += 1
    return m
