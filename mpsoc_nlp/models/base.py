"""The estimator contract shared by every coder, and the model folder format.

A model folder holds ``model.json`` (format version, backend, codebook, thresholds, a fingerprint
of the training data - counts and sha256, never text - and metrics), the weights (``.npz`` arrays
or safetensors, never pickle) and a ``README.md`` model card. Writing is atomic: the folder is
built under a temporary name beside the target and renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from .._fs import apply_umask
from ..codebook import Codebook
from ..errors import ModelError, NotFittedError, OutputExistsError
from .validation import check_model_folder

__all__ = [
    "FORMAT_VERSION",
    "BaseCoder",
    "load_model",
    "read_model_json",
    "atomic_folder",
    "review_flags",
    "as_code_sets",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_JSON = "model.json"


def as_code_sets(y: Any, codebook: Codebook) -> np.ndarray:
    """Accept code sets (tuples, ``;`` strings) or a multi-hot array; return the multi-hot array."""
    if isinstance(y, np.ndarray) and y.ndim == 2:
        if y.shape[1] != len(codebook):
            raise ModelError(f"y has {y.shape[1]} columns but the codebook has {len(codebook)} codes")
        return (y > 0).astype(np.uint8)
    return codebook.encode(list(y))


def review_flags(proba: np.ndarray, thresholds: np.ndarray, band: float) -> np.ndarray:
    """True where some code's probability lies within ``band`` of its threshold.

    Such a segment is a near call for at least one code: a person should look at it.
    """
    if band <= 0:
        return np.zeros(len(proba), dtype=bool)
    return (np.abs(proba - thresholds[None, :]) < band).any(axis=1)


class BaseCoder(BaseEstimator):
    """What every coder offers: ``fit``, ``predict_proba``, ``predict``, ``review``, ``save``.

    ``predict_proba`` returns an array ``(n_segments, n_codes)`` in codebook order; ``predict``
    returns a list of code sets (tuples in codebook order) using the per-code ``thresholds_``.
    """

    backend: str = "base"

    # subclasses set: codebook_ (Codebook), thresholds_ (ndarray), review_band (float)
    def _check_fitted(self) -> None:
        if not hasattr(self, "thresholds_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() or load a model folder")

    @property
    def codes(self) -> tuple[str, ...]:
        self._check_fitted()
        return self.codebook_.codes  # type: ignore[attr-defined,no-any-return]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        """Code sets for the texts, using the per-code thresholds tuned in training."""
        self._check_fitted()
        proba = self.predict_proba(texts)
        return self.codebook_.decode(proba, self.thresholds_)  # type: ignore[attr-defined,no-any-return]

    def review(self, proba: np.ndarray) -> np.ndarray:
        """Flags for probabilities near a threshold (see :func:`review_flags`)."""
        self._check_fitted()
        return review_flags(proba, self.thresholds_, float(getattr(self, "review_band", 0.0)))  # type: ignore[attr-defined]

    # persistence --------------------------------------------------------------------------
    def _model_json(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _write_weights(self, folder: Path) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def save(self, path: str | os.PathLike[str], *, force: bool = False, card: str | None = None) -> Path:
        """Write the model folder atomically; refuse to replace an existing one unless ``force``."""
        self._check_fitted()
        from .. import __version__

        meta = {
            "format_version": FORMAT_VERSION,
            "backend": self.backend,
            "library_version": __version__,
            "codebook": self.codebook_.to_dict(),  # type: ignore[attr-defined]
            "codes": list(self.codebook_.codes),  # type: ignore[attr-defined]
            "thresholds": [float(t) for t in self.thresholds_],  # type: ignore[attr-defined]
            "review_band": float(getattr(self, "review_band", 0.0)),
            **self._model_json(),
            **getattr(self, "metadata_", {}),
        }
        with atomic_folder(path, force=force) as tmp:
            self._write_weights(tmp)
            (tmp / MODEL_JSON).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
            if card is None:
                from .card import model_card

                card = model_card(meta)
            (tmp / "README.md").write_text(card, encoding="utf-8")
        return Path(path)


class atomic_folder:
    """Context manager: build a folder under a temporary name, rename it into place on success."""

    def __init__(self, path: str | os.PathLike[str], *, force: bool = False) -> None:
        self.path = Path(path)
        self.force = force
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        if self.path.exists() and not self.force:
            raise OutputExistsError(f"{self.path} exists already; choose another --out or pass --force to replace it")
        if self.path.exists() and not self.path.is_dir():
            raise OutputExistsError(f"{self.path} exists and is not a folder")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent))
        apply_umask(self.tmp)
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self.tmp is not None
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        old = None
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old-{os.getpid()}")
            os.replace(self.path, old)
        os.replace(self.tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def read_model_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check ``model.json`` of a model folder."""
    folder = Path(path)
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such model folder (train one with 'mpsoc train ... --out {folder}')")
    meta_path = folder / MODEL_JSON
    if not meta_path.is_file():
        raise ModelError(f"{folder}: not a model folder (no {MODEL_JSON}); point to the folder 'mpsoc train' wrote")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{meta_path}: damaged ({exc.msg}, line {exc.lineno})") from exc
    check_model_folder(folder, meta)
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(
            f"{meta_path}: model format {version!r} is newer than this mpsoc-nlp understands "
            f"(up to {FORMAT_VERSION}); upgrade mpsoc-nlp"
        )
    return dict(meta)


def load_model(path: str | os.PathLike[str], **options: Any) -> BaseCoder:
    """Load a model folder written by ``save``; never executes code from the folder."""
    meta = read_model_json(path)
    backend = meta.get("backend")
    if backend == "linear":
        from .linear import LinearCoder

        return LinearCoder._load(Path(path), meta)
    if backend == "transformer":
        from .transformer import TransformerCoder  # type: ignore[import-not-found]

        return TransformerCoder._load(Path(path), meta, **options)  # type: ignore[no-any-return]
    raise ModelError(f"{path}: unknown backend {backend!r} in {MODEL_JSON}")


def iter_chunks(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    """Consecutive lists of at most ``size`` items."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
