"""The hybrid coder: hashed n-grams beside a frozen encoder's vectors, on a tiny local BERT."""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mpsoc_nlp.cli import main
from mpsoc_nlp.errors import InputError, ModelError
from mpsoc_nlp.models import HybridCoder, LinearCoder, load_model

from .tiny_model import encoder_rows, first_documents

pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data_samples" / "codings.csv"
SMALL = {"n_features": 2**12}  # fewer hash buckets: the same code paths, smaller folders


@pytest.fixture(scope="module")
def tiny(tiny_bert: Path) -> Path:
    return tiny_bert


@pytest.fixture(scope="module")
def data(coder_a_rows: pd.DataFrame) -> pd.DataFrame:
    return first_documents(coder_a_rows, 6)


def _codes(data: pd.DataFrame) -> list[list[str]]:
    return [[c.strip() for c in s.split(";") if c.strip()] for s in data["codes"]]


@pytest.fixture(scope="module")
def fitted(tiny: Path, data: pd.DataFrame) -> HybridCoder:
    return HybridCoder(encoder=str(tiny), **SMALL).fit(
        data["text"].tolist(), _codes(data), groups=data["document_id"].tolist()
    )


@pytest.fixture(scope="module")
def saved(fitted: HybridCoder, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fitted.save(tmp_path_factory.mktemp("models") / "hybrid")


def test_fit_learns_weights_for_the_encoder_block_and_predicts_code_sets(fitted, data):
    texts = data["text"].tolist()
    proba = fitted.predict_proba(texts)
    assert proba.shape == (len(texts), 10) and np.all((proba >= 0) & (proba <= 1))
    assert fitted.encoder_dim_ == 48  # the tiny BERT's hidden size
    assert fitted.coef_.shape[1] == 2 * SMALL["n_features"] + 48
    assert np.abs(fitted.coef_[:, -48:]).sum() > 0  # the encoder block is used
    linear = LinearCoder(**SMALL).fit(texts, _codes(data), groups=data["document_id"].tolist())
    assert not np.allclose(linear.predict_proba(texts), proba)
    preds = fitted.predict(texts[:5])
    assert len(preds) == 5 and all(isinstance(p, tuple) for p in preds)


def test_every_linear_setting_is_a_hybrid_setting():
    """The hybrid forwards each LinearCoder parameter by name (a new one must be added to both)."""
    linear = set(LinearCoder().get_params())
    hybrid = HybridCoder().get_params()
    assert linear <= set(hybrid)
    assert {"encoder", "text_prefix", "weight", "max_length"} <= set(hybrid)
    assert hybrid["text_prefix"] == "passage: " and hybrid["weight"] == 2.0


def test_save_and_load_give_the_same_probabilities_without_the_source_encoder(tiny, data, tmp_path):
    source = Path(shutil.copytree(tiny, tmp_path / "encoder-source"))
    model = HybridCoder(encoder=str(source), **SMALL).fit(data["text"].tolist(), _codes(data))
    expected = model.predict_proba(data["text"].tolist())
    model.save(tmp_path / "model")
    shutil.rmtree(source)  # the model folder carries its own copy of the encoder
    loaded = load_model(tmp_path / "model")
    assert isinstance(loaded, HybridCoder)
    np.testing.assert_array_equal(loaded.predict_proba(data["text"].tolist()), expected)
    np.testing.assert_array_equal(loaded.thresholds_, model.thresholds_)
    meta = json.loads((tmp_path / "model" / "model.json").read_text())
    assert meta["backend"] == "hybrid" and meta["encoder_dim"] == 48
    listed = json.loads((tmp_path / "model" / "encoder_files.json").read_text())["sha256"]
    assert "model.safetensors" in listed and "config.json" in listed


def test_the_single_fit_of_large_corpora_keeps_the_encoder_block_apart(tiny, data, tmp_path):
    """From single_fit_from segments the linear coder fits once in row slices; the hybrid's dense
    block gets no idf there, each text goes through the encoder once, and the model saves, loads and
    predicts as it was fitted."""
    texts, groups = data["text"].tolist(), data["document_id"].tolist()
    with encoder_rows() as rows:  # the training rows are hashed twice, but embedded once
        model = HybridCoder(encoder=str(tiny), single_fit_from=10, **SMALL).fit(texts, _codes(data), groups=groups)
    assert rows["n"] == _windows(tiny, texts, model.encoder_.max_length_) and not hasattr(model, "embedding_cache")
    assert len(model.idf_) == 2 and all(len(i) == SMALL["n_features"] for i in model.idf_)
    assert model.coef_.shape[1] == 2 * SMALL["n_features"] + 48
    expected = model.predict_proba(texts)
    loaded = load_model(model.save(tmp_path / "single"))
    np.testing.assert_array_equal(loaded.predict_proba(texts), expected)


def test_a_changed_encoder_file_is_refused_naming_the_file(saved, tmp_path):
    copy = Path(shutil.copytree(saved, tmp_path / "copy"))
    config = copy / "encoder" / "config.json"
    config.write_text(config.read_text().replace('"hidden_act"', ' "hidden_act"', 1))
    with pytest.raises(ModelError, match=re.escape(f"{config}: changed since the model was saved")):
        load_model(copy)
    assert main(["classify", str(copy), str(SAMPLES), "--out", str(tmp_path / "p.csv")]) == 2


def test_an_unlisted_or_missing_encoder_file_is_refused(saved, tmp_path):
    extra = Path(shutil.copytree(saved, tmp_path / "extra"))
    (extra / "encoder" / "modeling_evil.py").write_text("print('hi')\n")
    with pytest.raises(ModelError, match=r"holds \['modeling_evil.py'\], which encoder_files.json does not list"):
        load_model(extra)
    missing = Path(shutil.copytree(saved, tmp_path / "missing"))
    (missing / "encoder" / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match=r"tokenizer.json: missing"):
        load_model(missing)


def test_the_folder_holds_no_training_text(saved, data):
    meta = json.loads((saved / "model.json").read_text())
    assert meta["keeps_vocabulary"] is False and not (saved / "vocabulary.json").exists()
    blobs = [p.read_bytes() for p in saved.rglob("*") if p.is_file()]
    texts = [t for t in data["text"] if len(t) >= 25]
    assert len(texts) >= 30
    leaked = [t for t in texts if any(t.encode("utf-8") in b or t[:25].encode("utf-8") in b for b in blobs)]
    assert leaked == []
    assert "no training text" in (saved / "README.md").read_text()


def test_same_seed_same_model(tiny, data):
    def fit(seed: int) -> HybridCoder:
        return HybridCoder(encoder=str(tiny), seed=seed, **SMALL).fit(
            data["text"].tolist(), _codes(data), groups=data["document_id"].tolist()
        )

    a, b = fit(4), fit(4)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.thresholds_, b.thresholds_)


