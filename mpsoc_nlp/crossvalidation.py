"""``mpsoc crossval``: grouped cross-validation of a backend on coded data, written as a report folder."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from ._fs import PathArg, atomic_folder
from .codebook import Codebook
from .evaluation import cross_validate
from .models.embedding_cache import share_embeddings
from .report_folders import write_crossval
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
    **params: Any,
) -> CrossValidation:
    """Cross-validate grouped by document; write ``metrics.json``, ``report.md``,
    ``predictions.csv`` (out-of-fold) and, with ``learning_curve``, ``learning_curve.csv/png``."""
    codebook = codebook or Codebook.default()
    with atomic_folder(out, force=force) as tmp:
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
