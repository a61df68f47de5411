"""The transformer coder: a fine-tuned (or frozen) Norwegian encoder with one sigmoid per code.

Two strategies share one estimator contract (the same as :class:`~mpsoc_nlp.models.LinearCoder`):

``finetune`` (default)
    The encoder and a linear head over the codebook's codes are trained together with binary
    cross-entropy per code, each code's positives weighted by ``negatives / positives`` (capped
    at ``pos_weight_cap``). Whole documents are held out as a validation split; training stops
    when the validation macro-F1 has not risen for ``patience`` epochs and the best epoch is kept.
``frozen``
    The encoder is not trained. Each segment becomes the mean of its token embeddings, and one
    logistic regression per code is fitted on those vectors: minutes on a CPU.

Segments longer than ``max_length`` tokens are cut into overlapping windows (``stride`` tokens
of overlap); the logits of a segment's windows are combined by their maximum (``window_combine``):
a code is present in the segment when some part of it expresses it. ``frozen`` averages the
windows' embeddings instead.

Per-code thresholds are tuned on probabilities of segments the model did not learn from
(the grouped validation split, or grouped out-of-fold predictions for ``frozen``): a code with
at least ``threshold_min_positives`` positives there gets its own F1-optimal threshold, the
others share one threshold tuned over all codes together.

Everything is offline first: models are local folders or hub names found in the local cache,
and the saved folder is ``save_pretrained`` output (safetensors) plus the tokenizer,
``model.json`` and a model card. torch and transformers are imported only when a coder is
fitted or loaded.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import os
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..codebook import Codebook
from ..errors import InputError, ModelError
from ._hf import (
    check_remote_code,
    combine_windows,
    dist_info,
    load_state,
    localize_auto_map,
    make_windows,
    pick_device,
    pick_precision,
    pickle_files,
    require_torch,
    resolve_model,
    save_state,
    torch_threads,
)
from .base import BaseCoder, as_code_sets, check_texts
from .folder import METADATA_KEYS
from .thresholds import tune_thresholds

__all__ = ["TransformerCoder", "DEFAULT_MODEL"]

logger = logging.getLogger(__name__)
# one line per epoch; the CLI shows this logger's INFO lines on stderr even without -v (Slurm logs, files)
_progress_log = logging.getLogger("mpsoc_nlp.progress")

DEFAULT_MODEL = "NbAiLab/nb-bert-base"
HEAD = "head.safetensors"
WEIGHTS = "model.safetensors"
_RUNTIME_OPTIONS = ("device", "precision", "quantize", "num_threads", "eval_batch_size", "checkpoint_dir", "resume")
# never stored in model.json: a folder must not grant itself the right to run its own code
_NOT_SAVED = (*_RUNTIME_OPTIONS, "trust_remote_code")
_LOAD_OPTIONS = (
    "device", "precision", "quantize", "num_threads", "eval_batch_size", "trust_remote_code", "review_band"
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def _tune(y: np.ndarray, proba: np.ndarray, min_positives: int) -> np.ndarray:
    """Per-code thresholds where a code has ``min_positives`` positives, one shared threshold else."""
    shared = float(tune_thresholds(y.reshape(-1, 1), proba.reshape(-1, 1), min_positives=1)[0])
    return tune_thresholds(y, proba, min_positives=min_positives, default=shared)


def _macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    """Macro F1 over the codes that have positives in ``y`` (nan when none has)."""
    scores = []
    for j in range(y.shape[1]):
        t = y[:, j].astype(bool)
        if not t.any():
            continue
        p = pred[:, j].astype(bool)
        tp = int((t & p).sum())
        scores.append(2 * tp / max(int(t.sum()) + int(p.sum()), 1))
    return float(np.mean(scores)) if scores else float("nan")


def _bce(logits: np.ndarray, y: np.ndarray, pos_weight: np.ndarray) -> float:
    """Mean binary cross-entropy with logits and per-code positive weights (as torch computes it)."""
    log_p = -np.logaddexp(0.0, -logits)
    log_not_p = -np.logaddexp(0.0, logits)
    loss = -(pos_weight[None, :] * y * log_p + (1 - y) * log_not_p)
    return float(loss.mean())


def epoch_line(record: dict[str, Any], epochs: int, history: Sequence[dict[str, Any]], best: dict[str, Any]) -> str:
    """One log line of a finished epoch: loss, validation macro-F1, seconds, best so far, time left.

    >>> rec = {"epoch": 2, "train_loss": 0.41, "val_macro_f1": 0.5, "seconds": 30.0}
    >>> epoch_line(rec, 10, [{"seconds": 34.0}, rec], {"score": 0.5, "epoch": 2})
    'epoch 2/10: train loss 0.4100, validation macro-F1 0.500, 30 s, best 0.500 (epoch 2), at most 4 min left'
    """
    k = int(record["epoch"])
    parts = [f"epoch {k}/{epochs}: train loss {record['train_loss']:.4f}"]
    f1 = record.get("val_macro_f1")
    if "val_loss" in record or f1 is not None:
        parts.append(f"validation macro-F1 {f1:.3f}" if f1 is not None else f"validation loss {record['val_loss']:.4f}")
    parts.append(f"{record['seconds']:.0f} s")
    score = best.get("score")
    if isinstance(score, float) and math.isfinite(score) and best.get("epoch"):
        parts.append(f"best {score:.3f} (epoch {best['epoch']})")
    seconds = [float(h["seconds"]) for h in history if "seconds" in h]
    left = (epochs - k) * (sum(seconds) / len(seconds)) if seconds else 0.0
    if k < epochs:
        parts.append(f"at most {left / 60:.0f} min left" if left >= 90 else f"at most {left:.0f} s left")
    return ", ".join(parts)


def _validation_split(
    n: int, groups: Sequence[Any] | None, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): whole documents go to validation until ``fraction`` is reached."""
    idx = np.arange(n)
    if fraction <= 0 or n < 4:
        return idx, idx[:0]
    rng = np.random.default_rng(seed)
    if groups is not None:
        g = np.asarray([str(x) for x in groups], dtype=object)
        docs = np.array(sorted(set(g.tolist())), dtype=object)
        if len(docs) >= 2:
            docs = docs[rng.permutation(len(docs))]
            val_docs: list[Any] = []
            count = 0
            for d in docs[:-1]:  # at least one document stays for training
                if count >= fraction * n:
                    break
                val_docs.append(d)
                count += int((g == d).sum())
            is_val = np.isin(g, val_docs)
            return idx[~is_val], idx[is_val]
        logger.warning("all segments come from one document: the validation split cannot be grouped by document")
    else:
        logger.warning("no documents given: the validation split is drawn by segment, not grouped by document")
    perm = rng.permutation(n)
    k = max(1, int(round(fraction * n)))
    return np.sort(perm[k:]), np.sort(perm[:k])


