"""Coders: the estimator contract, the linear (default) and the transformer backend."""

from .base import BaseCoder, load_model
from .linear import LinearCoder

__all__ = ["BaseCoder", "LinearCoder", "load_model"]
