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
import os
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
    localize_auto_map,
    make_windows,
    pick_device,
    pick_precision,
    pickle_files,
    require_torch,
    resolve_model,
    torch_threads,
)
from .base import BaseCoder, as_code_sets, check_texts, check_whole_number

# the fine-tuning loop's helpers lived here; they stay importable from this module
from .finetune import (  # noqa: F401
    FineTuneLoop,
    _bce,
    _cpu_state,
    _macro_f1,
    _nullcontext,
    _sigmoid,
    _tune,
    _validation_split,
    epoch_batches,
    epoch_line,
)
from .folder import METADATA_KEYS
from .frozen import embed, fit_frozen

__all__ = ["TransformerCoder", "DEFAULT_MODEL"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "NbAiLab/nb-bert-base"
HEAD = "head.safetensors"
WEIGHTS = "model.safetensors"
_RUNTIME_OPTIONS = ("device", "precision", "quantize", "num_threads", "eval_batch_size", "checkpoint_dir", "resume")
# never stored in model.json: a folder must not grant itself the right to run its own code
_NOT_SAVED = (*_RUNTIME_OPTIONS, "trust_remote_code")
# parameters added after checkpoints were first written: left out of the checkpoint key at these values
_NEWER_DEFAULTS: dict[str, Any] = {"freeze_layers": 0, "layerwise_lr_decay": 1.0}
_LOAD_OPTIONS = (
    "device", "precision", "quantize", "num_threads", "eval_batch_size", "trust_remote_code", "review_band"
)


def _copy_linear_layers(model: Any) -> Any:
    """A copy of ``model`` that shares every tensor except the weights of its linear layers.

    Dynamic quantisation replaces only the linear layers; the embeddings (most of a multilingual
    model: 96M of e5-small's 118M parameters) and the normalisations need not be copied.
    """
    import torch

    linear = {id(p) for m in model.modules() if isinstance(m, torch.nn.Linear) for p in m.parameters()}
    memo = {id(t): t for t in [*model.parameters(), *model.buffers()] if id(t) not in linear}
    return copy.deepcopy(model, memo)


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
    freeze_layers : int
        Freeze all the embeddings and the lowest ``freeze_layers`` encoder layers (0: none); only the
        layers above and the head are trained, and the backward pass stops at the first trained layer.
    layerwise_lr_decay : float
        In (0, 1]. The head trains at ``learning_rate``, encoder layer ``i`` of ``n`` (0 at the bottom)
        at ``learning_rate * layerwise_lr_decay ** (n - i)`` and the embeddings at
        ``learning_rate * layerwise_lr_decay ** (n + 1)``; 1.0: one learning rate for all.
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
        freeze_layers: int = 0,
        layerwise_lr_decay: float = 1.0,
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
        self.freeze_layers = freeze_layers
        self.layerwise_lr_decay = layerwise_lr_decay
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
        check_whole_number("freeze_layers", self.freeze_layers, 0)
        decay = self.layerwise_lr_decay
        if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 < decay <= 1:
            raise InputError(f"layerwise_lr_decay must be a number in (0, 1]; got {decay!r}")
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
        from .pretrained import prepared_record

        self._base_record = prepared_record(source)  # a folder prepare-model wrote: its weights' name and sha256
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
        fit_frozen(self, source, texts, y, groups, codebook)

    def _embed(self, texts: Sequence[str], model: Any = None) -> np.ndarray:
        """Segment vectors of the frozen encoder: window vectors averaged per segment (see :func:`.frozen.embed`)."""
        return embed(self, texts, model)

    # -- fine-tuning ------------------------------------------------------------------------
    def _run_key(self, texts: list[str], y: np.ndarray, groups: list[str] | None) -> str:
        h = hashlib.sha256()
        params = {k: v for k, v in self.get_params().items() if k not in ("codebook", *_RUNTIME_OPTIONS)}
        for key, default in _NEWER_DEFAULTS.items():  # at their defaults, checkpoints of earlier versions still match
            if params.get(key) == default:
                params.pop(key)
        h.update(json.dumps(params, sort_keys=True, default=str).encode())
        for t in texts:
            h.update(t.encode("utf-8"))
            h.update(b"\x00")
        h.update(np.ascontiguousarray(y, dtype=np.uint8).tobytes())
        h.update(json.dumps(groups).encode())
        return h.hexdigest()[:16]

    def _split_validation(self, n: int, groups: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
        """Indices (train, validation) of fine-tuning (a hook: a benchmark may hold out a fixed dev set)."""
        return _validation_split(n, groups, self.validation_fraction, self.seed)

    def _batches(self, lengths: np.ndarray, epoch: int) -> list[np.ndarray]:
        """Segment batches of one epoch (a hook: benchmarks time an epoch from here to ``_epoch_end``)."""
        return epoch_batches(lengths, epoch, seed=self.seed, batch_size=self.batch_size,
                             group_by_length=self.group_by_length)

    def _fit_finetune(
        self, source: Path, texts: list[str], y: np.ndarray, groups: list[str] | None, codebook: Codebook
    ) -> None:
        FineTuneLoop(self, source, texts, y, groups, codebook).run()

    def _epoch_end(self, epoch: int) -> None:
        """Called after each epoch's checkpoint (a hook for tests that simulate a killed job)."""

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
                model = quantize_dynamic(_copy_linear_layers(model), {torch.nn.Linear}, dtype=torch.qint8,
                                         inplace=True)
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
        if getattr(self, "_base_record", None):
            out["base_model_prepared"] = self._base_record
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
        model._base_record = meta.get("base_model_prepared")
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
