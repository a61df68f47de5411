"""Per-code decision thresholds tuned on out-of-fold probabilities (shared by every backend)."""

from __future__ import annotations

import numpy as np

__all__ = ["tune_thresholds"]

_THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


def tune_thresholds(y: np.ndarray, proba: np.ndarray, *, min_positives: int = 3, default: float = 0.5) -> np.ndarray:
    """Per-code thresholds that maximise F1 on out-of-fold probabilities.

    Codes with fewer than ``min_positives`` positives keep ``default``. Ties are broken toward
    ``default`` so that flat regions do not push thresholds to extremes.

    >>> y = np.array([[1], [1], [1], [0], [0], [0]])
    >>> p = np.array([[0.9], [0.7], [0.35], [0.3], [0.2], [0.1]])
    >>> float(tune_thresholds(y, p)[0])  # 0.31 ... 0.35 all give F1 = 1: the one nearest 0.5
    0.35
    """
    out = np.full(y.shape[1], default, dtype=np.float64)
    for j in range(y.shape[1]):
        pos = y[:, j].astype(bool)
        if pos.sum() < min_positives:
            continue
        pred = proba[:, j][None, :] >= _THRESHOLD_GRID[:, None]
        tp = (pred & pos).sum(axis=1)
        fp = (pred & ~pos).sum(axis=1)
        fn = pos.sum() - tp
        f1 = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
        best = f1.max()
        candidates = _THRESHOLD_GRID[np.isclose(f1, best)]
        out[j] = float(candidates[np.argmin(np.abs(candidates - default))])
    return out
