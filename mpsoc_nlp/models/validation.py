"""The schema check of a model folder, run on load before anything is built from it.

:func:`check_model_folder` is a pure function of the folder and its parsed ``model.json``: it
raises :class:`~mpsoc_nlp.errors.ModelError` naming the folder, the key and what is wrong, so a
damaged or hand-edited folder ends in a plain message (exit 2) instead of an internal error or,
worse, wrong codes. Checked: the keys and their types; the codes (unique, known to the stored
codebook, in its order); the thresholds (one per code, finite, ``0 <= t <= 1``); the review band;
``n_features``; every file ``model.json`` names lies inside the folder (no absolute path, no
``..``, no symbolic link leading out); for the linear backend, the arrays of ``weights.npz``
(names, shapes against the codes and ``n_features``, sizes); for the hybrid backend, the same
arrays with the encoder's columns beside them, and that the encoder folder and its list of
checksums are there (the checksums themselves are compared when the encoder is loaded).
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ..codebook import Codebook
from ..errors import CodebookError, ModelError

__all__ = ["check_model_folder", "MAX_FEATURES", "MAX_WEIGHTS_BYTES", "FILE_KEYS"]

#: The largest ``n_features`` (hashed columns per n-gram kind) a model may declare: 2**24.
MAX_FEATURES = 2**24
#: The largest uncompressed size of the weights arrays of a linear model: 4 GiB.
MAX_WEIGHTS_BYTES = 4 * 2**30
#: Keys of ``model.json`` whose value names a file or folder of the model folder.
FILE_KEYS = ("weights", "head", "encoder_folder", "encoder_files")
#: The largest width of a hybrid model's encoder block (hidden size of the encoder).
MAX_ENCODER_DIM = 65_536
_LINEAR_ARRAYS = ("coef_columns", "coef_values", "intercept", "n_columns", "idf_0", "idf_1")


def _fail(folder: Path, key: str, what: str) -> ModelError:
    return ModelError(f"{folder}/model.json: {key!r} {what}; the model folder is damaged - train it again")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _inside(folder: Path, key: str, name: Any) -> Path:
    """The path of a file ``model.json`` names, refused unless it stays inside ``folder``."""
    if not isinstance(name, str) or not name.strip():
        raise _fail(folder, key, f"must name a file of the folder, not {name!r}")
    if "\x00" in name or PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute():
        raise _fail(folder, key, "names a file outside the model folder (an absolute path)")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts or PureWindowsPath(name).drive:
        raise _fail(folder, key, "names a file outside the model folder ('..')")
    root = folder.resolve()
    target = (folder / name).resolve()
    if target != root and root not in target.parents:
        raise _fail(folder, key, "names a file outside the model folder (a symbolic link leads out)")
    return folder / name


def _check_thresholds(folder: Path, meta: Mapping[str, Any], n_codes: int) -> None:
    th = meta.get("thresholds")
    if not isinstance(th, list):
        raise _fail(folder, "thresholds", f"must be a list of {n_codes} numbers, not {type(th).__name__}")
    if len(th) != n_codes:
        raise _fail(folder, "thresholds", f"holds {len(th)} values but the model has {n_codes} codes")
    for i, t in enumerate(th):
        if not _number(t):
            raise _fail(folder, "thresholds", f"entry {i + 1} is {type(t).__name__}, not a number")
        if not math.isfinite(t) or not 0.0 <= float(t) <= 1.0:
            raise _fail(folder, "thresholds", f"entry {i + 1} is {t!r}; a threshold lies between 0 and 1")
    band = meta.get("review_band", 0.0)
    if not _number(band) or not math.isfinite(band) or not 0.0 <= float(band) <= 1.0:
        raise _fail(folder, "review_band", f"is {band!r}; it must be a number between 0 and 1")


def _check_codes(folder: Path, meta: Mapping[str, Any]) -> Codebook:
    if not isinstance(meta.get("codebook"), Mapping):
        raise _fail(folder, "codebook", "is missing or not a table")
    try:
        codebook = Codebook.from_dict(meta["codebook"], source=f"{folder}/model.json")
    except CodebookError as exc:
        raise ModelError(f"{exc}; the model folder is damaged - train it again") from exc
    if len(set(codebook.codes)) != len(codebook.codes):
        dup = sorted({c for c in codebook.codes if codebook.codes.count(c) > 1})
        raise _fail(folder, "codebook", f"names the code(s) {dup} twice")
    codes = meta.get("codes", list(codebook.codes))
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise _fail(folder, "codes", "must be a list of code names")
    if len(set(codes)) != len(codes):
        dup = sorted({c for c in codes if codes.count(c) > 1})
        raise _fail(folder, "codes", f"names the code(s) {dup} twice")
    unknown = [c for c in codes if c not in codebook.codes]
    if unknown:
        raise _fail(folder, "codes", f"holds {unknown}, which the stored codebook does not know")
    if tuple(codes) != codebook.codes:
        raise _fail(folder, "codes", f"holds {len(codes)} codes that differ from the codebook's {len(codebook)}")
    return codebook


def _check_linear(folder: Path, meta: Mapping[str, Any], n_codes: int, extra_columns: int = 0) -> None:
    """The linear arrays; ``extra_columns``: the hybrid's encoder block beside the two hashed blocks."""
    params = meta.get("params", {})
    if not isinstance(params, Mapping):
        raise _fail(folder, "params", f"must be a table, not {type(params).__name__}")
    n_features = params.get("n_features", 2**18)
    if not isinstance(n_features, int) or isinstance(n_features, bool) or not 1 <= n_features <= MAX_FEATURES:
        raise _fail(folder, "params.n_features", f"is {n_features!r}; it must be a whole number 1..{MAX_FEATURES}")
    path = _inside(folder, "weights", meta.get("weights", "weights.npz"))
    if not path.is_file():
        raise _fail(folder, "weights", f"names {path.name}, which is missing")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {i.filename: i for i in zf.infolist()}
            if sum(i.file_size for i in infos.values()) > MAX_WEIGHTS_BYTES:
                raise _fail(folder, "weights", f"unpacks to more than {MAX_WEIGHTS_BYTES} bytes")
            missing = [a for a in _LINEAR_ARRAYS if f"{a}.npy" not in infos]
            if missing:
                raise _fail(folder, "weights", f"lacks the array(s) {missing}")
            shapes = {a: _npy_shape(zf, f"{a}.npy") for a in _LINEAR_ARRAYS}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _fail(folder, "weights", f"names {path.name}, which is not a readable .npz archive ({exc})") from exc
    n_kept = shapes["coef_columns"][0] if len(shapes["coef_columns"]) == 1 else -1
    expect = {
        "coef_columns": (n_kept,),
        "coef_values": (n_codes, n_kept),
        "intercept": (n_codes,),
        "n_columns": (1,),
        "idf_0": (n_features,),
        "idf_1": (n_features,),
    }
    for name, shape in expect.items():
        if n_kept < 0 or shapes[name] != shape:
            raise _fail(folder, "weights", f"holds {name} of shape {shapes[name]}, expected {shape}")
    if n_kept > 2 * n_features + extra_columns:
        raise _fail(folder, "weights", f"keeps {n_kept} columns of {2 * n_features + extra_columns}")


