"""Train a coder on coded segments and save it as a model folder (the library side of ``mpsoc train``)."""

from __future__ import annotations

import datetime as _dt
import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ._fs import PathArg
from .codebook import Codebook
from .corpus import select_coder, summarize
from .errors import InputError
from .io.frames import as_inputs, is_frame
from .io.segments import read_segments
from .models.base import BaseCoder
from .models.embedding_cache import share_embeddings
from .models.folder import BACKENDS, backend_class
from .provenance import describe, id_fingerprint

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["train", "make_coder", "data_fingerprint", "read_config", "backend_params", "load_training_data"]

logger = logging.getLogger(__name__)

Backend = Literal["linear", "hybrid", "transformer"]
#: The backends whose coder is a LinearCoder (its settings, ``n_jobs``, ``keep_vocabulary``).
LINEAR_FAMILY = ("linear", "hybrid")


def data_fingerprint(
    segments: pd.DataFrame, paths: Sequence[PathArg] = (), codebook: Codebook | None = None
) -> dict[str, Any]:
    """Counts, sha256 of the training files and salted hashes of the ids, never the text.

    The id hashes let ``mpsoc evaluate`` find gold documents the model was trained on (see
    :mod:`mpsoc_nlp.provenance`).
    """
    summary = summarize(segments, codebook)
    return {
        "segments": summary["segments"],
        "documents": summary["documents"],
        "codes": summary.get("codes", {}),
        "share_no_code": summary.get("share_no_code"),
        "genres": summary.get("genres", {}),
        "files": describe(paths),
        "ids": id_fingerprint(segments),
    }


