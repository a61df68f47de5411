"""``mpsoc demo``: the main job end to end on the sample corpus.

Validate the coded sample corpus, train the offline coder on the training documents of the fixed
split, classify the held-out documents, and set the model's scores beside the agreement of two
human coders on the same segments.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from .classification import classify
from .codebook import Codebook
from .corpus import select_coder, summarize
from .errors import InputError
from .evaluation import score
from .io import read_segments
from .reporting import format_summary
from .training import train

__all__ = ["run_demo"]


def _f(x: float) -> str:
    return "  –  " if x != x else f"{x:5.2f}"


def run_demo(
    data_dir: str | Path = "data_samples",
    out_dir: str | Path = "out/demo",
    *,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the demo; outputs go to ``out_dir`` (replaced on every run). Returns the scores."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    codings = data_dir / "codings.csv"
    if not codings.is_file():
        raise InputError(
            f"the sample corpus is not there ({codings} is missing); run the demo from the repository root "
            "or pass --data FOLDER"
        )
    codebook = Codebook.default()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)

    echo(f"== 1. Validate {codings}")
    segments = read_segments(codings, codebook=codebook, require_codes=True, require_documents=True)
    summary = summarize(segments, codebook)
    summary["files"] = [str(codings)]
    echo(format_summary(summary))

    split = json.loads((data_dir / "splits.json").read_text(encoding="utf-8"))
    coder_a, _ = select_coder(segments, "A")
    train_rows = coder_a[coder_a["document_id"].isin(split["train"])]
    test_rows = coder_a[coder_a["document_id"].isin(split["test"])]
    echo(
        f"\n== 2. Train the offline coder on coder A's {len(train_rows)} segments of {len(split['train'])} "
        "training documents (5-fold cross-validation grouped by document for the model card)"
    )
    model_dir = out_dir / "model"
    model = train(train_rows, out=model_dir, codebook=codebook, seed=0, cv_folds=5, name="demo-linear")
    cv = model.metadata_["metrics"]["summary"]  # type: ignore[attr-defined]
    echo(f"   cross-validated macro F1 {cv['macro_f1']:.3f}, type macro F1 {cv['type_macro_f1']:.3f}, "
         f"valence macro F1 {cv['valence_macro_f1']:.3f}; model card: {model_dir / 'README.md'}")

    echo(f"\n== 3. Classify the {len(test_rows)} segments of the {len(split['test'])} held-out documents")
    test_file = out_dir / "test_segments.csv"
    test_rows.drop(columns=["source_file", "source_row"]).assign(
        codes=["; ".join(c) for c in test_rows["codes"]]
    ).to_csv(test_file, index=False, encoding="utf-8")
    pred_file = out_dir / "predictions.xlsx"
    counts = classify(model_dir, [test_file], pred_file, progress=False)
    echo(f"   {counts['with_codes']} segments got codes, {counts['review']} flagged for review -> {pred_file}")
    pred = pd.read_excel(pred_file, sheet_name="Prediksjoner", keep_default_na=False, dtype=str)
    predicted = [codebook.parse_codes(c) for c in pred["codes"]]
    gold = list(test_rows["codes"])
    model_scores = score(gold, predicted, codebook)

    human = None
    if "B" in set(segments["coder"].dropna()):
        b_rows, _ = select_coder(segments, "B")
        b_codes = dict(zip(b_rows["segment_id"], b_rows["codes"]))
        shared = [i for i, sid in enumerate(test_rows["segment_id"]) if sid in b_codes]
        if shared:
            human = score(
                [gold[i] for i in shared], [b_codes[test_rows["segment_id"].iloc[i]] for i in shared], codebook
            )
            human["n_shared"] = len(shared)

    echo("\n== 4. The model beside a second human coder, both against coder A on the held-out documents")
    head = "   code                      model F1  kappa"
    if human:
        head += f"   coder B F1  kappa   (B coded {human['n_shared']} of these segments)"
    echo(head)
    for code in codebook.codes:
        m = model_scores["per_code"][code]
        line = f"   {code:<24}  {_f(m['f1'])}   {_f(m['kappa'])}"
        if human:
            h = human["per_code"][code]
            line += f"        {_f(h['f1'])}   {_f(h['kappa'])}"
        echo(line)
    for key, label in (("macro_f1", "macro F1, codes"), ("type_macro_f1", "macro F1, types"),
                       ("valence_macro_f1", "macro F1, valences"), ("any_community_f1", "F1, any community")):
        line = f"   {label:<24}  {_f(model_scores['summary'][key])}"
        if human:
            line += f"                {_f(human['summary'][key])}"
        echo(line)
    if not human:
        echo("   (no second coder in the data: human agreement not shown)")
    echo(f"\nOutputs are in {out_dir}/")
    return {"model": model_scores, "human": human}