def _check_hybrid(folder: Path, meta: Mapping[str, Any], n_codes: int) -> None:
    dim = meta.get("encoder_dim")
    if not isinstance(dim, int) or isinstance(dim, bool) or not 1 <= dim <= MAX_ENCODER_DIM:
        raise _fail(folder, "encoder_dim", f"is {dim!r}; it must be a whole number 1..{MAX_ENCODER_DIM}")
    _check_linear(folder, meta, n_codes, extra_columns=dim)
    encoder = _inside(folder, "encoder_folder", meta.get("encoder_folder", "encoder"))
    if not encoder.is_dir():
        raise _fail(folder, "encoder_folder", f"names {encoder.name}/, which is missing")
    files = _inside(folder, "encoder_files", meta.get("encoder_files", "encoder_files.json"))
    if not files.is_file():
        raise _fail(folder, "encoder_files", f"names {files.name}, which is missing")


def _npy_shape(zf: zipfile.ZipFile, name: str) -> tuple[int, ...]:
    """The shape in the header of one ``.npy`` member, read without loading the data."""
    import numpy as np
    from numpy.lib import format as npformat

    with zf.open(name) as fh:
        version = npformat.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = npformat.read_array_header_1_0(fh)
        else:
            shape, _, dtype = npformat.read_array_header_2_0(fh)
    if np.dtype(dtype).hasobject:
        raise ValueError(f"{name} holds Python objects")
    return tuple(int(s) for s in shape)


def check_model_folder(folder: str | os.PathLike[str], meta: Any) -> None:
    """Check a model folder's ``model.json`` (parsed as ``meta``) and the files it names.

    Raises
    ------
    ModelError
        Naming the folder, the key and what is wrong.
    """
    folder = Path(folder)
    if not isinstance(meta, Mapping):
        raise ModelError(
            f"{folder}/model.json: holds a {type(meta).__name__}, not a table of settings; the model folder is "
            "damaged - train it again"
        )
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version != 1:
        return  # the loader says which format versions it reads
    backend = meta.get("backend")
    if not isinstance(backend, str):
        raise _fail(folder, "backend", "is missing or not a name")
    codebook = _check_codes(folder, meta)
    _check_thresholds(folder, meta, len(codebook))
    for key in FILE_KEYS:
        if key in meta:
            _inside(folder, key, meta[key])
    if backend == "linear":
        _check_linear(folder, meta, len(codebook))
    elif backend == "hybrid":
        _check_hybrid(folder, meta, len(codebook))