def read_config(path: PathArg | None, backend: str) -> dict[str, Any]:
    """Read the ``[BACKEND]`` table (or the top level) of a TOML training config."""
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise InputError("no such config file", path=str(p))
    try:
        from .io.sniff import read_small_text

        data = tomllib.loads(read_small_text(p, what="config file"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML: {exc}", path=str(p)) from exc
    table = data.get(backend, data)
    return {k: v for k, v in table.items() if not isinstance(v, dict)}


def backend_params(
    backend: str,
    config: PathArg | None = None,
    *,
    model: str | None = None,
    keep_vocabulary: bool = False,
    strategy: str | None = None,
    resume: bool = False,
    out: PathArg | None = None,
) -> dict[str, Any]:
    """The settings of a backend: the ``config`` file's, then the options of ``mpsoc train``.

    ``model`` is the transformer's base model or the hybrid's frozen encoder; ``strategy`` and
    ``resume`` apply to the transformer only; ``resume`` checkpoints in ``OUT.checkpoints/``
    unless the config names a folder.
    """
    params = read_config(config, backend)
    params.pop("seed", None)  # the seed is an argument of its own: see resolve_seed
    if model is not None:
        if backend == "transformer":
            params["model_name_or_path"] = model
        elif backend == "hybrid":
            params["encoder"] = model
        else:
            raise InputError(
                "--model names a transformer base model or the hybrid's encoder; add --backend hybrid or transformer"
            )
    if keep_vocabulary:
        params["keep_vocabulary"] = True
    if strategy is not None:
        if backend != "transformer":
            raise InputError("--strategy applies to the transformer backend; add --backend transformer")
        if strategy not in ("finetune", "frozen"):
            raise InputError(f"--strategy must be finetune or frozen, not {strategy!r}")
        params["strategy"] = strategy
    if resume:
        if backend != "transformer":
            raise InputError("--resume applies to the transformer backend; add --backend transformer")
        params["resume"] = True
        if out is not None:
            params.setdefault("checkpoint_dir", str(Path(out).parent / f"{Path(out).name}.checkpoints"))
    return params


def resolve_seed(seed: int | None, backend: str, config: PathArg | None = None) -> int:
    """``seed`` when given, else the ``config`` file's ``seed``, else 0."""
    if seed is not None:
        return seed
    value = read_config(config, backend).get("seed", 0)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"{config}: seed must be a whole number, not {value!r}")
    return value


def make_coder(
    backend: Backend = "linear", *, codebook: Codebook | None = None, seed: int = 0, **params: Any
) -> BaseCoder:
    """A new, unfitted coder of the given backend; unknown parameters are named in the error."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}; use {' or '.join(repr(b) for b in BACKENDS)}")
    cls: Any = backend_class(backend)
    if backend in LINEAR_FAMILY:
        allowed = set(cls().get_params()) - {"codebook"}
        unknown = sorted(set(params) - allowed)
        if unknown:
            raise InputError(f"unknown setting(s) {unknown} for the {backend} backend; known are {sorted(allowed)}")
        for key in ("word_ngrams", "char_ngrams"):
            if key in params:
                params[key] = tuple(params[key])
    coder: BaseCoder = cls(codebook, seed=seed, **params)
    return coder


def load_training_data(
    data: pd.DataFrame | PathArg | Sequence[PathArg],
    *,
    codebook: Codebook,
    coder: str | None = None,
    sheet: str | int | None = None,
    columns: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, str | None, list[PathArg]]:
    """Read coded segments, pick one coder's rows; return (rows, coder, paths)."""
    inputs = as_inputs(data)
    paths = [p for p in inputs if not is_frame(p)]
    segments = read_segments(
        inputs, codebook=codebook, sheet=sheet, columns=columns, require_codes=True, require_documents=True
    )
    if "codes" not in segments.columns:
        raise InputError("the training data has no codes; give a table with a 'codes' column")
    n_coders = segments["coder"].nunique() if "coder" in segments.columns else 0
    rows, chosen = select_coder(segments, coder)
    if n_coders > 1:
        names = sorted(segments["coder"].dropna().unique().tolist())
        how = "as asked" if coder else "the coder with most segments; choose another with --coder"
        logger.warning(
            "the data has %d coders (%s): training on coder %r (%s)", n_coders, ", ".join(names), chosen, how
        )
    return rows, chosen, paths


def train(
    data: pd.DataFrame | PathArg | Sequence[PathArg],
    *,
    out: PathArg | None = None,
    backend: Backend = "linear",
    coder: str | None = None,
    codebook: Codebook | None = None,
    seed: int = 0,
    cv_folds: int = 5,
    force: bool = False,
    sheet: str | int | None = None,
    columns: Mapping[str, str] | None = None,
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
    jobs: int | None = None,
    protect: Sequence[PathArg] = (),
    **params: Any,
) -> BaseCoder:
    """Train a coder on coded segments; save it to ``out`` when given.

    Parameters
    ----------
    data : DataFrame, Dataset, path or list of them
        Segment tables with ``text``, ``codes`` and ``document_id``, checked as
        :func:`~mpsoc_nlp.io.read_segments` checks them (a DataFrame from ``pd.read_excel`` with
        empty codes as ``NaN`` works; ``columns`` names its columns).
    out : path, optional
        The model folder to write (atomically; an existing one only with ``force``).
    backend : {"linear", "hybrid", "transformer"}
        ``hybrid``: the linear coder's n-grams beside a frozen encoder's vectors (needs torch; the
        encoder is the ``encoder`` setting or ``--model``, default ``multilingual-e5-small``).
    coder : str, optional
        With several coders, whose codes to learn; default the coder with most segments.
    cv_folds : int
        Folds of the grouped cross-validation whose scores go into the model card (0 to skip,
        else at least 2).
    force : bool
        Replace an existing model folder (one mpsoc wrote: with our marker, or an earlier
        version's with a valid ``model.json``), never another folder.
    protect : paths
        Further files the run reads (a codebook or config file): like the data, ``out`` may not
        be, hold or lie inside them.
    jobs : int, optional
        Linear and hybrid backends: cores for vectorising (joblib; ``-1``: all). The model does not depend on it.
    **params
        Settings of the backend (see :class:`~mpsoc_nlp.models.LinearCoder`).
    """
    codebook = codebook or Codebook.default()
    if backend in LINEAR_FAMILY and jobs is not None:
        params["n_jobs"] = jobs
    if isinstance(cv_folds, bool) or not isinstance(cv_folds, int) or cv_folds < 0 or cv_folds == 1:
        raise InputError(f"--folds must be 0 (no cross-validation) or at least 2, not {cv_folds!r}")
    if out is not None:
        from ._fs import check_output_path
        from .models.folder import MODEL_KIND, is_legacy_model_folder

        data_paths = [p for p in as_inputs(data) if not is_frame(p)]
        check_output_path(
            out, [*data_paths, *protect], force=force, kind=MODEL_KIND, legacy=is_legacy_model_folder
        )
    rows, chosen, paths = load_training_data(data, codebook=codebook, coder=coder, sheet=sheet, columns=columns)
    texts = rows["text"].tolist()
    groups = rows["document_id"].astype(str).tolist()
    metrics = None
    # one cache per run: a frozen encoder embeds each segment once for all folds and the final fit
    factory = share_embeddings(lambda: make_coder(backend, codebook=codebook, seed=seed, **params))
    if cv_folds and rows["document_id"].nunique() >= 2:
        from .evaluation import cross_validate

        cv = cross_validate(
            texts,
            rows["codes"].tolist(),
            groups,
            factory,
            codebook,
            folds=cv_folds,
            seed=seed,
            progress=progress,
        )
        metrics = cv.to_dict()
    if progress:
        progress("final model on all segments")
    model = factory()
    model.fit(texts, rows["codes"].tolist(), groups=groups)
    if hasattr(model, "embedding_cache"):
        del model.embedding_cache  # classification later must not keep every text's vector
    model.metadata_ = {
        "name": name or (Path(out).name if out is not None else "mpsoc-model"),
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "coder": chosen,
        "seed": seed,
        "training_data": data_fingerprint(rows, paths, codebook),
    }
    if metrics is not None:
        model.metadata_["metrics"] = metrics
    if out is not None:
        model.save(out, force=force)
        logger.info("saved the model to %s", out)
    return model
