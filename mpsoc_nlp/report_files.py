"""Write an evaluation report folder: the library side of ``mpsoc evaluate``.

The folder holds ``metrics.json`` (every number), ``report.md`` and a self-contained
``report.html`` (plots embedded, no links out), the plots as PNG files, and
``disagreements.xlsx`` (each segment on which the coders and the model differ, side by side).
It is written atomically: built under a temporary name and renamed into place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import OutputExistsError
from .evaluation import Evaluation, evaluate_model
from .io.cells import check_sheet, text_only
from .models.base import atomic_folder

__all__ = ["REPORT_FILES", "evaluate_to_folder", "write_evaluation", "write_disagreements"]

PathArg = str | os.PathLike[str]

#: The files every evaluation folder holds.
REPORT_FILES = ("metrics.json", "report.md", "report.html", "disagreements.xlsx")


def write_disagreements(evaluation: Evaluation, path: PathArg) -> None:
    """``disagreements.xlsx``: a sheet ``Disagreements`` (one row per segment) and a sheet ``About``."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    frame = evaluation.disagreements
    m = evaluation.metrics
    coders = [*m["gold"]["coders"], m["model_coder"]]
    about = pd.DataFrame(
        {
            "item": ["model", "gold files", "coders", "segments listed", "gold segments", "columns", "library version"],
            "value": [
                str(m["model"].get("model")),
                ", ".join(m["gold"]["files"]) or "(a table given in code)",
                ", ".join(coders),
                str(m["disagreements"]["segments"]),
                str(m["gold"]["segments"]),
                "one column per coder and the model: its codes; '(no code)' = no community; empty = that coder did "
                "not code the segment. differs_on: codes not given by all. review: the model was unsure. p:CODE: the "
                "model's probability of each code.",
                str(m["library_version"]),
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
    from . import reporting

    m = evaluation.metrics
    with atomic_folder(out, force=force) as tmp:
        reporting.plot_model_vs_humans(m, tmp / "model_vs_humans.png")
        reporting.plot_per_code(m, tmp / "per_code_f1_kappa.png")
        reporting.plot_confusion(m["confusion"]["type"], tmp / "confusion_type.png", dimension="type")
        if m["confusion"].get("valence"):
            reporting.plot_confusion(m["confusion"]["valence"], tmp / "confusion_valence.png", dimension="valence")
        images = {file: (tmp / file).read_bytes() for file, _ in reporting.EVALUATION_PLOTS if (tmp / file).is_file()}
        (tmp / "metrics.json").write_text(
            json.dumps(m, ensure_ascii=False, indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        (tmp / "report.md").write_text(reporting.evaluation_markdown(m), encoding="utf-8")
        (tmp / "report.html").write_text(reporting.evaluation_html(m, images), encoding="utf-8")
        write_disagreements(evaluation, tmp / "disagreements.xlsx")
    return Path(out)


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
) -> Evaluation:
    """Evaluate a model folder against human coders and write the report folder ``out``.

    ``model`` may pass the already loaded coder of ``model_dir``. See
    :func:`mpsoc_nlp.evaluation.evaluate_model` for what is computed and
    :func:`write_evaluation` for the files.
    """
    if Path(out).exists() and not force:  # say so before the work, not after
        raise OutputExistsError(f"{out} exists already; choose another --out or pass --force to replace it")
    evaluation = evaluate_model(
        model if model is not None else model_dir, gold, n_resamples=n_resamples, seed=seed,
        confidence=confidence, sheet=sheet,
    )
    if model is not None:
        evaluation.metrics["model"]["model"] = str(model_dir)
    write_evaluation(evaluation, out, force=force)
    return evaluation
