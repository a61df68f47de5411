"""Write every report folder: ``mpsoc evaluate``'s and ``mpsoc crossval``'s.

An evaluation folder holds ``metrics.json`` (every number), ``report.md`` and a self-contained
``report.html`` (plots embedded, no links out), the plots as PNG files, and
``disagreements.xlsx`` (each segment on which the coders and the model differ, side by side).
A cross-validation folder holds ``metrics.json``, ``report.md``, a self-contained ``report.html``,
``predictions.csv`` (out of fold) and, with a learning curve, ``learning_curve.csv`` and ``.png``. Folders are written
atomically: built under a temporary name and renamed into place. ``metrics.json`` has one NaN
policy everywhere: an undefined number is ``null``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._fs import PathArg, atomic_folder, check_output_path
from .codebook import Codebook
from .evaluation import evaluate_model
from .io.cells import check_sheet, text_only
from .io.predictions import PROBA_PREFIX
from .results import CrossValidation, Evaluation, json_ready

__all__ = [
    "CROSSVAL_KIND",
    "EVALUATION_KIND",
    "REPORT_FILES",
    "input_paths",
    "evaluate_to_folder",
    "write_crossval",
    "write_disagreements",
    "write_evaluation",
    "write_metrics",
]


#: The kinds of report folder in their marker (what ``--force`` may replace).
EVALUATION_KIND = "evaluation"
CROSSVAL_KIND = "crossval"

#: The files every evaluation folder holds.
REPORT_FILES = ("metrics.json", "report.md", "report.html", "disagreements.xlsx")


def write_metrics(metrics: dict[str, Any], path: PathArg) -> None:
    """``metrics.json``: indented UTF-8, an undefined number (nan) as ``null``."""
    text = json.dumps(json_ready(metrics), ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    Path(path).write_text(text, encoding="utf-8")


def write_disagreements(evaluation: Evaluation, path: PathArg) -> None:
    """``disagreements.xlsx``: a sheet ``Disagreements`` (one row per segment) and a sheet ``About``."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    frame = evaluation.disagreements
    gold = evaluation.gold
    coders = [*gold.coders, evaluation.model_coder]
    about = pd.DataFrame(
        {
            "item": ["model", "gold files", "coders", "segments listed", "gold segments", "columns", "library version"],
            "value": [
                str(evaluation.model.model),
                ", ".join(gold.files) or "(a table given in code)",
                ", ".join(coders),
                str(len(frame)),
                str(gold.segments),
                "one column per coder and the model: its codes; '(no code)' = no community; empty = that coder did "
                "not code the segment. differs_on: codes not given by all. review: the model was unsure. p:CODE: the "
                "model's probability of each code.",
                str(evaluation.library_version),
            ],
        }
    )
    check_sheet(frame, path, sheet="Disagreements")
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="Disagreements", index=False)
        text_only(writer.sheets["Disagreements"])
        about.to_excel(writer, sheet_name="About", index=False)
        ws = writer.sheets["Disagreements"]
        ws.freeze_panes = "D2"
        ws.auto_filter.ref = ws.dimensions
        for cell in ws[1]:
            cell.font = Font(bold=True)
        widths = {"segment_id": 14, "document_id": 12, "text": 70, "differs_on": 30, "review": 8}
        for j, name in enumerate(frame.columns, 1):
            letter = get_column_letter(j)
            width = widths.get(str(name), 24 if str(name) in coders else 11)
            ws.column_dimensions[letter].width = width
            if str(name) in ("text", "differs_on", *coders):
                for cell in ws[letter][1:]:
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
        ab = writer.sheets["About"]
        ab.column_dimensions["A"].width = 18
        ab.column_dimensions["B"].width = 100
        for cell in ab["B"][1:]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def write_evaluation(evaluation: Evaluation, out: PathArg, *, force: bool = False) -> Path:
    """Write the report folder ``out`` (atomically; an existing folder only with ``force``)."""
    from .plots import plot_confusion, plot_model_vs_humans, plot_per_code
    from .report_pages import EVALUATION_PLOTS, evaluation_html, evaluation_markdown

    with atomic_folder(out, EVALUATION_KIND, force=force) as tmp:
        plot_model_vs_humans(evaluation, tmp / "model_vs_humans.png")
        plot_per_code(evaluation, tmp / "per_code_f1_kappa.png")
        plot_confusion(evaluation.confusion["type"], tmp / "confusion_type.png", dimension="type")
        if evaluation.confusion.get("valence"):
            plot_confusion(evaluation.confusion["valence"], tmp / "confusion_valence.png", dimension="valence")
        images = {file: (tmp / file).read_bytes() for file, _ in EVALUATION_PLOTS if (tmp / file).is_file()}
        write_metrics(evaluation.to_dict(), tmp / "metrics.json")
        (tmp / "report.md").write_text(evaluation_markdown(evaluation), encoding="utf-8")
        (tmp / "report.html").write_text(evaluation_html(evaluation, images), encoding="utf-8")
        write_disagreements(evaluation, tmp / "disagreements.xlsx")
    return Path(out)


