"""``mpsoc demo``: the main job end to end on the sample corpus.

Validate the coded sample corpus, train the offline coder (or, with ``backend="hybrid"``, the
hybrid coder: hashed n-grams beside frozen multilingual-e5-small vectors) on the training
documents of the fixed split, classify the held-out documents, set the model's scores beside the agreement of two
human coders on the same segments, and write the evaluation report of the model as one more coder
(``OUT/evaluation/``: report.html, report.md, metrics.json, plots, disagreements.xlsx).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ._fs import check_output_path, write_marker
from .classification import classify
from .codebook import Codebook
from .corpus import select_coder, summarize
from .errors import InputError
from .evaluation import score
from .io import read_segments
from .io.predictions import PREDICTIONS_SHEET
from .report_folders import evaluate_to_folder
from .reporting import format_summary
from .training import train

__all__ = ["run_demo"]

#: Bootstrap resamples of the demo's evaluation (fewer than the CLI's 1000, to keep the demo quick).
DEMO_RESAMPLES = 200


def _f(x: float) -> str:
    return "  –  " if x != x else f"{x:5.2f}"


#: The kind of folder in the demo folder's marker: the demo replaces only its own folder.
DEMO_KIND = "demo"
#: The coders the demo can train, and how it names them.
_DEMO_CODERS = {
    "linear": "offline coder (hashed n-grams)",
    "hybrid": "hybrid coder (hashed n-grams beside frozen multilingual-e5-small vectors; embedding takes minutes)",
}
_DEMO_FILES = {"model", "test_segments.csv", "predictions.xlsx", "evaluation", "forslag.qdpx"}


def _earlier_demo(folder: Path) -> bool:
    """A demo folder of an earlier version (no marker): only the demo's own files."""
    names = {p.name for p in folder.iterdir()}
    return bool(names) and names <= _DEMO_FILES | {f"{n}.meta.json" for n in _DEMO_FILES}


def run_demo(
    data_dir: str | Path = "data_samples",
    out_dir: str | Path = "out/demo",
    *,
    echo: Callable[[str], None] = print,
    backend: str = "linear",
    model: str | None = None,
) -> dict[str, Any]:
    """Run the demo; outputs go to ``out_dir`` (replaced on every run). Returns the scores.

    ``backend``: ``"linear"`` (no torch needed) or ``"hybrid"``, whose encoder is ``model`` (a
    folder, or ``multilingual-e5-small``, the default, prepared on first use).
    """
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if backend not in _DEMO_CODERS:
        raise InputError(f"the demo trains the linear or the hybrid coder, not {backend!r}")
    if model is not None and backend != "hybrid":
        raise InputError("--model names the hybrid coder's encoder; add --backend hybrid")
    params: dict[str, Any] = {"encoder": model} if model is not None else {}
    codings = data_dir / "codings.csv"
    if not codings.is_file():
        raise InputError(
            f"the sample corpus is not there ({codings} is missing); run the demo from the repository root "
            "or pass --data FOLDER"
        )
    codebook = Codebook.default()
    check_output_path(out_dir, [data_dir], force=True, kind=DEMO_KIND, legacy=_earlier_demo)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    write_marker(out_dir, DEMO_KIND)

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
        f"\n== 2. Train the {_DEMO_CODERS[backend]} on coder A's {len(train_rows)} segments of "
        f"{len(split['train'])} training documents (5-fold cross-validation grouped by document for the model card)"
    )
    model_dir = out_dir / "model"
    model = train(train_rows, out=model_dir, backend=backend, codebook=codebook, seed=0, cv_folds=5,  # type: ignore[arg-type]
                  name=f"demo-{backend}", **params)
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
    pred = pd.read_excel(pred_file, sheet_name=PREDICTIONS_SHEET, keep_default_na=False, dtype=str)
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

    evaluation = _evaluate(segments, split["test"], model, model_dir, out_dir / "evaluation", echo=echo)
    qdpx = _transcripts_to_qdpx(data_dir, model_dir, out_dir, echo=echo)
    echo(f"\nOutputs are in {out_dir}/")
    return {"model": model_scores, "human": human, "evaluation": evaluation.to_dict(), "qdpx": qdpx}


