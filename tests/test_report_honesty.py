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
