"""Model versus gold: scores per code and dimension, grouped cross-validation, learning curves."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import GroupKFold

from .codebook import Codebook
from .errors import InputError
from .models.base import BaseCoder

__all__ = ["score", "cross_validate", "learning_curve", "CrossValidation", "binary_scores"]

logger = logging.getLogger(__name__)

LEARNING_FRACTIONS = (0.2, 0.4, 0.6, 0.8, 1.0)


def _safe_div(a: float, b: float) -> float:
    return float(a / b) if b else float("nan")


def binary_scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, float | int]:
    """Precision, recall, F1, Cohen's kappa and counts of one binary decision.

    Undefined values (no predicted or no true positives, one class only) are ``nan``.

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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            kappa = float(cohen_kappa_score(t, p))
    return {"precision": precision, "recall": recall, "f1": f1, "kappa": kappa, "support": int(t.sum()), "predicted": int(p.sum())}


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray([v for v in values if v == v], dtype=float)
    return float(arr.mean()) if len(arr) else float("nan")


def _dimension(truth: np.ndarray, pred: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    per = {n: binary_scores(truth[:, j], pred[:, j]) for j, n in enumerate(names)}
    tp = int((truth.astype(bool) & pred.astype(bool)).sum())
    micro = _safe_div(2 * tp, int(truth.sum()) + int(pred.sum()))
    macro = _nanmean([per[n]["f1"] for n in names if per[n]["support"] > 0])  # type: ignore[misc]
    return {"per": per, "micro_f1": micro, "macro_f1": macro}


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
    types = codebook.type_names
    ty = np.stack([y[:, [codebook.index(c) for c in codebook.codes if codebook.type_of(c) == t]].max(axis=1) for t in types], 1)
    tp = np.stack([p[:, [codebook.index(c) for c in codebook.codes if codebook.type_of(c) == t]].max(axis=1) for t in types], 1)
    td = _dimension(ty, tp, types)
    out["per_type"] = td["per"]
    out["summary"].update(type_micro_f1=td["micro_f1"], type_macro_f1=td["macro_f1"])
    if codebook.valences:
        vals = codebook.valence_names
        vy = np.stack([y[:, [codebook.index(c) for c in codebook.codes if codebook.valence_of(c) == v]].max(axis=1) for v in vals], 1)
        vp = np.stack([p[:, [codebook.index(c) for c in codebook.codes if codebook.valence_of(c) == v]].max(axis=1) for v in vals], 1)
        vd = _dimension(vy, vp, vals)
        out["per_valence"] = vd["per"]
        out["summary"].update(valence_micro_f1=vd["micro_f1"], valence_macro_f1=vd["macro_f1"])
    anyc = binary_scores(y.any(axis=1), p.any(axis=1))
    out["any_community"] = anyc
    out["summary"]["any_community_f1"] = anyc["f1"]
    out["summary"]["exact_set_accuracy"] = float((y == p).all(axis=1).mean()) if len(y) else float("nan")
    return out


@dataclass
class CrossValidation:
    """The result of :func:`cross_validate`: pooled out-of-fold scores and per-fold scores."""

    scores: dict[str, Any]
    fold_scores: list[dict[str, Any]]
    proba: np.ndarray
    predicted: list[tuple[str, ...]]
    folds: np.ndarray
    learning_curve: pd.DataFrame | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.scores,
            "description": f"{len(self.fold_scores)}-fold cross-validation grouped by document, pooled out-of-fold predictions",
            "folds": [f["summary"] for f in self.fold_scores],
        }
        if self.learning_curve is not None:
            out["learning_curve"] = self.learning_curve.to_dict(orient="records")
        return out


def _group_folds(groups: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    n_groups = len(set(groups.tolist()))
    if n_groups < 2:
        raise InputError("cross-validation needs segments from at least 2 documents (document_id)")
    k = min(folds, n_groups)
    if k < folds:
        logger.warning("only %d documents: using %d folds instead of %d", n_groups, k, folds)
    return list(GroupKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(groups)), groups=groups))


def _subsample_documents(train_idx: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    docs = np.array(sorted(set(groups[train_idx].tolist())), dtype=object)
    rng = np.random.default_rng(seed)
    keep_n = max(2, int(round(fraction * len(docs))))
    keep = set(rng.permutation(docs)[:keep_n].tolist())
    return train_idx[np.isin(groups[train_idx], list(keep))]


def cross_validate(
    texts: Sequence[str],
    code_sets: Sequence[Sequence[str]],
    groups: Sequence[Any],
    make_model: Callable[[], BaseCoder],
    codebook: Codebook,
    *,
    folds: int = 5,
    seed: int = 0,
    with_learning_curve: bool = False,
    fractions: Sequence[float] = LEARNING_FRACTIONS,
    progress: Callable[[str], None] | None = None,
) -> CrossValidation:
    """Cross-validate a coder with folds grouped by document; optionally a learning curve.

    The learning curve trains on 20 %, 40 %, ... of the training documents of each fold (whole
    documents, as researchers code whole interviews) and scores the same test fold.
    """
    texts = np.asarray(list(texts), dtype=object)
    y = codebook.encode(list(code_sets))
    g = np.asarray([str(x) for x in groups], dtype=object)
    splits = _group_folds(g, folds, seed)
    proba = np.zeros(y.shape, dtype=np.float64)
    pred = np.zeros(y.shape, dtype=np.uint8)
    fold_of = np.zeros(len(y), dtype=np.int64)
    fold_scores = []
    curve_rows = []
    for k, (train_idx, test_idx) in enumerate(splits):
        if progress:
            progress(f"fold {k + 1}/{len(splits)}")
        model = make_model().fit(texts[train_idx].tolist(), y[train_idx], groups=g[train_idx])
        pr = model.predict_proba(texts[test_idx].tolist())
        proba[test_idx] = pr
        pred[test_idx] = (pr >= model.thresholds_).astype(np.uint8)  # type: ignore[attr-defined]
        fold_of[test_idx] = k
        fold_scores.append(score(y[test_idx], pred[test_idx], codebook))
        if with_learning_curve:
            for frac in fractions:
                if frac >= 1.0:
                    sub = train_idx
                    sc = fold_scores[-1]
                else:
                    sub = _subsample_documents(train_idx, g, frac, seed + k)
                    m = make_model().fit(texts[sub].tolist(), y[sub], groups=g[sub])
                    sc = score(y[test_idx], m.predict(texts[test_idx].tolist()), codebook)
                curve_rows.append(
                    {
                        "fold": k,
                        "fraction": frac,
                        "train_segments": int(len(sub)),
                        "train_documents": int(len(set(g[sub].tolist()))),
                        **{key: sc["summary"][key] for key in ("micro_f1", "macro_f1", "type_macro_f1", "valence_macro_f1", "any_community_f1") if key in sc["summary"]},
                    }
                )
    pooled = score(y, pred, codebook)
    curve = None
    if curve_rows:
        raw = pd.DataFrame(curve_rows)
        metrics = [c for c in raw.columns if c.endswith("_f1")]
        agg = raw.groupby("fraction").agg(
            train_segments=("train_segments", "mean"),
            train_documents=("train_documents", "mean"),
            **{f"{m}_mean": (m, "mean") for m in metrics},
            **{f"{m}_sd": (m, "std") for m in metrics},
        )
        curve = agg.reset_index()
    return CrossValidation(
        scores=pooled,
        fold_scores=fold_scores,
        proba=proba,
        predicted=codebook.decode(pred, 0.5),
        folds=fold_of,
        learning_curve=curve,
    )