def _transcripts_to_qdpx(data_dir: Path, model_dir: Path, out_dir: Path, *, echo: Callable[[str], None]) -> dict:
    """Classify two held-out transcripts as researchers hold them (Word and text) into a REFI-QDA project."""
    sources = [data_dir / "interviews" / "INT-34.docx", data_dir / "interviews" / "INT-24.txt"]
    echo(
        "\n== 6. Classify two raw transcripts (" + ", ".join(p.name for p in sources) + ") into a REFI-QDA project "
        "for NVivo, ATLAS.ti, MAXQDA or QualCoder"
    )
    out = out_dir / "forslag.qdpx"
    counts = classify(model_dir, sources, out, progress=False)
    echo(
        f"   {counts['segments']} participant turns, {counts['with_codes']} with suggested codes "
        f"({counts.get('selections', 0)} coded selections; the model is its own user) -> {out}"
    )
    return counts


def _evaluate(
    segments: pd.DataFrame,
    test_docs: list[str],
    model: Any,
    model_dir: Path,
    out: Path,
    *,
    echo: Callable[[str], None],
    resamples: int = DEMO_RESAMPLES,
) -> Any:
    """Step 5: the model as one more coder beside every human coder of the held-out documents."""
    gold = segments[segments["document_id"].isin(test_docs)]
    coders = sorted(gold["coder"].dropna().unique())
    echo(
        f"\n== 5. The model as one more coder beside coder{'s' if len(coders) > 1 else ''} {' and '.join(coders)} "
        f"on the held-out documents ({resamples} bootstrap resamples of documents)"
    )
    ev = evaluate_to_folder(model_dir, gold, out, n_resamples=resamples, seed=0, model=model)
    if ev.human_vs_human:
        a, b = ev.verdicts[0].human[0].coders
        head = f"{a} vs {b} [95 % interval]"
        echo(f"   {'Cohen kappa per code':<24}  {'model vs ' + a:>11}  {'model vs ' + b:>11}  {head:<22}  verdict")
        for v in ev.verdicts:
            if v.level != "code":
                continue
            h = v.human[0].interval
            echo(
                f"   {v.name:<24}  {_f(_nan(v.model_by_coder.get(a))):>11}"
                f"  {_f(_nan(v.model_by_coder.get(b))):>11}"
                f"  {_ci(h.estimate, h.low, h.high):<22}  {v.verdict}"
            )
        counts = pd.Series([v.verdict for v in ev.verdicts if v.level == "code"]).value_counts()
        echo("   Per code: " + ", ".join(f"{n} {k}" for k, n in counts.items()) + " the range of the human coders.")
    else:
        only = ev.gold.coders[0]
        comp = ev.comparisons[ev.by_coder[only].model]
        echo(f"   one human coder ({only}): human-vs-human agreement is not available")
        for code in ev.model.codes:
            s = comp.statistic("code", code, "cohen_kappa")
            echo(f"   {code:<24}  model vs {only} kappa {_ci(s.estimate, s.low, s.high)}")
    echo(
        f"   Report: {out / 'report.html'} (and report.md, metrics.json, the plots); "
        f"{len(ev.disagreements)} segments where coders or model differ: {out / 'disagreements.xlsx'}"
    )
    return ev


def _nan(x: float | None) -> float:
    return float("nan") if x is None else float(x)


def _ci(est: float | None, low: float | None, high: float | None) -> str:
    if est is None:
        return "        –         "
    if low is None or high is None:
        return f"{est:.2f}"
    return f"{est:.2f} [{low:.2f}, {high:.2f}]"
