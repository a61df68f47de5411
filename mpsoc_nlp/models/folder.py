"""The model folder format and the one registry of backends.

A model folder holds ``model.json`` (format version, backend, codebook, thresholds, a fingerprint
of the training data - counts and sha256, never text - and metrics), the weights (``.npz`` arrays
or safetensors, never pickle) and a ``README.md`` model card. Writing is atomic: the folder is
built under a temporary name beside the target and renamed into place.

The registry names each backend's class by module path and imports it only when asked, so this
module (and :mod:`.base`) import no backend: ``import mpsoc_nlp`` stays light and there is no
import circle.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._fs import MARKER, PathArg, atomic_folder
from ..errors import ModelError
from .validation import check_model_folder

if TYPE_CHECKING:
    from .base import BaseCoder

__all__ = [
    "FORMAT_VERSION",
    "MODEL_JSON",
    "MODEL_KIND",
    "is_legacy_model_folder",
    "model_digest",
    "METADATA_KEYS",
    "BACKENDS",
    "backend_class",
    "read_model_json",
    "write_model_folder",
    "load_model",
]

FORMAT_VERSION = 1
MODEL_JSON = "model.json"
#: The kind of folder in the marker of a model folder (what ``train --force`` may replace).
MODEL_KIND = "model"

#: The keys of ``model.json`` that a loaded coder keeps as ``metadata_`` (and writes back on ``save``).
METADATA_KEYS = ("name", "created", "coder", "seed", "training_data", "metrics")

BACKENDS: dict[str, str] = {
    "linear": "mpsoc_nlp.models.linear:LinearCoder",
    "hybrid": "mpsoc_nlp.models.hybrid:HybridCoder",
    "transformer": "mpsoc_nlp.models.transformer:TransformerCoder",
}
"""Backend name -> ``module:Class`` of its coder; the one place a new backend is registered."""


def backend_class(backend: str) -> type[BaseCoder]:
    """The coder class of a registered backend, imported now (``KeyError`` for an unknown one)."""
    module, _, name = BACKENDS[backend].partition(":")
    cls: type[BaseCoder] = getattr(importlib.import_module(module), name)
    return cls


def read_model_json(path: PathArg) -> dict[str, Any]:
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


def is_legacy_model_folder(path: PathArg) -> bool:
    """A model folder of an earlier version (no marker) whose ``model.json`` passes the load check.

    ``train --force`` may replace such a folder as it replaces one with our marker; a folder whose
    ``model.json`` is missing or damaged is never replaced (remove it yourself).
    """
    try:
        read_model_json(path)
    except ModelError:
        return False
    return True


def model_digest(path: PathArg) -> str:
    """The sha256 of a model folder's content: every file but the model card and the marker.

    Names and bytes of the weights and ``model.json``, in sorted order; not the folder's path,
    so a copy of a model has the digest of the original and a model retrained in place has another.
    """
    import hashlib

    from .._fs import sha256_file

    folder = Path(path)
    h = hashlib.sha256()
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = f.relative_to(folder).as_posix()
        if rel in ("README.md", MARKER):
            continue
        h.update(rel.encode("utf-8") + b"\0" + sha256_file(f).encode("ascii") + b"\n")
    return h.hexdigest()


def write_model_folder(
    path: PathArg,
    meta: dict[str, Any],
    write_weights: Callable[[Path], None],
    *,
    force: bool = False,
    card: str | None = None,
) -> Path:
    """Write a model folder atomically: the weights, ``model.json`` and the model card.

    The folder is published exclusively with our marker; ``force`` replaces an existing model
    folder (ours, or an earlier version's, :func:`is_legacy_model_folder`), never another folder.
    """
    with atomic_folder(path, MODEL_KIND, force=force, legacy=is_legacy_model_folder) as tmp:
        write_weights(tmp)
        (tmp / MODEL_JSON).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        if card is None:
            from .card import model_card

            card = model_card(meta)
        (tmp / "README.md").write_text(card, encoding="utf-8")
    return Path(path)


def load_model(path: str | os.PathLike[str], **options: Any) -> BaseCoder:
    """Load a model folder written by ``save``; never executes code from the folder.

    ``options`` go to the backend's loader (the transformer takes ``quantize``, ``device``, ...).
    """
    meta = read_model_json(path)
    backend = meta.get("backend")
    if backend not in BACKENDS:
        raise ModelError(f"{path}: unknown backend {backend!r} in {MODEL_JSON}")
    cls = backend_class(str(backend))
    if not options:
        return cls._load(Path(path), meta)
    load: Callable[..., BaseCoder] = cls._load  # runtime options: only backends that take them
    return load(Path(path), meta, **options)
