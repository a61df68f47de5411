"""Coders: the estimator contract, the linear (default), the hybrid and the transformer backend.

The backends are imported when first named, so ``import mpsoc_nlp.models`` imports neither.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import BaseCoder
from .folder import load_model

if TYPE_CHECKING:
    from .hybrid import HybridCoder
    from .linear import LinearCoder
    from .transformer import TransformerCoder

__all__ = ["BaseCoder", "HybridCoder", "LinearCoder", "TransformerCoder", "load_model"]

_LAZY = {"HybridCoder": ".hybrid", "LinearCoder": ".linear", "TransformerCoder": ".transformer"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
