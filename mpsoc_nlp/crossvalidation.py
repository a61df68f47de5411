"""``mpsoc crossval``: grouped cross-validation of a backend on coded data, written as a report folder."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from ._fs import PathArg, atomic_folder, check_output_path
from .codebook import Codebook
from .errors import InputError
from .evaluation import cross_validate
from .models.embedding_cache import share_embeddings
from .report_folders import CROSSVAL_KIND, input_paths, write_crossval
from .results import CrossValidation
from .training import load_training_data, make_coder

__all__ = ["run_crossval"]

def run_crossval(
    data: pd.DataFrame | PathArg | Sequence[PathArg],
    *,
    out: PathArg,
    backend: str = "linear",
    folds: int = 5,
    learning_curve: bool = False,
    coder: str | None = None,
    codebook: Codebook | None = None,
    seed: int = 0,
    force: bool = False,
    sheet: str | int | None = None,
    columns: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    protect: Sequence[PathArg] = (),
    **params: Any,
) -> CrossValidation:
    """Cross-validate grouped by document; write ``metrics.json``, ``report.md``,
    ``predictions.csv`` (out-of-fold) and, with ``learning_curve``, ``learning_curve.csv/png``.

    ``protect`` names further files the run reads (a codebook or config file): like the data,
    the output folder may not be, hold or lie inside them. ``force`` replaces an existing
    cross-validation folder that mpsoc wrote, never another folder.
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise InputError(f"--folds must be at least 2 (the data is split into that many parts), not {folds!r}")
    codebook = codebook or Codebook.default()
    check_output_path(out, [*input_paths(data), *protect], force=force, kind=CROSSVAL_KIND)
    with atomic_folder(out, CROSSVAL_KIND, force=force) as tmp:
        rows, chosen, _ = load_training_data(data, codebook=codebook, coder=coder, sheet=sheet, columns=columns)
        cv = cross_validate(
            rows["text"].tolist(),
            rows["codes"].tolist(),
            rows["document_id"].astype(str).tolist(),
            share_embeddings(lambda: make_coder(backend, codebook=codebook, seed=seed, **params)),  # type: ignore[arg-type]
            codebook,
            folds=folds,
            seed=seed,
            with_learning_curve=learning_curve,
            progress=progress,
        )
        write_crossval(tmp, cv, rows, codebook, backend=backend, coder=chosen, seed=seed)
    return cv