class TransformerCoder(BaseCoder):
    """Multi-label coder over a codebook's codes with a Hugging Face encoder.

    Parameters
    ----------
    codebook : Codebook, optional
        The codes to learn, in order; default the MPSOC codebook.
    model_name_or_path : str
        The base model: a local folder, or a hub name found in the local Hugging Face cache.
    strategy : {"finetune", "frozen"}
        Fine-tune the encoder with a sigmoid head, or train logistic regressions on the pooled
        embeddings of the frozen encoder.
    max_length : int
        Tokens per window, special tokens included (capped by what the model supports).
    stride : int
        Tokens shared by consecutive windows of a longer segment.
    window_combine : {"max", "mean"}
        How the logits of a segment's windows become the segment's logits (``finetune``).
    pooling : {"mean", "cls"}
        The embedding of a window for ``frozen``: the mean of its token vectors, or [CLS].
    text_prefix : str
        Put before every text, in training and prediction (e5 models expect ``"passage: "``).
    learning_rate, weight_decay, warmup_ratio : float
        AdamW settings and the share of steps with linear warm-up (then linear decay).
    epochs : int
        Most epochs of fine-tuning.
    batch_size : int
        Segments per forward pass in training (per GPU).
    gradient_accumulation_steps : int
        Forward passes per optimiser step (effective batch = ``batch_size`` x this x GPUs).
    eval_batch_size : int
        Windows per forward pass in prediction.
    patience : int
        Epochs without a better validation score before training stops (0: never stop early).
    early_stopping_metric : {"macro_f1", "loss"}
        Validation macro-F1 at tuned thresholds (ties broken by loss), or validation loss.
    validation_fraction : float
        Share of segments, as whole documents, held out to stop early and tune thresholds.
    pos_weight_cap : float
        Upper bound of a code's positive weight ``negatives / positives`` (0: no weighting).
    max_grad_norm : float
        Gradient clipping (0: none).
    freeze_embeddings : bool
        Keep the word-embedding matrix fixed (about halves a CPU step of a 119k-vocabulary model).
    group_by_length : bool
        Shuffle, then sort by length within pools of 50 batches: less padding in training.
    C : float
        Inverse regularisation of the ``frozen`` logistic regressions.
    threshold_min_positives : int
        Validation positives a code needs for a threshold of its own.
    threshold_folds : int
        Grouped folds that give ``frozen`` its out-of-fold probabilities.
    review_band : float
        A prediction is flagged for review when a probability is this close to its threshold.
    device : str
        ``auto`` (this process's GPU if any, else the CPU), ``cpu``, ``cuda``, ``cuda:N``, ``mps``.
    precision : {"auto", "fp32", "bf16", "fp16"}
        Mixed precision on GPU; ``auto`` is bf16 where supported, else fp16; always fp32 on CPU.
    quantize : bool
        Dynamic int8 quantisation of the linear layers for CPU prediction.
    num_threads : int, optional
        CPU threads; default the CPUs granted to this process (Slurm, affinity).
    trust_remote_code : bool
        Allow a model's own Python code (NorBERT 3/4). Off unless asked.
    local_files_only : bool
        Never download (the default). ``HF_HUB_OFFLINE=1`` forbids downloads regardless.
    checkpoint_dir : str, optional
        Write a checkpoint after each epoch under this folder (one subfolder per data and settings).
    resume : bool
        Continue from the checkpoint in ``checkpoint_dir`` when there is one.
    seed : int
        Seed of the head's initialisation, dropout, the batch order and the validation split.
    """

    backend = "transformer"

    def __init__(
        self,
        codebook: Codebook | None = None,
        *,
        model_name_or_path: str = DEFAULT_MODEL,
        strategy: Literal["finetune", "frozen"] = "finetune",
        max_length: int = 256,
        stride: int = 64,
        window_combine: Literal["max", "mean"] = "max",
        pooling: Literal["mean", "cls"] = "mean",
        text_prefix: str = "",
        learning_rate: float = 2e-5,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.06,
        epochs: int = 10,
        batch_size: int = 8,
        gradient_accumulation_steps: int = 2,
        eval_batch_size: int = 32,
        patience: int = 3,
        early_stopping_metric: Literal["macro_f1", "loss"] = "macro_f1",
        validation_fraction: float = 0.2,
        pos_weight_cap: float = 10.0,
        max_grad_norm: float = 1.0,
        freeze_embeddings: bool = False,
        group_by_length: bool = True,
        C: float = 1.0,
        threshold_min_positives: int = 10,
        threshold_folds: int = 4,
        review_band: float = 0.1,
        device: str = "auto",
        precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto",
        quantize: bool = False,
        num_threads: int | None = None,
        trust_remote_code: bool = False,
        local_files_only: bool = True,
        checkpoint_dir: str | None = None,
        resume: bool = False,
        seed: int = 0,
    ) -> None:
        self.codebook = codebook
        self.model_name_or_path = model_name_or_path
        self.strategy = strategy
        self.max_length = max_length
        self.stride = stride
        self.window_combine = window_combine
        self.pooling = pooling
        self.text_prefix = text_prefix
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.epochs = epochs
        self.batch_size = batch_size
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.eval_batch_size = eval_batch_size
        self.patience = patience
        self.early_stopping_metric = early_stopping_metric
        self.validation_fraction = validation_fraction
        self.pos_weight_cap = pos_weight_cap
        self.max_grad_norm = max_grad_norm
        self.freeze_embeddings = freeze_embeddings
        self.group_by_length = group_by_length
        self.C = C
        self.threshold_min_positives = threshold_min_positives
        self.threshold_folds = threshold_folds
        self.review_band = review_band
        self.device = device
        self.precision = precision
        self.quantize = quantize
        self.num_threads = num_threads
        self.trust_remote_code = trust_remote_code
        self.local_files_only = local_files_only
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.seed = seed

    # checks -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        choices = {
            "strategy": ("finetune", "frozen"),
            "window_combine": ("max", "mean"),
            "pooling": ("mean", "cls"),
            "early_stopping_metric": ("macro_f1", "loss"),
            "precision": ("auto", "fp32", "bf16", "fp16"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise InputError(f"{name} must be one of {', '.join(allowed)}; got {getattr(self, name)!r}")
        for name in ("epochs", "batch_size", "gradient_accumulation_steps", "eval_batch_size", "max_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be a whole number of at least 1; got {value!r}")
        if not 0 <= self.validation_fraction < 1:
            raise InputError(f"validation_fraction must be in [0, 1); got {self.validation_fraction!r}")

    # loading the Hugging Face parts ----------------------------------------------------------
    def _load_parts(self, folder: Path, *, head: bool, codebook: Codebook, saved: bool) -> tuple[Any, Any]:
        """The tokenizer and the model (with a classification head or the bare encoder)."""
        require_torch()
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        check_remote_code(folder, self.trust_remote_code)
        common: dict[str, Any] = {"local_files_only": True, "trust_remote_code": bool(self.trust_remote_code)}
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder), **common)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(
                f"{folder}: cannot load the tokenizer ({exc}); the folder needs the tokenizer files "
                "(tokenizer.json or vocab.txt, tokenizer_config.json) next to config.json"
            ) from exc
        weights: dict[str, Any] = {"use_safetensors": True} if saved else {}
        if not saved and not any(folder.glob("*.safetensors")):
            logger.warning(
                "%s has no *.safetensors weights; loading the PyTorch weights with torch.load(weights_only=True)",
                folder,
            )
        try:
            if head:
                codes = list(codebook.codes)
                extra: dict[str, Any] = {}
                if not saved:
                    extra = {
                        "num_labels": len(codes),
                        "problem_type": "multi_label_classification",
                        "id2label": dict(enumerate(codes)),
                        "label2id": {c: i for i, c in enumerate(codes)},
                        "ignore_mismatched_sizes": True,
                    }
                model = AutoModelForSequenceClassification.from_pretrained(str(folder), **common, **weights, **extra)
            else:
                model = AutoModel.from_pretrained(str(folder), **common, **weights)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise ModelError(f"{folder}: cannot load the model weights ({exc})") from exc
        if tokenizer.pad_token_id is None:
            if tokenizer.eos_token is not None:
                tokenizer.pad_token = tokenizer.eos_token
            else:
                raise ModelError(f"{folder}: the tokenizer has no padding token")
        return tokenizer, model

    def _max_length(self, tokenizer: Any, model: Any) -> int:
        limit = self.max_length
        tml = getattr(tokenizer, "model_max_length", None)
        if isinstance(tml, int) and 0 < tml < 1_000_000:
            limit = min(limit, tml)
        mpe = getattr(model.config, "max_position_embeddings", None)
        if isinstance(mpe, int) and mpe > 0:
            limit = min(limit, mpe)
        return int(limit)

    # fitting ------------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], y: Any, groups: Sequence[Any] | None = None) -> TransformerCoder:
        """Learn from texts and their code sets (or a multi-hot array in codebook order).

        ``groups`` (the document of each segment) keeps the validation split, and for
        ``frozen`` the inner folds, from splitting a document.
        """
        self._check_params()
        texts = [self.text_prefix + t for t in check_texts(texts)]
        codebook = self.codebook or Codebook.default()
        y_arr = as_code_sets(y, codebook)
        if len(texts) != len(y_arr):
            raise InputError(f"got {len(texts)} texts but {len(y_arr)} code sets")
        if len(texts) < 2:
            raise InputError("training needs at least 2 segments")
        if groups is not None:
            groups = [str(g) for g in groups]
            if len(groups) != len(texts):
                raise InputError(f"got {len(texts)} texts but {len(groups)} document ids")
        torch = require_torch()
        source = resolve_model(self.model_name_or_path, local_files_only=self.local_files_only)
        self._remote_code = check_remote_code(source, self.trust_remote_code)
        self._source = source
        self._infer = None
        torch.manual_seed(self.seed)
        if dist_info()[2] > 1 and not torch.distributed.is_initialized():
            # launched by `accelerate launch` / `torchrun`: one process per GPU (or CPU processes with gloo)
            device = pick_device(self.device)
            if device.type == "cuda":
                torch.cuda.set_device(device)
            torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        with torch_threads(self.num_threads):
            if self.strategy == "finetune":
                self._fit_finetune(source, texts, y_arr, groups, codebook)
            else:
                self._fit_frozen(source, texts, y_arr, groups, codebook)
        self.codebook_ = codebook
        self._remember_y_form(y)
        self.n_train_ = len(texts)
        self.positives_ = y_arr.sum(axis=0).astype(int)
        return self

    # -- frozen ---------------------------------------------------------------------------
    def _fit_frozen(
        self, source: Path, texts: list[str], y: np.ndarray, groups: list[str] | None, codebook: Codebook
    ) -> None:
        from sklearn.model_selection import GroupKFold, KFold

        tokenizer, encoder = self._load_parts(source, head=False, codebook=codebook, saved=False)
        self.device_ = pick_device(self.device)
        encoder.to(self.device_).eval()
        self.tokenizer_, self.model_ = tokenizer, encoder
        self.max_length_ = self._max_length(tokenizer, encoder)
        t0 = time.perf_counter()
        x = self._embed(texts, model=encoder)  # never the int8 copy: training features stay exact
        logger.info("embedded %d segments in %.1f s", len(texts), time.perf_counter() - t0)
        mean = x.mean(axis=0)
        scale = x.std(axis=0)
        scale[scale < 1e-8] = 1.0
        coef, intercept = self._fit_heads((x - mean) / scale, y)
        n = len(texts)
        oof = None
        if groups is not None and len(set(groups)) >= 2:
            k = min(self.threshold_folds, len(set(groups)))
            splits = list(GroupKFold(n_splits=k, shuffle=True, random_state=self.seed).split(x, groups=groups))
        elif n >= 4:
            k = min(self.threshold_folds, n)
            splits = list(KFold(n_splits=k, shuffle=True, random_state=self.seed).split(x))
        else:
            splits = []
        if splits:
            oof = np.zeros(y.shape)
            for tr, te in splits:
                m, s = x[tr].mean(axis=0), x[tr].std(axis=0)
                s[s < 1e-8] = 1.0
                c, b = self._fit_heads((x[tr] - m) / s, y[tr])
                oof[te] = _sigmoid(((x[te] - m) / s) @ c.T + b)
        self.thresholds_ = _tune(y, oof, self.threshold_min_positives) if oof is not None else np.full(y.shape[1], 0.5)
        self.head_coef_, self.head_intercept_ = coef, intercept
        self.feature_mean_, self.feature_scale_ = mean, scale
        self.history_: list[dict[str, Any]] = []
        self.best_epoch_: int | None = None
        self.n_validation_ = int(len(oof)) if oof is not None else 0
        self.pos_weight_: np.ndarray | None = None

    def _fit_heads(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        coef = np.zeros((y.shape[1], x.shape[1]))
        intercept = np.zeros(y.shape[1])
        for j in range(y.shape[1]):
            pos = int(y[:, j].sum())
            if pos == 0 or pos == len(y):
                intercept[j] = -20.0 if pos == 0 else 20.0
                continue
            clf = LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000, random_state=self.seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(x, y[:, j])
            coef[j] = clf.coef_[0]
            intercept[j] = clf.intercept_[0]
        return coef, intercept

    def _embed(self, texts: Sequence[str], model: Any = None) -> np.ndarray:
        """Segment vectors of the frozen encoder: window vectors averaged per segment.

        With an :class:`~mpsoc_nlp.models.embedding_cache.EmbeddingCache` attached (one training
        run: its cross-validation folds and the final fit share one), a text already embedded with
        the same encoder settings is not run through the encoder again.
        """
        cache = getattr(self, "embedding_cache", None)
        if cache is not None and not self.quantize:
            key = self._encoder_key()
            return cache.embed(key, texts, lambda todo: self._embed_now(todo, model))
        return self._embed_now(texts, model)

    def _encoder_key(self) -> str:
        settings = (str(getattr(self, "_source", self.model_name_or_path)), self.max_length_, self.stride, self.pooling)
        return json.dumps(settings)

    def _embed_now(self, texts: Sequence[str], model: Any = None) -> np.ndarray:
        windows, owner = make_windows(self.tokenizer_, texts, max_length=self.max_length_, stride=self.stride)
        vec = self._run_windows(model if model is not None else self._inference_model(), windows, kind="embed")
        sums = np.zeros((len(texts), vec.shape[1]))
        np.add.at(sums, owner, vec)
        return sums / np.bincount(owner, minlength=len(texts))[:, None]

    # -- fine-tuning ------------------------------------------------------------------------
    def _run_key(self, texts: list[str], y: np.ndarray, groups: list[str] | None) -> str:
        h = hashlib.sha256()
        params = {k: v for k, v in self.get_params().items() if k not in ("codebook", *_RUNTIME_OPTIONS)}
        h.update(json.dumps(params, sort_keys=True, default=str).encode())
        for t in texts:
            h.update(t.encode("utf-8"))
            h.update(b"\x00")
        h.update(np.ascontiguousarray(y, dtype=np.uint8).tobytes())
        h.update(json.dumps(groups).encode())
        return h.hexdigest()[:16]

    def _batches(self, lengths: np.ndarray, epoch: int) -> list[np.ndarray]:
        """Segment batches of one epoch: a seeded shuffle, grouped by length when asked."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(lengths))
        bs = self.batch_size
        if self.group_by_length:
            pool = bs * 50
            pools = [order[i : i + pool] for i in range(0, len(order), pool)]
            order = np.concatenate([p[np.argsort(-lengths[p], kind="stable")] for p in pools])
            batches = [order[i : i + bs] for i in range(0, len(order), bs)]
            return [batches[i] for i in rng.permutation(len(batches))]
        return [order[i : i + bs] for i in range(0, len(order), bs)]

    def _fit_finetune(
        self, source: Path, texts: list[str], y: np.ndarray, groups: list[str] | None, codebook: Codebook
    ) -> None:
        import torch
        import torch.nn.functional as F

        rank, _, world = dist_info()
        distributed = world > 1
        device = pick_device(self.device)
        precision = pick_precision(self.precision, device)
        tokenizer, model = self._load_parts(source, head=True, codebook=codebook, saved=False)
        model.to(device)
        if self.freeze_embeddings:
            emb = model.get_input_embeddings()
            if emb is not None:
                emb.weight.requires_grad_(False)
        self.tokenizer_, self.model_, self.device_ = tokenizer, model, device
        self.max_length_ = self._max_length(tokenizer, model)

        windows, owner = make_windows(tokenizer, texts, max_length=self.max_length_, stride=self.stride)
        seg_windows: list[list[list[int]]] = [[] for _ in texts]
        for w, o in zip(windows, owner, strict=True):
            seg_windows[o].append(w)
        n_windows = np.bincount(owner, minlength=len(texts))
        lengths = np.asarray([sum(len(w) for w in ws) for ws in seg_windows])
        if (n_windows > 1).any():
            logger.info("%d of %d segments are longer than %d tokens: split into overlapping windows",
                        int((n_windows > 1).sum()), len(texts), self.max_length_)

        train_idx, val_idx = _validation_split(len(texts), groups, self.validation_fraction, self.seed)
        if len(val_idx) == 0:
            logger.warning("no validation split: training %d epochs without early stopping; thresholds stay 0.5",
                           self.epochs)
        y_f = y.astype(np.float32)
        pos = y[train_idx].sum(axis=0).astype(np.float64)
        neg = len(train_idx) - pos
        if self.pos_weight_cap and self.pos_weight_cap > 0:
            pw = np.where((pos > 0) & (neg > 0), np.minimum(neg / np.maximum(pos, 1), self.pos_weight_cap), 1.0)
        else:
            pw = np.ones(y.shape[1])
        pos_weight = torch.tensor(pw, dtype=torch.float32, device=device)

        # optimiser: no weight decay on biases and normalisation weights
        decay: list[Any] = []
        no_decay: list[Any] = []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
        groups_ = [{"params": decay, "weight_decay": self.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        try:  # the fused kernel is several times faster on CPU and GPU (Trainer's default too)
            optimizer = torch.optim.AdamW(groups_, lr=self.learning_rate, fused=device.type in ("cpu", "cuda"))
        except (RuntimeError, TypeError):  # pragma: no cover - older torch or another device
            optimizer = torch.optim.AdamW(groups_, lr=self.learning_rate)
        batches_per_rank = math.ceil(math.ceil(len(train_idx) / self.batch_size) / world)
        steps_per_epoch = math.ceil(batches_per_rank / self.gradient_accumulation_steps)
        total = max(1, steps_per_epoch * self.epochs)
        warmup = int(math.ceil(self.warmup_ratio * total))
        from transformers import get_linear_schedule_with_warmup

        scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total)
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16" and device.type == "cuda")
        train_model: Any = model
        if distributed:
            ddp_ids = [device.index] if device.type == "cuda" else None
            train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ddp_ids)

        # state of early stopping, restored from a checkpoint when resuming
        history: list[dict[str, Any]] = []
        best: dict[str, Any] = {"score": -math.inf, "loss": math.inf, "epoch": 0, "proba": None}
        best_state: dict[str, Any] | None = None
        bad_epochs = 0
        start_epoch = 1
        ckpt = None
        if self.checkpoint_dir:
            ckpt = Path(self.checkpoint_dir) / self._run_key(texts, y, groups)
            if self.resume:
                done = load_state(ckpt, "best")
                finished = (ckpt / "finished").is_file()
                last = None if finished else load_state(ckpt, "last")
                if finished and done is not None:
                    logger.info("resume: training in %s had finished; using its best epoch", ckpt)
                    model.load_state_dict(done["model"])
                    self._finish(done["history"], done["best"], y[val_idx] if len(val_idx) else None, len(val_idx), pw)
                    return
                if last is not None:
                    model.load_state_dict(last["model"])
                    optimizer.load_state_dict(last["optimizer"])
                    scheduler.load_state_dict(last["scheduler"])
                    if last.get("scaler"):
                        scaler.load_state_dict(last["scaler"])
                    torch.set_rng_state(last["rng"])
                    if device.type == "cuda" and last.get("cuda_rng") is not None:
                        torch.cuda.set_rng_state(last["cuda_rng"], device)
                    history, best, bad_epochs = last["history"], last["best"], int(last["bad_epochs"])
                    start_epoch = int(last["epoch"]) + 1
                    if done is not None:
                        best_state = done["model"]
                    logger.info("resume: continuing after epoch %d from %s", start_epoch - 1, ckpt)
            elif ckpt.exists() and rank == 0:
                shutil.rmtree(ckpt, ignore_errors=True)

        all_batches_len = lengths[train_idx]
        for epoch in range(start_epoch, self.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            batches = self._batches(all_batches_len, epoch)
            if distributed:
                while len(batches) % world:
                    batches.append(batches[len(batches) % max(len(batches), 1)])
                batches = batches[rank::world]
            losses = []
            optimizer.zero_grad(set_to_none=True)
            for b, local in enumerate(batches):
                seg = train_idx[local]
                counts = [len(seg_windows[s]) for s in seg]
                flat = [w for s in seg for w in seg_windows[s]]
                inputs = self._pad(flat, device)
                labels = torch.from_numpy(y_f[seg]).to(device)
                last_micro = (b + 1) % self.gradient_accumulation_steps == 0 or b + 1 == len(batches)
                sync = train_model.no_sync() if distributed and not last_micro else _nullcontext()
                with sync:
                    with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32,
                                        enabled=amp_dtype is not None):
                        logits = train_model(**inputs).logits
                    logits = logits.float()
                    if len(flat) != len(seg):
                        parts = logits.split(counts)
                        logits = torch.stack([
                            p.max(dim=0).values if self.window_combine == "max" else p.mean(dim=0) for p in parts
                        ])
                    loss = F.binary_cross_entropy_with_logits(logits, labels, pos_weight=pos_weight)
                    scaler.scale(loss / self.gradient_accumulation_steps).backward()
                losses.append(float(loss.detach()))
                if last_micro:
                    if self.max_grad_norm and self.max_grad_norm > 0:
                        scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(model.parameters(), self.max_grad_norm)
                    scaler.step(optimizer)
                    scaler.update()
                    scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
            train_loss = float(np.mean(losses)) if losses else float("nan")
            if distributed:
                t = torch.tensor([train_loss], device=device)
                torch.distributed.all_reduce(t)
                train_loss = float(t.item()) / world
            record: dict[str, Any] = {"epoch": epoch, "train_loss": round(train_loss, 6)}
            improved = True
            if len(val_idx):
                model.eval()
                self._infer = None
                val_windows = [w for s in val_idx for w in seg_windows[s]]
                val_owner = np.repeat(np.arange(len(val_idx)), n_windows[val_idx])
                raw = self._run_windows(model, val_windows, kind="logits", device=device, precision=precision)
                val_logits = combine_windows(raw, val_owner, len(val_idx), self.window_combine)
                proba = _sigmoid(val_logits)
                yv = y[val_idx]
                val_loss = _bce(val_logits, yv, pw)
                th = _tune(yv, proba, self.threshold_min_positives)
                f1 = _macro_f1(yv, proba >= th)
                record.update(val_loss=round(val_loss, 6), val_macro_f1=round(f1, 6) if f1 == f1 else None)
                if self.early_stopping_metric == "loss":
                    improved = val_loss < best["loss"] - 1e-9
                else:
                    score = f1 if f1 == f1 else -val_loss
                    improved = score > best["score"] + 1e-9 or (
                        abs(score - best["score"]) <= 1e-9 and val_loss < best["loss"]
                    )
                    if improved:
                        best["score"] = score
                if distributed:  # rank 0 decides, so that every process stops at the same epoch
                    flag = torch.tensor([1 if improved else 0], device=device)
                    torch.distributed.broadcast(flag, src=0)
                    improved = bool(flag.item())
                if improved:
                    best.update(loss=val_loss, epoch=epoch, proba=proba)
                    best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                    bad_epochs = 0
                else:
                    bad_epochs += 1
            else:
                best.update(epoch=epoch)
                best_state = None
            record["seconds"] = round(time.perf_counter() - t0, 2)
            history.append(record)
            if rank == 0:
                _progress_log.info("%s", epoch_line(record, self.epochs, history, best))
            stop = len(val_idx) > 0 and self.patience > 0 and bad_epochs >= self.patience
            if ckpt is not None and rank == 0:
                self._checkpoint(ckpt, model, optimizer, scheduler, scaler, device, epoch, history, best, bad_epochs,
                                 best_state if improved else None)
            self._epoch_end(epoch)
            if stop:
                logger.info("early stopping: no better validation score for %d epochs; keeping epoch %d",
                            self.patience, best["epoch"])
                break
        if best_state is not None:
            model.load_state_dict(best_state)
        if ckpt is not None and rank == 0:
            if best_state is None:
                save_state(ckpt, "best", {"model": _cpu_state(model), "history": history, "best": best})
            (ckpt / "finished").write_text("done\n", encoding="utf-8")
            for name in ("last.safetensors", "last.json"):
                (ckpt / name).unlink(missing_ok=True)
        self._finish(history, best, y[val_idx] if len(val_idx) else None, len(val_idx), pw)

    def _epoch_end(self, epoch: int) -> None:
        """Called after each epoch's checkpoint (a hook for tests that simulate a killed job)."""

    def _checkpoint(self, ckpt: Path, model: Any, optimizer: Any, scheduler: Any, scaler: Any, device: Any,
                    epoch: int, history: list[dict[str, Any]], best: dict[str, Any], bad_epochs: int,
                    new_best: dict[str, Any] | None) -> None:
        import torch

        if new_best is not None:
            save_state(ckpt, "best", {"model": new_best, "history": list(history), "best": best})
        save_state(ckpt, "last", {
            "model": _cpu_state(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "epoch": epoch,
            "history": history,
            "best": best,
            "bad_epochs": bad_epochs,
        })

    def _finish(self, history: list[dict[str, Any]], best: dict[str, Any], y_val: np.ndarray | None,
                n_val: int, pw: np.ndarray) -> None:
        self.model_.eval()
        proba = best.get("proba")
        if y_val is not None and proba is not None:
            self.thresholds_ = _tune(y_val, np.asarray(proba), self.threshold_min_positives)
        else:
            self.thresholds_ = np.full(len(pw), 0.5)
        self.history_ = list(history)
        self.best_epoch_ = int(best.get("epoch") or 0) or None
        self.n_validation_ = int(n_val)
        self.pos_weight_ = np.asarray(pw, dtype=np.float64)
        self._infer = None

    # running the network --------------------------------------------------------------------
    def _pad(self, windows: Sequence[Sequence[int]], device: Any) -> dict[str, Any]:
        import torch

        longest = max(len(w) for w in windows)
        ids = np.full((len(windows), longest), self.tokenizer_.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(windows), longest), dtype=np.int64)
        for i, w in enumerate(windows):
            ids[i, : len(w)] = w
            mask[i, : len(w)] = 1
        return {"input_ids": torch.from_numpy(ids).to(device), "attention_mask": torch.from_numpy(mask).to(device)}

    def _run_windows(self, model: Any, windows: Sequence[Sequence[int]], *, kind: str,
                     device: Any = None, precision: str | None = None) -> np.ndarray:
        """Logits (or pooled vectors) of windows: longest first, dynamic padding, inference mode."""
        import torch

        device = device if device is not None else self.device_
        prec = str(precision or getattr(self, "_infer_precision", "fp32"))
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(prec) if device.type == "cuda" else None
        lengths = np.fromiter((len(w) for w in windows), dtype=np.int64, count=len(windows))
        order = np.argsort(-lengths, kind="stable")
        out: np.ndarray | None = None
        bs = self.eval_batch_size
        with torch.inference_mode():
            for start in range(0, len(order), bs):
                idx = order[start : start + bs]
                inputs = self._pad([windows[i] for i in idx], device)
                with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32,
                                    enabled=amp_dtype is not None):
                    res = model(**inputs)
                if kind == "logits":
                    val = res.logits.float()
                else:
                    hidden = res.last_hidden_state.float()
                    if self.pooling == "cls":
                        val = hidden[:, 0]
                    else:
                        m = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                        val = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
                arr = val.cpu().numpy().astype(np.float64)
                if out is None:
                    out = np.empty((len(windows), arr.shape[1]))
                out[idx] = arr
        if out is None:
            raise ModelError("no windows to run")
        return out

    def _inference_model(self) -> Any:
        """The model used for prediction: int8 on CPU with ``quantize``, bf16/fp16 on GPU."""
        if getattr(self, "_infer", None) is not None:
            return self._infer
        import torch

        model = self.model_
        model.eval()
        device = self.device_
        precision = pick_precision(self.precision, device)
        self._infer_precision = precision
        if device.type == "cpu" and self.quantize:
            from torch.ao.quantization import quantize_dynamic

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = quantize_dynamic(copy.deepcopy(model).to("cpu"), {torch.nn.Linear}, dtype=torch.qint8)
        elif self.quantize:
            logger.warning("quantize applies to CPU prediction only; the %s uses %s", device.type, precision)
        if device.type == "cuda" and precision in {"bf16", "fp16"}:
            model = copy.deepcopy(model).to(torch.bfloat16 if precision == "bf16" else torch.float16)
        self._infer = model
        return model

    # prediction ---------------------------------------------------------------------------
    def n_windows(self, texts: Sequence[str]) -> np.ndarray:
        """How many windows of ``max_length`` tokens each text is cut into (1 for most)."""
        self._check_fitted()
        texts = [self.text_prefix + str(t) for t in texts]
        _, owner = make_windows(self.tokenizer_, texts, max_length=self.max_length_, stride=self.stride)
        return np.bincount(owner, minlength=len(texts))

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Logits ``(n_segments, n_codes)`` in codebook order (windows combined)."""
        self._check_fitted()
        texts = [self.text_prefix + t for t in check_texts(texts)]
        if not texts:
            return np.empty((0, len(self.codebook_)))
        with torch_threads(self.num_threads):
            if self.strategy == "frozen":
                x = self._embed(texts)
                return ((x - self.feature_mean_) / self.feature_scale_) @ self.head_coef_.T + self.head_intercept_
            windows, owner = make_windows(self.tokenizer_, texts, max_length=self.max_length_, stride=self.stride)
            raw = self._run_windows(self._inference_model(), windows, kind="logits")
        return combine_windows(raw, owner, len(texts), self.window_combine)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities ``(n_segments, n_codes)`` in codebook order."""
        return _sigmoid(self.decision_function(texts))

    # persistence --------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, force: bool = False, card: str | None = None) -> Path:
        """Write the model folder; with several processes (``accelerate launch``) only the first writes."""
        rank, _, world = dist_info()
        if world > 1:
            import torch

            if torch.distributed.is_available() and torch.distributed.is_initialized():
                if rank == 0:
                    super().save(path, force=force, card=card)
                torch.distributed.barrier()
                return Path(path)
        return super().save(path, force=force, card=card)

    def _params_json(self) -> dict[str, Any]:
        params = self.get_params()
        for key in ("codebook", *_NOT_SAVED):
            params.pop(key, None)
        return params

    def _model_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "params": self._params_json(),
            "base_model": str(self.model_name_or_path),
            "strategy": self.strategy,
            "max_length_used": int(self.max_length_),
            "window_combine": self.window_combine if self.strategy == "finetune" else "mean of window embeddings",
            "n_train": int(self.n_train_),
            "n_validation": int(self.n_validation_),
            "positives": {c: int(p) for c, p in zip(self.codebook_.codes, self.positives_, strict=True)},
            "history": self.history_,
            "best_epoch": self.best_epoch_,
            "weights": WEIGHTS,
            "remote_code": bool(getattr(self, "_remote_code", False)),
            "keeps_vocabulary": False,
        }
        if self.pos_weight_ is not None:
            weights = zip(self.codebook_.codes, self.pos_weight_, strict=True)
            out["pos_weight"] = {c: round(float(w), 4) for c, w in weights}
        if self.strategy == "frozen":
            out["head"] = HEAD
        return out

    def _write_weights(self, folder: Path) -> None:
        model = self.model_
        model.save_pretrained(str(folder))
        self.tokenizer_.save_pretrained(str(folder))
        localize_auto_map(folder, getattr(self, "_source", None))
        if self.strategy == "frozen":
            from safetensors.numpy import save_file

            save_file(
                {
                    "coef": np.ascontiguousarray(self.head_coef_, dtype=np.float64),
                    "intercept": np.ascontiguousarray(self.head_intercept_, dtype=np.float64),
                    "feature_mean": np.ascontiguousarray(self.feature_mean_, dtype=np.float64),
                    "feature_scale": np.ascontiguousarray(self.feature_scale_, dtype=np.float64),
                },
                str(folder / HEAD),
            )
        bad = pickle_files(folder)
        if bad:
            raise ModelError(f"refusing to save pickle files {bad} in the model folder")

    @classmethod
    def _load(cls, folder: Path, meta: dict[str, Any], **options: Any) -> TransformerCoder:
        codebook = Codebook.from_dict(meta["codebook"], source=f"{folder}/model.json")
        unknown = sorted(set(options) - set(_LOAD_OPTIONS))
        if unknown:
            raise ModelError(f"unknown load option(s) {unknown}; known are {sorted(_LOAD_OPTIONS)}")
        params = dict(meta.get("params", {}))
        params.update({k: v for k, v in options.items() if v is not None})
        if "trust_remote_code" not in options and os.environ.get("MPSOC_TRUST_REMOTE_CODE", "").lower() in {
            "1", "true", "yes", "on"
        }:
            params["trust_remote_code"] = True
        try:
            model = cls(codebook, **params)
        except TypeError as exc:
            raise ModelError(f"{folder}/model.json: parameters do not fit this version: {exc}") from exc
        bad = pickle_files(folder)
        if bad:
            raise ModelError(f"{folder}: holds pickle files {bad}; a model folder of mpsoc-nlp never does, refusing it")
        if not any(folder.glob("*.safetensors")):
            raise ModelError(f"{folder}: the weights (*.safetensors) are missing")
        require_torch()
        frozen = meta.get("strategy", params.get("strategy")) == "frozen"
        model._remote_code = check_remote_code(folder, model.trust_remote_code)
        model._source = folder
        model._infer = None
        with torch_threads(model.num_threads):
            tokenizer, net = model._load_parts(folder, head=not frozen, codebook=codebook, saved=True)
        model.device_ = pick_device(model.device)
        net.to(model.device_).eval()
        model.tokenizer_, model.model_ = tokenizer, net
        model.max_length_ = int(meta.get("max_length_used") or model._max_length(tokenizer, net))
        if frozen:
            from safetensors.numpy import load_file

            head_path = folder / meta.get("head", HEAD)
            if not head_path.is_file():
                raise ModelError(f"{folder}: the head weights {head_path.name} are missing")
            head = load_file(str(head_path))
            model.head_coef_, model.head_intercept_ = head["coef"], head["intercept"]
            model.feature_mean_, model.feature_scale_ = head["feature_mean"], head["feature_scale"]
        model.codebook_ = codebook
        model.thresholds_ = np.asarray(meta["thresholds"], dtype=np.float64)
        model.n_train_ = int(meta.get("n_train", 0))
        model.n_validation_ = int(meta.get("n_validation", 0))
        model.positives_ = np.asarray([meta.get("positives", {}).get(c, 0) for c in codebook.codes])
        model.history_ = list(meta.get("history") or [])
        model.best_epoch_ = meta.get("best_epoch")
        pw = meta.get("pos_weight")
        model.pos_weight_ = np.asarray([pw[c] for c in codebook.codes]) if pw else None
        model.metadata_ = {k: meta[k] for k in METADATA_KEYS if k in meta}
        return model


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _cpu_state(model: Any) -> dict[str, Any]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
