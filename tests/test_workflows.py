"""train / classify / crossval through the CLI, on real files of the sample corpus."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mpsoc_nlp.cli import main
from mpsoc_nlp.models import load_model

from .conftest import SAMPLES
from .metrics_keys import expected, key_paths


@pytest.fixture(scope="module")
def train_file(tmp_path_factory, small_train):
    path = tmp_path_factory.mktemp("data") / "koding.csv"
    small_train.drop(columns=["source_file", "source_row"]).assign(
        codes=["; ".join(c) for c in small_train["codes"]]
    ).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, train_file):
    out = tmp_path_factory.mktemp("models") / "m"
    assert main(["train", str(train_file), "--out", str(out), "--folds", "3", "--seed", "7"]) == 0
    return out


def test_train_writes_a_model_card_with_crossvalidated_scores(model_dir):
    meta = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    assert meta["seed"] == 7 and meta["coder"] == "A"
    assert meta["training_data"]["files"][0]["name"] == "koding.csv"
    assert len(meta["training_data"]["files"][0]["sha256"]) == 64
    assert 0 <= meta["metrics"]["summary"]["macro_f1"] <= 1 and len(meta["metrics"]["folds"]) == 3
    card = (model_dir / "README.md").read_text(encoding="utf-8")
    assert "Cross-validated scores" in card and "Intended use and limits" in card


def test_same_seed_twice_gives_identical_models(tmp_path, train_file, model_dir):
    out = tmp_path / "again"
    assert main(["train", str(train_file), "--out", str(out), "--folds", "3", "--seed", "7"]) == 0
    a, b = (np.load(d / "weights.npz") for d in (model_dir, out))
    assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
    ma, mb = (json.loads((d / "model.json").read_text(encoding="utf-8")) for d in (model_dir, out))
    for m in (ma, mb):
        m.pop("created"), m.pop("name")
    assert ma == mb


def test_train_with_two_coders_says_whose_codes_it_learns(tmp_path, capsys, caplog):
    out = tmp_path / "m"
    assert main(["train", str(SAMPLES / "codings.csv"), "--out", str(out), "--folds", "0", "--coder", "B"]) == 0
    meta = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert meta["coder"] == "B" and meta["training_data"]["segments"] == 323
    assert "(coder B)" in capsys.readouterr().out
    assert "training on coder 'B' (as asked)" in caplog.text


def test_train_refuses_to_replace_a_model_without_force(model_dir, train_file, capsys):
    assert main(["train", str(train_file), "--out", str(model_dir), "--folds", "0"]) == 2
    assert "pass --force to replace it" in capsys.readouterr().err


def test_train_needs_codes_and_documents(tmp_path, capsys):
    path = tmp_path / "nocodes.csv"
    pd.DataFrame({"text": ["a", "b"], "document_id": ["d1", "d2"]}).to_csv(path, index=False)
    assert main(["train", str(path), "--out", str(tmp_path / "m")]) == 2
    assert "expected the column 'codes'" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("fmt", ["csv", "tsv", "xlsx", "jsonl", "parquet"])
def test_classify_every_format_keeps_keys_gold_codes_and_metadata(tmp_path, model_dir, train_file, fmt, capsys):
    out = tmp_path / f"pred.{fmt}"
    assert main(["classify", str(model_dir), str(train_file), "--out", str(out), "--chunk-size", "50"]) == 0
    assert "Classified" in capsys.readouterr().out
    codes = [f"p:{c}" for c in load_model(model_dir).codes]
    if fmt in ("csv", "tsv"):
        pred = pd.read_csv(out, sep="," if fmt == "csv" else "\t", keep_default_na=False)
        meta = json.loads(out.with_name(out.name + ".meta.json").read_text(encoding="utf-8"))
    elif fmt == "xlsx":
        pred = pd.read_excel(out, sheet_name="Predictions", keep_default_na=False)
        about = pd.read_excel(out, sheet_name="About")
        meta = dict(zip(about["item"], about["value"]))
    elif fmt == "jsonl":
        lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        assert set(lines[0]["probabilities"]) == {c[2:] for c in codes}
        assert isinstance(lines[0]["codes"], list)
        pred = pd.DataFrame(lines)
        meta = json.loads(out.with_name(out.name + ".meta.json").read_text(encoding="utf-8"))
    else:
        pred = pd.read_parquet(out)
        meta = json.loads(pq.read_schema(out).metadata[b"mpsoc_nlp"])
    src = pd.read_csv(train_file, keep_default_na=False)
    assert pred["segment_id"].tolist() == src["segment_id"].tolist()
    assert {"text", "gold_codes", "codes", "review"} <= set(pred.columns)
    if fmt != "jsonl":
        assert set(codes) <= set(pred.columns)
    assert meta["backend"] == "linear" and "library_version" in meta and "MPSOC" in meta["codebook"]


def test_classify_probabilities_match_the_model(tmp_path, model_dir, small_train):
    out = tmp_path / "pred.csv"
    assert main(["classify", str(model_dir), str(SAMPLES / "codings.jsonl"), "--out", str(out)]) == 0
    pred = pd.read_csv(out, keep_default_na=False)
    model = load_model(model_dir)
    proba = model.predict_proba(pred["text"][:25].tolist())
    np.testing.assert_allclose(pred[[f"p:{c}" for c in model.codes]].to_numpy()[:25], np.round(proba, 4), atol=1e-9)
    expected = ["; ".join(c) for c in model.predict(pred["text"][:25].tolist())]
    assert pred["codes"][:25].tolist() == expected


def test_classify_never_overwrites_inputs_or_outputs(tmp_path, model_dir, train_file, capsys):
    assert main(["classify", str(model_dir), str(train_file), "--out", str(train_file), "--force"]) == 2
    assert "is one of the inputs" in capsys.readouterr().err
    out = tmp_path / "p.csv"
    out.write_text("keep me", encoding="utf-8")
    assert main(["classify", str(model_dir), str(train_file), "--out", str(out)]) == 2
    assert out.read_text(encoding="utf-8") == "keep me"


def test_classify_bad_input_leaves_no_partial_output(tmp_path, model_dir, capsys):
    bad = tmp_path / "bad.csv"
    rows = ["text"] + [f"Segment {i}" for i in range(30)] + [""] * 0
    bad.write_text("\n".join(rows) + "\n", encoding="utf-8")
    bad2 = tmp_path / "bad2.csv"
    bad2.write_text("tekst_x\nhei\n", encoding="utf-8")
    out = tmp_path / "pred.csv"
    assert main(["classify", str(model_dir), str(bad), str(bad2), "--out", str(out), "--chunk-size", "10"]) == 2
    assert "expected the column 'text'" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "bad2.csv"]


def test_classify_a_missing_model_folder_says_how_to_make_one(tmp_path, train_file, capsys):
    assert main(["classify", str(tmp_path / "nope"), str(train_file), "--out", str(tmp_path / "p.csv")]) == 2
    assert re.search(r"no such model folder .*mpsoc train", capsys.readouterr().err)


def test_crossval_with_learning_curve(tmp_path, train_file, capsys):
    out = tmp_path / "cv"
    assert main(["crossval", str(train_file), "--out", str(out), "--folds", "3", "--learning-curve"]) == 0
    printed = capsys.readouterr().out
    assert "Learning curve" in printed and "100% of training documents" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        ".mpsoc-output.json",  # the marker that lets --force replace this folder (issue 11)
        "learning_curve.csv",
        "learning_curve.png",
        "metrics.json",
        "predictions.csv",
        "report.html",
        "report.md",
    ]
    curve = pd.read_csv(out / "learning_curve.csv")
    assert curve["fraction"].tolist() == [0.2, 0.4, 0.6, 0.8, 1.0]
    assert curve["train_segments"].is_monotonic_increasing
    assert (out / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert len(metrics["folds"]) == 3 and set(metrics["per_code"]) == set(load_model_codes())
    assert key_paths(metrics) == expected("crossval")
    preds = pd.read_csv(out / "predictions.csv", keep_default_na=False)
    assert sorted(preds["fold"].unique()) == [0, 1, 2]
    # no document is split between folds
    assert (preds.groupby("document_id")["fold"].nunique() == 1).all()


def load_model_codes():
    from mpsoc_nlp import Codebook

    return Codebook.default().codes
