"""Coders: the estimator contract, the linear (default) and the transformer backend."""

from .base import BaseCoder, load_model
from .linear import LinearCoder
from .transformer import TransformerCoder

__all__ = ["BaseCoder", "LinearCoder", "TransformerCoder", "load_model"]