def input_paths(data: Any) -> list[PathArg]:
    """The paths among ``data`` (a path, a list of paths, or a frame given in code: none)."""
    if isinstance(data, pd.DataFrame) or data is None:
        return []
    if isinstance(data, (str, PathLike)):
        return [data]
    return list(data)


def evaluate_to_folder(
    model_dir: PathArg,
    gold: PathArg | Sequence[PathArg] | pd.DataFrame,
    out: PathArg,
    *,
    force: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    sheet: str | int | None = None,
    model: Any = None,
    include_training_data: bool = False,
) -> Evaluation:
    """Evaluate a model folder against human coders and write the report folder ``out``.

    ``model`` may pass the already loaded coder of ``model_dir``. See
    :func:`mpsoc_nlp.evaluation.evaluate_model` for what is computed and
    :func:`write_evaluation` for the files.
    """
    check_output_path(out, [model_dir, *input_paths(gold)], force=force, kind=EVALUATION_KIND)  # before the work
    evaluation = evaluate_model(
        model if model is not None else model_dir, gold, n_resamples=n_resamples, seed=seed,
        confidence=confidence, sheet=sheet, include_training_data=include_training_data,
    )
    if model is not None:
        evaluation.model.model = str(model_dir)
    write_evaluation(evaluation, out, force=force)
    return evaluation


def write_crossval(
    folder: PathArg,
    cv: CrossValidation,
    rows: pd.DataFrame,
    codebook: Codebook,
    *,
    backend: str,
    coder: str | None,
    seed: int,
) -> None:
    """Write the files of a cross-validation into ``folder`` (the temporary folder of ``run_crossval``).

    ``rows`` are the segments cross-validated, in the order of ``cv``'s arrays.
    """
    from .plots import plot_learning_curve
    from .report_pages import CROSSVAL_PLOTS, crossval_html, crossval_markdown

    tmp = Path(folder)
    write_metrics({"backend": backend, "coder": coder, "seed": seed, **cv.to_dict()}, tmp / "metrics.json")
    pred = rows[[c for c in ("segment_id", "document_id", "coder", "text") if c in rows.columns]].copy()
    pred["gold_codes"] = ["; ".join(c) for c in rows["codes"]]
    pred["codes"] = ["; ".join(c) for c in cv.predicted]
    pred["fold"] = cv.folds
    for j, code in enumerate(codebook.codes):
        pred[f"{PROBA_PREFIX}{code}"] = np.round(cv.proba[:, j], 4)
    pred.to_csv(tmp / "predictions.csv", index=False, encoding="utf-8")
    if cv.learning_curve is not None:
        cv.learning_curve.to_csv(tmp / "learning_curve.csv", index=False)
        plot_learning_curve(cv.learning_curve, tmp / "learning_curve.png", human=cv.human)
    images = {file: (tmp / file).read_bytes() for file, _ in CROSSVAL_PLOTS if (tmp / file).is_file()}
    md = crossval_markdown(cv, backend=backend, coder=coder, seed=seed)
    (tmp / "report.md").write_text(md, encoding="utf-8")
    page = crossval_html(cv, images, backend=backend, coder=coder, seed=seed)
    (tmp / "report.html").write_text(page, encoding="utf-8")