def test_cli_trains_and_classifies_a_hybrid_model(tiny, data, tmp_path, capsys):
    train_csv = tmp_path / "train.csv"
    data.to_csv(train_csv, index=False)
    model = tmp_path / "model"
    assert main(["train", str(train_csv), "--backend", "hybrid", "--model", str(tiny), "--folds", "2",
                 "--out", str(model)]) == 0
    assert "Trained a hybrid model" in capsys.readouterr().out
    meta = json.loads((model / "model.json").read_text())
    assert meta["backend"] == "hybrid" and meta["params"]["weight"] == 2.0 and len(meta["metrics"]["folds"]) == 2
    assert "frozen encoder" in (model / "README.md").read_text()
    preds = tmp_path / "preds.csv"
    assert main(["classify", str(model), str(train_csv), "--out", str(preds)]) == 0
    out = pd.read_csv(preds, dtype=str, keep_default_na=False, comment="#")
    assert len(out) == len(data) and "p:geografisk:positiv" in out.columns
    assert main(["train", str(train_csv), "--model", str(tiny), "--out", str(tmp_path / "lin")]) == 2
    assert "--backend hybrid" in capsys.readouterr().err


def test_quantize_is_allowed_but_warns_what_it_costs(saved, data, tmp_path, caplog, capsys):
    texts = tmp_path / "texts.csv"
    data[["text", "document_id"]].head(10).to_csv(texts, index=False)
    with caplog.at_level(logging.WARNING, logger="mpsoc_nlp"):
        assert main(["classify", str(saved), str(texts), "--quantize", "--out", str(tmp_path / "q.csv")]) == 0
    assert any("quantize" in r.getMessage() and "dev mean kappa" in r.getMessage() for r in caplog.records)
    assert (tmp_path / "q.csv").is_file()
    with pytest.raises(ModelError, match="unknown load option"):
        load_model(saved, precision="bf16")


