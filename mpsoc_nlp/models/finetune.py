"""The fine-tuning loop of :class:`~mpsoc_nlp.models.transformer.TransformerCoder` (``finetune``).

:class:`FineTuneLoop` holds one run: the model, optimiser, scheduler and gradient scaler, the
segments cut into windows, the grouped validation split and the history of early stopping. Its
phases are methods: :meth:`~FineTuneLoop.run` (resume, then epoch by epoch),
:meth:`~FineTuneLoop.train_epoch`, :meth:`~FineTuneLoop.validate`,
:meth:`~FineTuneLoop.checkpoint` and :meth:`~FineTuneLoop.finish` (which sets the coder's fitted
attributes). The coder keeps the hooks ``_split_validation`` (the grouped validation split),
``_batches`` (the batch order of an epoch) and ``_epoch_end`` (called after each epoch's
checkpoint) so that tests and benchmarks can watch a run.
torch is imported only when a loop is built.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..codebook import Codebook
from ._hf import combine_windows, dist_info, load_state, make_windows, pick_device, pick_precision, save_state
from .layers import freeze_bottom, parameter_groups
from .thresholds import tune_thresholds

if TYPE_CHECKING:
    from .transformer import TransformerCoder

__all__ = ["FineTuneLoop", "epoch_batches", "epoch_line"]

logger = logging.getLogger("mpsoc_nlp.models.transformer")
# one line per epoch; the CLI shows this logger's INFO lines on stderr even without -v (Slurm logs, files)
_progress_log = logging.getLogger("mpsoc_nlp.progress")


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



class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _cpu_state(model: Any) -> dict[str, Any]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def epoch_batches(lengths: np.ndarray, epoch: int, *, seed: int, batch_size: int,
                  group_by_length: bool) -> list[np.ndarray]:
    """Segment batches of one epoch: a seeded shuffle, grouped by length when asked.

    Every segment once per epoch, in batches of ``batch_size`` (the last may be smaller):

    >>> batches = epoch_batches(np.array([5, 1, 9, 3, 7]), 1, seed=0, batch_size=2, group_by_length=True)
    >>> sorted(len(b) for b in batches), sorted(np.concatenate(batches).tolist())
    ([1, 2, 2], [0, 1, 2, 3, 4])
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    bs = batch_size
    if group_by_length:
        pool = bs * 50
        pools = [order[i : i + pool] for i in range(0, len(order), pool)]
        order = np.concatenate([p[np.argsort(-lengths[p], kind="stable")] for p in pools])
        batches = [order[i : i + bs] for i in range(0, len(order), bs)]
        return [batches[i] for i in rng.permutation(len(batches))]
    return [order[i : i + bs] for i in range(0, len(order), bs)]


