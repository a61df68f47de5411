"""``mpsoc crossval``: grouped cross-validation of a backend on coded data, written as a report folder."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd

from ._fs import PathArg, atomic_folder, check_output_path
from .codebook import Codebook
from .errors import InputError
from .evaluation import cross_validate
from .io.segments import read_segments
from .models.embedding_cache import share_embeddings
from .report_folders import CROSSVAL_KIND, input_paths, write_crossval
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
    protect: Sequence[PathArg] = (),
    **params: Any,
) -> CrossValidation:
    """Cross-validate grouped by document; write ``metrics.json``, ``report.md``, ``report.html``,
    ``predictions.csv`` (out-of-fold) and, with ``learning_curve``, ``learning_curve.csv/png``.

    Where another coder coded some of the same segments, that coder's scores against the coder
    learned from are the human reference (:func:`human_reference`), drawn on the learning curve.
    ``protect`` names further files the run reads (a codebook or config file): like the data,
    the output folder may not be, hold or lie inside them. ``force`` replaces an existing
    cross-validation folder that mpsoc wrote, never another folder.
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise InputError(f"--folds must be at least 2 (the data is split into that many parts), not {folds!r}")
    codebook = codebook or Codebook.default()
    check_output_path(out, [*input_paths(data), *protect], force=force, kind=CROSSVAL_KIND)
    with atomic_folder(out, CROSSVAL_KIND, force=force) as tmp:
        segments = read_segments(
            data, codebook=codebook, sheet=sheet, columns=columns, require_codes=True, require_documents=True
        )
        rows, chosen, _ = load_training_data(segments, codebook=codebook, coder=coder)
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
        cv.human = human_reference(segments, chosen, codebook)
        write_crossval(tmp, cv, rows, codebook, backend=backend, coder=chosen, seed=seed)
    return cv
