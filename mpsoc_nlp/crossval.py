"""``mpsoc crossval``: grouped cross-validation of a backend on coded data, written as a report folder."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .codebook import Codebook
from .evaluation import CrossValidation, cross_validate
from .io.predictions import PROBA_PREFIX
from .models.base import atomic_folder
from .models.embedding_cache import share_embeddings
from .reporting import plot_learning_curve, scores_markdown
from .training import load_training_data, make_coder

__all__ = ["run_crossval"]

PathArg = str | os.PathLike[str]


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
        result = {"backend": backend, "coder": chosen, "seed": seed, **cv.to_dict()}
        (tmp / "metrics.json").write_text(
            json.dumps(result, ensure_ascii=False, indent=2, allow_nan=True), encoding="utf-8"
        )
        pred = rows[[c for c in ("segment_id", "document_id", "coder", "text") if c in rows.columns]].copy()
        pred["gold_codes"] = ["; ".join(c) for c in rows["codes"]]
        pred["codes"] = ["; ".join(c) for c in cv.predicted]
        pred["fold"] = cv.folds
        for j, code in enumerate(codebook.codes):
            pred[f"{PROBA_PREFIX}{code}"] = np.round(cv.proba[:, j], 4)
        pred.to_csv(tmp / "predictions.csv", index=False, encoding="utf-8")
        md = [
            f"# Cross-validation: {backend} coder",
            "",
            f"{len(cv.fold_scores)} folds grouped by document (no interview or journal is split between training and "
            f"test); codes of coder `{chosen}`; seed {seed}. Scores pool the out-of-fold predictions.",
            "",
            scores_markdown(cv.scores, title="Pooled out-of-fold scores"),
        ]
        if cv.learning_curve is not None:
            cv.learning_curve.to_csv(tmp / "learning_curve.csv", index=False)
            plot_learning_curve(cv.learning_curve, tmp / "learning_curve.png")
            md += [
                "",
                "## Learning curve",
                "",
                "![learning curve](learning_curve.png)",
                "",
                _curve_md(cv.learning_curve),
            ]
        (tmp / "report.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    return cv


def _curve_md(curve: pd.DataFrame) -> str:
    cols = [c for c in ("macro_f1", "type_macro_f1", "valence_macro_f1", "any_community_f1") if f"{c}_mean" in curve]
    lines = [
        "| share of training documents | segments | " + " | ".join(cols) + " |",
        "|---:|---:|" + "---:|" * len(cols),
    ]
    for _, r in curve.iterrows():
        vals = " | ".join(
            f"{r[f'{c}_mean']:.3f} ± {0 if r[f'{c}_sd'] != r[f'{c}_sd'] else r[f'{c}_sd']:.3f}" for c in cols
        )
        lines.append(f"| {r['fraction']:.0%} | {r['train_segments']:.0f} | {vals} |")
    return "\n".join(lines)
