"""Embeddings of a frozen encoder, computed once per training run.

Cross-validation fits a frozen coder once per fold and once more on all segments; without a
shared cache the encoder embeds the whole corpus again for each of them (six passes for five
folds). :func:`share_embeddings` wraps a coder factory so that every coder it makes shares one
:class:`EmbeddingCache`: each distinct text goes through the encoder once. The cache lives only
as long as the training run; keys are sha256 digests of the texts, never the texts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = ["EmbeddingCache", "share_embeddings"]

T = TypeVar("T")


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class EmbeddingCache:
    """Vectors by (encoder settings, sha256 of the text).

    >>> cache = EmbeddingCache()
    >>> calls = []
    >>> def run(texts):
    ...     calls.append(len(texts))
    ...     return np.array([[float(len(t))] for t in texts])
    >>> cache.embed("enc", ["ab", "c", "ab"], run).ravel().tolist()
    [2.0, 1.0, 2.0]
    >>> cache.embed("enc", ["c", "dddd"], run).ravel().tolist(), calls
    ([1.0, 4.0], [2, 1])
    """

    def __init__(self) -> None:
        self._vectors: dict[tuple[str, bytes], np.ndarray] = {}
        self.computed = 0

    def __len__(self) -> int:
        return len(self._vectors)

    def embed(self, key: str, texts: Sequence[str], run: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Vectors of ``texts``; ``run`` embeds (once each) the distinct texts not seen under ``key``."""
        digests = [_digest(t) for t in texts]
        todo: dict[bytes, str] = {}
        for d, t in zip(digests, texts, strict=True):
            if (key, d) not in self._vectors and d not in todo:
                todo[d] = t
        if todo:
            vectors = run(list(todo.values()))
            for d, v in zip(todo, vectors, strict=True):
                self._vectors[(key, d)] = v
            self.computed += len(todo)
        if not texts:
            return np.empty((0, 0))
        return np.stack([self._vectors[(key, d)] for d in digests])


def share_embeddings(factory: Callable[[], T]) -> Callable[[], T]:
    """A factory whose coders share one :class:`EmbeddingCache`.

    It goes to the coders that embed with a frozen encoder (the transformer's ``frozen`` strategy,
    coders whose class sets ``embeds_frozen``, the hybrid coder); the others are left alone.
    """
    cache = EmbeddingCache()

    def make() -> T:
        coder: Any = factory()
        if getattr(coder, "strategy", None) == "frozen" or getattr(coder, "embeds_frozen", False):
            coder.embedding_cache = cache
        return coder  # type: ignore[no-any-return]

    make.cache = cache  # type: ignore[attr-defined]
    return make
