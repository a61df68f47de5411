"""The ``frozen`` strategy of :class:`~mpsoc_nlp.models.transformer.TransformerCoder`.

The encoder is not trained: each segment becomes the mean of its windows' pooled vectors, and one
logistic regression per code is fitted on the standardised vectors. Thresholds come from grouped
out-of-fold probabilities. torch and scikit-learn are imported only when a coder is fitted.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..codebook import Codebook
from ._hf import make_windows, pick_device
from .finetune import _sigmoid, _tune

if TYPE_CHECKING:
    from .transformer import TransformerCoder

__all__ = ["fit_frozen", "fit_heads", "embed", "load_encoder"]

logger = logging.getLogger("mpsoc_nlp.models.transformer")


def fit_frozen(
    coder: TransformerCoder, source: Path, texts: list[str], y: np.ndarray, groups: list[str] | None,
    codebook: Codebook,
) -> None:
    """Embed the texts with the frozen encoder and fit one logistic regression per code on them.

    Thresholds are tuned on grouped out-of-fold probabilities (``threshold_folds`` folds).
    """
    from sklearn.model_selection import GroupKFold, KFold

    encoder = load_encoder(coder, source, codebook, saved=False)
    t0 = time.perf_counter()
    x = coder._embed(texts, model=encoder)  # never the int8 copy: training features stay exact
    logger.info("embedded %d segments in %.1f s", len(texts), time.perf_counter() - t0)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-8] = 1.0
    coef, intercept = fit_heads((x - mean) / scale, y, C=coder.C, seed=coder.seed)
    n = len(texts)
    oof = None
    if groups is not None and len(set(groups)) >= 2:
        k = min(coder.threshold_folds, len(set(groups)))
        splits = list(GroupKFold(n_splits=k, shuffle=True, random_state=coder.seed).split(x, groups=groups))
    elif n >= 4:
        k = min(coder.threshold_folds, n)
        splits = list(KFold(n_splits=k, shuffle=True, random_state=coder.seed).split(x))
    else:
        splits = []
    C, seed = coder.C, coder.seed
    if splits:
        oof = np.zeros(y.shape)
        for tr, te in splits:
            m, s = x[tr].mean(axis=0), x[tr].std(axis=0)
            s[s < 1e-8] = 1.0
            c, b = fit_heads((x[tr] - m) / s, y[tr], C=C, seed=seed)
            oof[te] = _sigmoid(((x[te] - m) / s) @ c.T + b)
    coder.thresholds_ = _tune(y, oof, coder.threshold_min_positives) if oof is not None else np.full(y.shape[1], 0.5)
    coder.head_coef_, coder.head_intercept_ = coef, intercept
    coder.feature_mean_, coder.feature_scale_ = mean, scale
    coder.history_ = []
    coder.best_epoch_ = None
    coder.n_validation_ = int(len(oof)) if oof is not None else 0
    coder.pos_weight_ = None


def load_encoder(coder: TransformerCoder, source: Path, codebook: Codebook, *, saved: bool) -> Any:
    """Load the bare encoder and its tokenizer from ``source`` onto the coder's device, in eval mode.

    Sets the coder's ``tokenizer_``, ``model_``, ``device_`` and ``max_length_``; returns the encoder.
    ``saved``: a folder mpsoc wrote (safetensors only) rather than a base model.
    """
    tokenizer, encoder = coder._load_parts(source, head=False, codebook=codebook, saved=saved)
    coder.device_ = pick_device(coder.device)
    encoder.to(coder.device_).eval()
    coder.tokenizer_, coder.model_ = tokenizer, encoder
    coder.max_length_ = coder._max_length(tokenizer, encoder)
    return encoder


def fit_heads(x: np.ndarray, y: np.ndarray, *, C: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One balanced logistic regression per code: ``(coef, intercept)``; constant codes get +-20 intercepts."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    coef = np.zeros((y.shape[1], x.shape[1]))
    intercept = np.zeros(y.shape[1])
    for j in range(y.shape[1]):
        pos = int(y[:, j].sum())
        if pos == 0 or pos == len(y):
            intercept[j] = -20.0 if pos == 0 else 20.0
            continue
        clf = LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x, y[:, j])
        coef[j] = clf.coef_[0]
        intercept[j] = clf.intercept_[0]
    return coef, intercept


def embed(coder: TransformerCoder, texts: Sequence[str], model: Any = None) -> np.ndarray:
    """Segment vectors of the frozen encoder: window vectors averaged per segment.

    With an :class:`~mpsoc_nlp.models.embedding_cache.EmbeddingCache` attached (one training
    run: its cross-validation folds and the final fit share one), a text already embedded with
    the same encoder settings is not run through the encoder again.
    """
    cache = getattr(coder, "embedding_cache", None)
    if cache is not None and not coder.quantize:
        key = encoder_key(coder)
        return cache.embed(key, texts, lambda todo: embed_now(coder, todo, model))
    return embed_now(coder, texts, model)


def encoder_key(coder: TransformerCoder) -> str:
    """The embedding cache's key of the coder's encoder settings."""
    source = str(getattr(coder, "_source", coder.model_name_or_path))
    settings = (source, coder.max_length_, coder.stride, coder.pooling)
    return json.dumps(settings)


def embed_now(coder: TransformerCoder, texts: Sequence[str], model: Any = None) -> np.ndarray:
    """Run the encoder over the texts' windows and average them per segment."""
    windows, owner = make_windows(coder.tokenizer_, texts, max_length=coder.max_length_, stride=coder.stride)
    vec = coder._run_windows(model if model is not None else coder._inference_model(), windows, kind="embed")
    sums = np.zeros((len(texts), vec.shape[1]))
    np.add.at(sums, owner, vec)
    return sums / np.bincount(owner, minlength=len(texts))[:, None]