class FineTuneLoop:
    """One fine-tuning run of a coder: set up on construction, trained by :meth:`run`.

    Parameters
    ----------
    coder : TransformerCoder
        The coder being fitted; its parameters drive the run and :meth:`finish` sets its fitted
        attributes (``tokenizer_``, ``model_`` and ``device_`` are set on construction).
    source : Path
        The base model's folder.
    texts : list of str
        The training texts (prefix already added).
    y : numpy.ndarray
        Multi-hot codes ``(n_segments, n_codes)``.
    groups : list of str, optional
        The document of each segment, for the grouped validation split.
    codebook : Codebook
        The codes, in order.
    """

    def __init__(
        self, coder: TransformerCoder, source: Path, texts: list[str], y: np.ndarray, groups: list[str] | None,
        codebook: Codebook,
    ) -> None:
        import torch

        self.coder = c = coder
        self.texts, self.y, self.groups = texts, y, groups
        self.rank, _, self.world = dist_info()
        self.distributed = self.world > 1
        self.device = device = pick_device(c.device)
        self.precision = pick_precision(c.precision, device)
        tokenizer, model = c._load_parts(source, head=True, codebook=codebook, saved=False)
        model.to(device)
        if c.freeze_embeddings:
            emb = model.get_input_embeddings()
            if emb is not None:
                emb.weight.requires_grad_(False)
        freeze_bottom(model, c.freeze_layers)
        c.tokenizer_, c.model_, c.device_ = tokenizer, model, device
        c.max_length_ = c._max_length(tokenizer, model)
        self.model = model

        windows, owner = make_windows(tokenizer, texts, max_length=c.max_length_, stride=c.stride)
        self.seg_windows: list[list[list[int]]] = [[] for _ in texts]
        for w, o in zip(windows, owner, strict=True):
            self.seg_windows[o].append(w)
        self.n_windows = n_windows = np.bincount(owner, minlength=len(texts))
        self.lengths = np.asarray([sum(len(w) for w in ws) for ws in self.seg_windows])
        if (n_windows > 1).any():
            logger.info("%d of %d segments are longer than %d tokens: split into overlapping windows",
                        int((n_windows > 1).sum()), len(texts), c.max_length_)

        self.train_idx, self.val_idx = train_idx, _ = c._split_validation(len(texts), groups)
        if len(self.val_idx) == 0:
            logger.warning("no validation split: training %d epochs without early stopping; thresholds stay 0.5",
                           c.epochs)
        self.y_f = y.astype(np.float32)
        pos = y[train_idx].sum(axis=0).astype(np.float64)
        neg = len(train_idx) - pos
        if c.pos_weight_cap and c.pos_weight_cap > 0:
            self.pw = np.where((pos > 0) & (neg > 0), np.minimum(neg / np.maximum(pos, 1), c.pos_weight_cap), 1.0)
        else:
            self.pw = np.ones(y.shape[1])
        self.pos_weight = torch.tensor(self.pw, dtype=torch.float32, device=device)

        # optimiser: no weight decay on biases and normalisation weights; learning rates by depth
        groups_ = parameter_groups(model, lr=c.learning_rate, weight_decay=c.weight_decay, decay=c.layerwise_lr_decay)
        try:  # the fused kernel is several times faster on CPU and GPU (Trainer's default too)
            self.optimizer = torch.optim.AdamW(groups_, lr=c.learning_rate, fused=device.type in ("cpu", "cuda"))
        except (RuntimeError, TypeError):  # pragma: no cover - older torch or another device
            self.optimizer = torch.optim.AdamW(groups_, lr=c.learning_rate)
        batches_per_rank = math.ceil(math.ceil(len(train_idx) / c.batch_size) / self.world)
        steps_per_epoch = math.ceil(batches_per_rank / c.gradient_accumulation_steps)
        total = max(1, steps_per_epoch * c.epochs)
        warmup = int(math.ceil(c.warmup_ratio * total))
        from transformers import get_linear_schedule_with_warmup

        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, warmup, total)
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision == "fp16" and device.type == "cuda")
        self.train_model: Any = model
        if self.distributed:
            ddp_ids = [device.index] if device.type == "cuda" else None
            self.train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ddp_ids)

        # state of early stopping, restored from a checkpoint when resuming
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] = {"score": -math.inf, "loss": math.inf, "epoch": 0, "proba": None}
        self.best_state: dict[str, Any] | None = None
        self.bad_epochs = 0
        self.start_epoch = 1
        self.ckpt: Path | None = None

    def _resume(self) -> bool:
        """Prepare the checkpoint folder; restore from it when resuming. True when training had finished."""
        import torch

        c = self.coder
        if not c.checkpoint_dir:
            return False
        self.ckpt = ckpt = Path(c.checkpoint_dir) / c._run_key(self.texts, self.y, self.groups)
        if c.resume:
            done = load_state(ckpt, "best")
            finished = (ckpt / "finished").is_file()
            last = None if finished else load_state(ckpt, "last")
            if finished and done is not None:
                logger.info("resume: training in %s had finished; using its best epoch", ckpt)
                self.model.load_state_dict(done["model"])
                self.finish(done["history"], done["best"])
                return True
            if last is not None:
                self.model.load_state_dict(last["model"])
                self.optimizer.load_state_dict(last["optimizer"])
                self.scheduler.load_state_dict(last["scheduler"])
                if last.get("scaler"):
                    self.scaler.load_state_dict(last["scaler"])
                torch.set_rng_state(last["rng"])
                if self.device.type == "cuda" and last.get("cuda_rng") is not None:
                    torch.cuda.set_rng_state(last["cuda_rng"], self.device)
                self.history, self.best, self.bad_epochs = last["history"], last["best"], int(last["bad_epochs"])
                self.start_epoch = int(last["epoch"]) + 1
                if done is not None:
                    self.best_state = done["model"]
                logger.info("resume: continuing after epoch %d from %s", self.start_epoch - 1, ckpt)
        elif ckpt.exists() and self.rank == 0:
            shutil.rmtree(ckpt, ignore_errors=True)
        return False

    def run(self) -> None:
        """Train epoch by epoch until ``epochs`` or early stopping; keep the best epoch; finish."""
        if self._resume():
            return
        c, model, ckpt = self.coder, self.model, self.ckpt
        for epoch in range(self.start_epoch, c.epochs + 1):
            t0 = time.perf_counter()
            train_loss = self.train_epoch(epoch)
            record: dict[str, Any] = {"epoch": epoch, "train_loss": round(train_loss, 6)}
            improved = True
            if len(self.val_idx):
                improved = self.validate(record, epoch)
            else:
                self.best.update(epoch=epoch)
                self.best_state = None
            record["seconds"] = round(time.perf_counter() - t0, 2)
            self.history.append(record)
            if self.rank == 0:
                _progress_log.info("%s", epoch_line(record, c.epochs, self.history, self.best))
            stop = len(self.val_idx) > 0 and c.patience > 0 and self.bad_epochs >= c.patience
            if ckpt is not None and self.rank == 0:
                self.checkpoint(epoch, self.best_state if improved else None)
            c._epoch_end(epoch)
            if stop:
                logger.info("early stopping: no better validation score for %d epochs; keeping epoch %d",
                            c.patience, self.best["epoch"])
                break
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        if ckpt is not None and self.rank == 0:
            if self.best_state is None:
                save_state(ckpt, "best", {"model": _cpu_state(model), "history": self.history, "best": self.best})
            (ckpt / "finished").write_text("done\n", encoding="utf-8")
            for name in ("last.safetensors", "last.json"):
                (ckpt / name).unlink(missing_ok=True)
        self.finish(self.history, self.best)

    def train_epoch(self, epoch: int) -> float:
        """One pass over the training segments; the mean training loss (over all processes)."""
        import torch
        import torch.nn.functional as F

        c, model, device, optimizer, scaler = self.coder, self.model, self.device, self.optimizer, self.scaler
        train_model, world, amp_dtype = self.train_model, self.world, self.amp_dtype
        model.train()
        batches = c._batches(self.lengths[self.train_idx], epoch)
        if self.distributed:
            while len(batches) % world:
                batches.append(batches[len(batches) % max(len(batches), 1)])
            batches = batches[self.rank::world]
        losses = []
        optimizer.zero_grad(set_to_none=True)
        for b, local in enumerate(batches):
            seg = self.train_idx[local]
            counts = [len(self.seg_windows[s]) for s in seg]
            flat = [w for s in seg for w in self.seg_windows[s]]
            inputs = c._pad(flat, device)
            labels = torch.from_numpy(self.y_f[seg]).to(device)
            last_micro = (b + 1) % c.gradient_accumulation_steps == 0 or b + 1 == len(batches)
            sync = train_model.no_sync() if self.distributed and not last_micro else _nullcontext()
            with sync:
                with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32,
                                    enabled=amp_dtype is not None):
                    logits = train_model(**inputs).logits
                logits = logits.float()
                if len(flat) != len(seg):
                    parts = logits.split(counts)
                    logits = torch.stack([
                        p.max(dim=0).values if c.window_combine == "max" else p.mean(dim=0) for p in parts
                    ])
                loss = F.binary_cross_entropy_with_logits(logits, labels, pos_weight=self.pos_weight)
                scaler.scale(loss / c.gradient_accumulation_steps).backward()
            losses.append(float(loss.detach()))
            if last_micro:
                if c.max_grad_norm and c.max_grad_norm > 0:
                    scaler.unscale_(optimizer)
                    torch.nn.utils.clip_grad_norm_(model.parameters(), c.max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                self.scheduler.step()
                optimizer.zero_grad(set_to_none=True)
        train_loss = float(np.mean(losses)) if losses else float("nan")
        if self.distributed:
            t = torch.tensor([train_loss], device=device)
            torch.distributed.all_reduce(t)
            train_loss = float(t.item()) / world
        return train_loss

    def validate(self, record: dict[str, Any], epoch: int) -> bool:
        """Score the validation split into ``record``; update the best epoch. True when it improved."""
        import torch

        c, model, best, val_idx, y = self.coder, self.model, self.best, self.val_idx, self.y
        model.eval()
        c._infer = None
        val_windows = [w for s in val_idx for w in self.seg_windows[s]]
        val_owner = np.repeat(np.arange(len(val_idx)), self.n_windows[val_idx])
        raw = c._run_windows(model, val_windows, kind="logits", device=self.device, precision=self.precision)
        val_logits = combine_windows(raw, val_owner, len(val_idx), c.window_combine)
        proba = _sigmoid(val_logits)
        yv = y[val_idx]
        val_loss = _bce(val_logits, yv, self.pw)
        th = _tune(yv, proba, c.threshold_min_positives)
        f1 = _macro_f1(yv, proba >= th)
        record.update(val_loss=round(val_loss, 6), val_macro_f1=round(f1, 6) if f1 == f1 else None)
        if c.early_stopping_metric == "loss":
            improved = val_loss < best["loss"] - 1e-9
        else:
            score = f1 if f1 == f1 else -val_loss
            improved = score > best["score"] + 1e-9 or (
                abs(score - best["score"]) <= 1e-9 and val_loss < best["loss"]
            )
            if improved:
                best["score"] = score
        if self.distributed:  # rank 0 decides, so that every process stops at the same epoch
            flag = torch.tensor([1 if improved else 0], device=self.device)
            torch.distributed.broadcast(flag, src=0)
            improved = bool(flag.item())
        if improved:
            best.update(loss=val_loss, epoch=epoch, proba=proba)
            self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            self.bad_epochs = 0
        else:
            self.bad_epochs += 1
        return improved

    def checkpoint(self, epoch: int, new_best: dict[str, Any] | None) -> None:
        """Write the epoch's ``last`` state (to resume from) and, when it improved, the ``best`` weights."""
        import torch

        ckpt = self.ckpt
        if ckpt is None:
            return
        if new_best is not None:
            save_state(ckpt, "best", {"model": new_best, "history": list(self.history), "best": self.best})
        save_state(ckpt, "last", {
            "model": _cpu_state(self.model),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "epoch": epoch,
            "history": self.history,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
        })

    def finish(self, history: list[dict[str, Any]], best: dict[str, Any]) -> None:
        """Set the coder's fitted attributes: thresholds tuned on the best epoch's validation probabilities."""
        c, val_idx = self.coder, self.val_idx
        c.model_.eval()
        proba = best.get("proba")
        if len(val_idx) and proba is not None:
            c.thresholds_ = _tune(self.y[val_idx], np.asarray(proba), c.threshold_min_positives)
        else:
            c.thresholds_ = np.full(len(self.pw), 0.5)
        c.history_ = list(history)
        c.best_epoch_ = int(best.get("epoch") or 0) or None
        c.n_validation_ = int(len(val_idx))
        c.pos_weight_ = np.asarray(self.pw, dtype=np.float64)
        c._infer = None
