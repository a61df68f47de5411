"""The estimator contract shared by every coder.

The folder format and the backend registry live in :mod:`.folder`; this module imports no
backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from .._version import __version__
from ..codebook import Codebook
from ..errors import InputError, ModelError, NotFittedError
from .folder import FORMAT_VERSION, load_model, write_model_folder

__all__ = [
    "BaseCoder",
    "load_model",
    "review_flags",
    "as_code_sets",
    "check_texts",
    "iter_chunks",
    "check_whole_number",
]


def check_texts(texts: Any) -> list[str]:
    """The texts as a list of strings, or an :class:`InputError` naming what is wrong and where.

    A single string is refused (it would be read as one text per character, as scikit-learn's
    vectorisers refuse it), and so is a missing text (``None``, ``NaN``) or any other non-string,
    by its position.
    """
    if isinstance(texts, (str, bytes)):
        raise InputError(
            "expected an iterable of texts, got a single string; wrap it in a list: predict([text])", path="texts"
        )
    if isinstance(texts, np.ndarray) and texts.ndim != 1:
        raise InputError(f"expected a 1-D sequence of texts, got an array of shape {texts.shape}", path="texts")
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            what = "missing (NaN)" if isinstance(text, float) and text != text else (
                "missing (None)" if text is None else f"a {type(text).__name__}, not a string"
            )
            raise InputError(
                f"the text at position {i} is {what}; give every segment its text as a string "
                "(drop or fill the missing ones first, e.g. frame.dropna(subset=['text']))",
                path="texts",
            )
    return out


def check_whole_number(name: str, value: Any, minimum: int) -> None:
    """An :class:`InputError` unless the setting ``name`` is a whole number (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name} must be a whole number of at least {minimum}; got {value!r}")


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
    returns a list of code sets (tuples in codebook order) using the per-code ``thresholds_``,
    or, when ``fit`` was given a multi-hot array, a multi-hot array as scikit-learn's multi-label
    classifiers do (so ``cross_val_score(coder, texts, Y, scoring="f1_macro")`` works);
    ``predict_multi_hot`` always returns the array. Texts are a sequence of strings: a single
    string or a missing text raises :class:`~mpsoc_nlp.errors.InputError`.
    """

    backend: str = "base"

    # set by fit() or by loading a model folder
    codebook_: Codebook
    """The codebook whose codes are the columns of ``predict_proba``."""
    thresholds_: np.ndarray
    """One decision threshold per code, tuned in training."""
    metadata_: dict[str, Any]
    """Name, training-data fingerprint, metrics: what goes into ``model.json`` beyond the weights."""
    # a constructor parameter of every backend
    review_band: float

    def _check_fitted(self) -> None:
        if not hasattr(self, "thresholds_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() or load a model folder")

    @property
    def codes(self) -> tuple[str, ...]:
        self._check_fitted()
        return self.codebook_.codes

    @property
    def classes_(self) -> np.ndarray:
        """The codes in codebook order: the columns of ``predict_proba`` (scikit-learn's name)."""
        return np.asarray(self.codes, dtype=object)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> Any:
        """Code sets for the texts, using the per-code thresholds tuned in training.

        Returns
        -------
        list of tuple of str, or numpy.ndarray
            One tuple of codes (in codebook order) per text; or, when the coder was fitted on a
            multi-hot array ``y``, the multi-hot array ``(n_segments, n_codes)`` of
            :meth:`predict_multi_hot`, the form scikit-learn's multi-label scorers compare with
            such a ``y``.
        """
        self._check_fitted()
        if getattr(self, "multi_hot_y_", False):
            return self.predict_multi_hot(texts)
        proba = self.predict_proba(texts)
        return self.codebook_.decode(proba, self.thresholds_)

    def predict_multi_hot(self, texts: Sequence[str]) -> np.ndarray:
        """The code sets as a 0/1 array ``(n_segments, n_codes)`` in codebook order (``uint8``).

        Column ``j`` is 1 where the probability of code ``j`` reaches its threshold: the same
        decision as :meth:`predict`, in the form of ``sklearn.metrics`` multi-label ``y``.
        """
        self._check_fitted()
        proba = self.predict_proba(texts)
        return (proba >= self.thresholds_[None, :]).astype(np.uint8)

    def _remember_y_form(self, y: Any) -> None:
        """Record whether ``fit`` got a multi-hot array, so ``predict`` answers in that form."""
        self.multi_hot_y_ = isinstance(y, np.ndarray) and y.ndim == 2

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: a multi-label classifier of raw text (a sequence of strings)."""
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.target_tags.required = True
        if tags.classifier_tags is None:
            from sklearn.utils import ClassifierTags

            tags.classifier_tags = ClassifierTags()
        tags.classifier_tags.multi_label = True
        return tags

    def review(self, proba: np.ndarray) -> np.ndarray:
        """Flags for probabilities near a threshold (see :func:`review_flags`)."""
        self._check_fitted()
        return review_flags(proba, self.thresholds_, float(getattr(self, "review_band", 0.0)))

    # persistence --------------------------------------------------------------------------
    def _model_json(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _write_weights(self, folder: Path) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _load(cls, folder: Path, meta: dict[str, Any]) -> BaseCoder:  # pragma: no cover - abstract
        """A fitted coder from a model folder (backends may take runtime options as keywords)."""
        raise NotImplementedError

    def save(self, path: str | os.PathLike[str], *, force: bool = False, card: str | None = None) -> Path:
        """Write the model folder atomically; refuse to replace an existing one unless ``force``."""
        self._check_fitted()
        meta = {
            "format_version": FORMAT_VERSION,
            "backend": self.backend,
            "library_version": __version__,
            "codebook": self.codebook_.to_dict(),
            "codes": list(self.codebook_.codes),
            "thresholds": [float(t) for t in self.thresholds_],
            "review_band": float(getattr(self, "review_band", 0.0)),
            **self._model_json(),
            **getattr(self, "metadata_", {}),
        }
        return write_model_folder(path, meta, self._write_weights, force=force, card=card)


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
