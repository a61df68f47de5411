"""Reports that cannot flatter: training-data overlap, degenerate human ranges, too few segments.

A small model is trained (through the CLI) on a file of double-coded documents; evaluating it on
that same file, or on a file that shares some of its documents, must say so and leave the seen
documents out unless asked.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mpsoc_nlp import read_segments
from mpsoc_nlp.cli import main

from .conftest import SAMPLES


@pytest.fixture(scope="module")
def corpus() -> pd.DataFrame:
    return read_segments(SAMPLES / "codings.csv")


def _write(rows: pd.DataFrame, path):
    rows = rows.drop(columns=["source_file", "source_row"], errors="ignore")
    rows.assign(codes=["; ".join(c) for c in rows["codes"]]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def double_docs(corpus) -> list[str]:
    return sorted(corpus.loc[corpus["coder"] == "B", "document_id"].unique())


@pytest.fixture(scope="module")
def trained(corpus, double_docs, tmp_path_factory):
    """A model trained on coder A of six double-coded documents: the training file and the model."""
    tmp = tmp_path_factory.mktemp("honest")
    train_file = _write(corpus[corpus["document_id"].isin(double_docs[:6])], tmp / "koding.csv")
    model = tmp / "model"
    assert main(["train", str(train_file), "--out", str(model), "--folds", "0", "--coder", "A"]) == 0
    return train_file, model


def _evaluate(model, gold, out, *extra):
    return main(["evaluate", str(model), str(gold), "--out", str(out), "--resamples", "50", *extra])


def test_model_json_records_the_training_ids_as_salted_hashes_only(trained, double_docs):
    train_file, model = trained
    text = (model / "model.json").read_text(encoding="utf-8")
    meta = json.loads(text)
    ids = meta["training_data"]["ids"]
    assert len(ids["documents"]) == 6 and len(ids["segments"]) == meta["training_data"]["segments"]
    assert len(ids["salt"]) == 32 and all(len(h) == 16 for h in ids["documents"] + ids["segments"])
    for doc in double_docs[:6]:
        assert doc not in text  # neither document ids nor segment ids ("INT-04:3") in clear
    assert "training ids: salted hashes of 6 document ids" in (model / "README.md").read_text(encoding="utf-8")


def test_evaluating_on_the_training_file_refuses_to_score_it_by_default(trained, tmp_path, capsys):
    train_file, model = trained
    out = tmp_path / "report"
    assert _evaluate(model, train_file, out) == 2
    err = capsys.readouterr().err
    assert "every gold document (6) was in the model's training data" in err and "--include-training-data" in err
    assert not out.exists()


def test_training_data_scores_are_labelled_everywhere(trained, tmp_path, capsys):
    train_file, model = trained
    out = tmp_path / "report"
    assert _evaluate(model, train_file, out, "--include-training-data") == 0
    printed = capsys.readouterr()
    assert "WARNING: The gold data overlaps the model's training data" in printed.out
    assert "TRAINING-DATA SCORES" in printed.out and "koding.csv is a training file (same sha256)" in printed.out
    assert "overlaps the model's training data" in printed.err  # the log line, on stderr
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["training_data_scores"] is True
    ov = metrics["training_overlap"]
    assert ov["mode"] == "included" and ov["files"] == ["koding.csv"] and len(ov["documents"]) == 6
    assert metrics["gold"]["documents"] == 6
    for name in ("report.md", "report.html"):
        page = (out / name).read_text(encoding="utf-8")
        head = page[: page.index("Verdicts")]
        assert "TRAINING-DATA SCORES" in head and "Warning." in head, name


def test_overlapping_documents_are_left_out_and_named(trained, corpus, double_docs, tmp_path, capsys):
    _, model = trained
    gold = _write(corpus[corpus["document_id"].isin(double_docs[4:9])], tmp_path / "gold.csv")  # 2 seen, 3 new
    out = tmp_path / "report"
    assert _evaluate(model, gold, out) == 0
    assert "WARNING: The gold data overlaps" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    ov = metrics["training_overlap"]
    assert ov["mode"] == "excluded" and ov["files"] == [] and ov["documents"] == double_docs[4:6]
    assert metrics["training_data_scores"] is False
    assert metrics["gold"]["documents"] == 3
    scored = pd.read_excel(out / "disagreements.xlsx", sheet_name="Disagreements")
    assert not set(scored["document_id"]) & set(double_docs[4:6])
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.index("> **Warning.**") < md.index("## Verdicts")
    assert "Left out: 2 documents the model was trained on" in md


def test_held_out_gold_has_no_warning(trained, corpus, double_docs, tmp_path, capsys):
    _, model = trained
    gold = _write(corpus[corpus["document_id"].isin(double_docs[6:9])], tmp_path / "gold.csv")
    assert _evaluate(model, gold, tmp_path / "report") == 0
    assert "WARNING" not in capsys.readouterr().out
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["training_overlap"]["mode"] == "none"
    assert metrics["training_overlap"]["checked"] == ["file sha256", "document ids", "segment ids"]


# -- verdicts that mean something -------------------------------------------------------------------
def test_verdicts_say_too_few_and_flag_a_one_point_human_range(corpus, tmp_path):
    from mpsoc_nlp import Codebook
    from mpsoc_nlp.evaluation import evaluate_model
    from mpsoc_nlp.report_folders import write_evaluation

    from .test_evaluate import _Copycat

    a = corpus[(corpus["coder"] == "A") & corpus["document_id"].str.startswith("INT-")]
    a = a[a["document_id"].isin(sorted(a["document_id"].unique())[:3])]
    gold = pd.concat([a, a.assign(coder="B")], ignore_index=True)  # B agrees with A on everything
    positives = {c: sum(c in s for s in a["codes"]) for c in Codebook.default().codes}
    frequent = [c for c, n in positives.items() if n >= 12]
    rare = [c for c, n in positives.items() if 2 <= n < 10]
    assert frequent and rare  # the data has both kinds
    # the model copies A but drops each code from its first two segments
    lookup, dropped = {}, dict.fromkeys(positives, 0)
    for text, codes in zip(a["text"], a["codes"], strict=True):
        keep = []
        for c in codes:
            if dropped[c] < 2:
                dropped[c] += 1
            else:
                keep.append(c)
        lookup[text] = tuple(keep)
    ev = evaluate_model(_Copycat(lookup).fitted(Codebook.default()), gold, n_resamples=100)
    by_name = {(v.level, v.name): v for v in ev.verdicts}
    for c in frequent:
        v = by_name[("code", c)]
        assert v.human_low == v.human_high == pytest.approx(1.0) and v.degenerate_range
        assert v.min_positives == positives[c] and v.verdict == "below"
    for c in rare:
        v = by_name[("code", c)]
        assert v.model < 1.0 and v.min_positives == positives[c] and v.verdict == "too_few"
        assert v.verdict_text.startswith("too few segments to decide")
    out = write_evaluation(ev, tmp_path / "report")
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "1.00 – 1.00 (one point)" in md and "too few segments to decide" in md
    row = next(line for line in md.splitlines() if line.startswith(f"| code | {rare[0]} |"))
    assert "[" in row.split("|")[4]  # the model's agreement with a coder is shown with its interval
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    v = next(v for v in metrics["verdicts"] if v["name"] == frequent[0])
    assert v["degenerate_range"] is True and v["min_positives"] == positives[frequent[0]]


# -- crossval: a report page like evaluate's, a learning curve that says what it draws ---------------
def test_crossval_writes_report_html_and_draws_the_human_reference(corpus, double_docs, tmp_path, capsys):
    import base64
    import io

    import numpy as np
    from PIL import Image
    from sklearn.metrics import f1_score

    from mpsoc_nlp import Codebook

    data = _write(corpus[corpus["document_id"].isin(double_docs[:10])], tmp_path / "dobbel.csv")
    out = tmp_path / "cv"
    argv = ["crossval", str(data), "--out", str(out), "--folds", "3", "--learning-curve", "--coder", "A"]
    assert main(argv) == 0
    assert "report.html" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    ref = metrics["human_reference"]
    shared = corpus[corpus["document_id"].isin(double_docs[:10])]
    a = shared[shared["coder"] == "A"].set_index("segment_id")["codes"]
    b = shared[shared["coder"] == "B"].set_index("segment_id")["codes"]
    ids = [s for s in a.index if s in b.index]
    assert ref["coders"] == ["A", "B"] and ref["segments"] == len(ids)
    cb = Codebook.default()
    ya, yb = cb.encode([a[s] for s in ids]), cb.encode([b[s] for s in ids])
    present = ya.sum(axis=0) > 0
    assert ref["summary"]["macro_f1"] == pytest.approx(f1_score(ya[:, present], yb[:, present], average="macro"))

    png = (out / "learning_curve.png").read_bytes()
    legend = Image.open(io.BytesIO(png)).text["Description"]
    assert "band: mean ± 1 sd over folds" in legend
    assert "B vs A (human), macro F1, codes" in legend
    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "http://" not in page and "https://" not in page
    embedded = page.split('src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    assert base64.b64decode(embedded) == png
    assert "Human reference: coder B scored against A" in page
    assert "(mean ± sd over folds)" in page and 'class="num"' in page
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| B vs A (human, " in md and np.isfinite(ref["summary"]["macro_f1"])