def _windows(tiny: Path, texts, max_length: int) -> int:
    """How many encoder windows the distinct texts make, with the prefix."""
    from transformers import AutoTokenizer

    from mpsoc_nlp.models._hf import make_windows

    prefixed = ["passage: " + t for t in dict.fromkeys(texts)]
    windows, _ = make_windows(AutoTokenizer.from_pretrained(str(tiny)), prefixed, max_length=max_length, stride=64)
    return len(windows)


def test_each_text_is_embedded_once_per_training_run(tiny, data, tmp_path):
    """Outer CV folds, their inner threshold folds and the final fit share one pass of the encoder."""
    from mpsoc_nlp.training import train

    path = tmp_path / "six.csv"
    data.to_csv(path, index=False)
    with encoder_rows() as rows:
        model = train(path, backend="hybrid", encoder=str(tiny), n_features=2**12, max_length=128, cv_folds=3)
    assert len(data["text"].unique()) >= 40
    assert rows["n"] == _windows(tiny, data["text"].unique(), 128)  # not once per fold, per inner fold, at the end
    assert not hasattr(model, "embedding_cache")


def test_bad_settings_and_damaged_folders_end_in_plain_errors(tiny, saved, data, tmp_path):
    from mpsoc_nlp.training import make_coder

    with pytest.raises(InputError, match=r"unknown setting\(s\) \['strategy'\] for the hybrid backend"):
        make_coder("hybrid", strategy="frozen")
    with pytest.raises(InputError, match="weight must be a number above 0"):
        HybridCoder(encoder=str(tiny), weight=0).fit(["a b", "c d"], [[], []])
    with pytest.raises(ModelError, match="no such model folder"):
        HybridCoder(encoder=str(tmp_path / "nowhere")).fit(["a b", "c d"], [[], []])
    damaged = Path(shutil.copytree(saved, tmp_path / "damaged"))
    meta = json.loads((damaged / "model.json").read_text())
    meta["encoder_dim"] = "many"
    (damaged / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="'encoder_dim' is 'many'"):
        load_model(damaged)


def test_the_demo_runs_the_hybrid_coder_on_a_small_corpus(tiny, tmp_path, capsys):
    """``mpsoc demo --backend hybrid --model FOLDER`` on a few documents of the sample corpus."""
    split = json.loads((REPO / "data_samples" / "splits.json").read_text(encoding="utf-8"))
    small = {"train": sorted(split["train"])[:5], "test": sorted(split["test"])[:3]}
    frame = pd.read_csv(SAMPLES, dtype=str, keep_default_na=False)
    corpus = tmp_path / "corpus"
    shutil.copytree(REPO / "data_samples" / "interviews", corpus / "interviews")
    frame[frame["document_id"].isin(small["train"] + small["test"])].to_csv(corpus / "codings.csv", index=False)
    (corpus / "splits.json").write_text(json.dumps(small), encoding="utf-8")
    out = tmp_path / "demo"
    assert main(["demo", "--data", str(corpus), "--out", str(out), "--backend", "hybrid", "--model", str(tiny)]) == 0
    assert "Train the hybrid coder" in capsys.readouterr().out
    assert json.loads((out / "model" / "model.json").read_text())["backend"] == "hybrid"
    assert (out / "evaluation" / "report.html").is_file() and (out / "forslag.qdpx").is_file()
    assert main(["demo", "--data", str(corpus), "--out", str(out), "--model", str(tiny)]) == 2
