"""``mpsoc crossval``: grouped cross-validation of a backend on coded data, written as a report folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from ._fs import PathArg, atomic_folder
from .codebook import Codebook
from .evaluation import cross_validate
from .io.segments import read_segments
from .report_folders import write_crossval
from .results import CrossValidation, HumanReference
from .scores import score
from .training import load_training_data, make_coder

__all__ = ["human_reference", "run_crossval"]


def human_reference(segments: pd.DataFrame, coder: str | None, codebook: Codebook) -> HumanReference | None:
    """Another human coder scored against ``coder`` on the segments both coded (``None`` without one).

    With several other coders, the one who shares most segments with ``coder``. The model's
    cross-validated scores use ``coder``'s codes as gold; so does this reference.
    """
    if coder is None or "coder" not in segments.columns:
        return None
    mine = segments.loc[segments["coder"] == coder].drop_duplicates("segment_id").set_index("segment_id")
    best: tuple[int, str] | None = None
    for other in sorted(str(c) for c in segments["coder"].dropna().unique() if c != coder):
        shared = len(set(segments.loc[segments["coder"] == other, "segment_id"]) & set(mine.index))
        if shared and (best is None or shared > best[0]):
            best = (shared, other)
    if best is None:
        return None
    other = best[1]
    theirs = segments.loc[segments["coder"] == other].drop_duplicates("segment_id").set_index("segment_id")
    ids = [s for s in mine.index if s in theirs.index]
    summary = score(list(mine.loc[ids, "codes"]), list(theirs.loc[ids, "codes"]), codebook)["summary"]
    return HumanReference(
        coders=(coder, other),
        segments=len(ids),
        documents=int(mine.loc[ids, "document_id"].nunique()),
        summary=summary,
    )

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
    """Cross-validate grouped by document; write ``metrics.json``, ``report.md``, ``report.html``,
    ``predictions.csv`` (out-of-fold) and, with ``learning_curve``, ``learning_curve.csv/png``.

    Where another coder coded some of the same segments, that coder's scores against the coder
    learned from are the human reference (:func:`human_reference`), drawn on the learning curve.
    """
    codebook = codebook or Codebook.default()
    with atomic_folder(out, force=force) as tmp:
        if isinstance(data, pd.DataFrame):
            segments = data
        else:
            paths = [data] if isinstance(data, (str, os.PathLike)) else list(data)
            segments = read_segments(
                paths, codebook=codebook, sheet=sheet, columns=columns, require_codes=True, require_documents=True
            )
        rows, chosen, _ = load_training_data(segments, codebook=codebook, coder=coder)
        cv = cross_validate(
            rows["text"].tolist(),
            rows["codes"].tolist(),
            rows["document_id"].astype(str).tolist(),
            lambda: make_coder(backend, codebook=codebook, seed=seed, **params),  # type: ignore[arg-type]
            codebook,
            folds=folds,
            seed=seed,
            with_learning_curve=learning_curve,
            progress=progress,
        )
        cv.human = human_reference(segments, chosen, codebook)
        write_crossval(tmp, cv, rows, codebook, backend=backend, coder=chosen, seed=seed)
    return cv
