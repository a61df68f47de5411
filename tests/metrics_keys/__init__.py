"""The key structure of ``metrics.json`` files, pinned so that a refactor cannot rename a key.

``key_paths`` flattens a JSON object into paths such as ``scores.*.per_code.*.kappa``: list items
become ``[]`` and keys that name a code, a community type, a valence or a human coder become
``*``, so the paths do not depend on which codes the data happen to use. The expected paths are
in ``evaluate.txt`` and ``crossval.txt`` beside this file, written from the output of the code
before the typed results replaced the nested dicts.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mpsoc_nlp import Codebook

HERE = Path(__file__).parent


def key_paths(obj: Any, coders: Iterable[str] = (), prefix: str = "") -> set[str]:
    """Every path from the root of ``obj`` to a leaf (or an empty list or dict)."""
    cb = Codebook.default()
    variable = {*cb.codes, *cb.type_names, *cb.valence_names, *coders}
    return _paths(obj, variable, prefix)


def _paths(obj: Any, variable: set[str], prefix: str) -> set[str]:
    if isinstance(obj, dict):
        out = {prefix + "{}"} if not obj else set()
        for k, v in obj.items():
            k = "*" if k in variable else k
            out |= _paths(v, variable, f"{prefix}.{k}" if prefix else k)
        return out
    if isinstance(obj, list):
        out = {prefix + "[]"} if not obj else set()
        for v in obj:
            out |= _paths(v, variable, prefix + "[]")
        return out
    return {prefix}


def expected(name: str) -> set[str]:
    """The pinned paths of ``name`` (``evaluate`` or ``crossval``)."""
    return set((HERE / f"{name}.txt").read_text(encoding="utf-8").split("\n")) - {""}
