"""The transformer coder on a tiny local BERT: nothing is downloaded and no socket is opened.

A module fixture trains a WordPiece tokenizer on the texts of ``data_samples/codings.csv`` and
saves a randomly initialised two-layer BERT (about 0.2 M parameters) as a local model folder;
the tests fine-tune it through the CLI and the library for a few epochs on the CPU.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from mpsoc_nlp import Codebook, ModelError
from mpsoc_nlp.cli import main
from mpsoc_nlp.models.base import load_model
from mpsoc_nlp.models.transformer import TransformerCoder

from .tiny_model import build_tiny_bert, first_documents, killed_after_first_epoch

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "data_samples" / "codings.csv"
PICKLE_GLOBS = ("*.bin", "*.pt", "*.pth", "*.pkl", "*.pickle", "*.ckpt")
# small and fast: short windows, a high learning rate for a random model, no early stopping
TINY = dict(max_length=48, stride=12, batch_size=16, gradient_accumulation_steps=1, learning_rate=3e-3,
            warmup_ratio=0.0, patience=0, eval_batch_size=64)

CONFIG = """
[transformer]
max_length = 48
stride = 12
epochs = 3
batch_size = 16
gradient_accumulation_steps = 1
learning_rate = 3e-3
warmup_ratio = 0.0
patience = 0
# unweighted BCE: a random tiny model first learns the codes' base rates, so the loss clearly falls
pos_weight_cap = 0
"""


# no network, anywhere in this module -------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def no_network() -> Any:
    """Every attempt to open a connection fails and is recorded; the module fails if one was made."""
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args[1:] if args else kwargs))
        raise OSError("network access is forbidden in the tests")

    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", refuse)
    mp.setattr(socket.socket, "connect_ex", refuse)
    mp.setattr(socket, "create_connection", refuse)
    yield attempts
    mp.undo()
    assert attempts == [], f"something tried to open a network connection: {attempts}"


# data and the tiny model -------------------------------------------------------------------
@pytest.fixture(scope="module")
def samples() -> pd.DataFrame:
    if not SAMPLES.is_file():
        pytest.skip(f"the sample corpus {SAMPLES} is missing")
    frame = pd.read_csv(SAMPLES, dtype=str, keep_default_na=False)
    coder = frame["coder"].value_counts().index[0] if "coder" in frame else None
    return frame[frame["coder"] == coder] if coder is not None else frame


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, samples: pd.DataFrame) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("hf") / "tiny-bert", samples["text"].tolist())



@pytest.fixture(scope="module")
def train_csv(tmp_path_factory: pytest.TempPathFactory, samples: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.csv"
    first_documents(samples, 8).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, train_csv: Path) -> Path:
    """A model folder written by ``mpsoc train --backend transformer`` (3 epochs)."""
    tmp = tmp_path_factory.mktemp("trained")
    cfg = tmp / "tiny.toml"
    cfg.write_text(CONFIG, encoding="utf-8")
    out = tmp / "model"
    code = main(["train", str(train_csv), "--out", str(out), "--backend", "transformer", "--model", str(tiny_model),
                 "--config", str(cfg), "--folds", "0", "--seed", "1"])
    assert code == 0
    return out


def _codes(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    cb = Codebook.default()
    return [cb.parse_codes(c) for c in frame["codes"]]


# tests -----------------------------------------------------------------------------------
def test_cli_trains_saves_without_pickle_and_the_loss_falls(trained: Path) -> None:
    meta = json.loads((trained / "model.json").read_text(encoding="utf-8"))
    assert meta["backend"] == "transformer" and meta["strategy"] == "finetune"
    losses = [h["train_loss"] for h in meta["history"]]
    assert len(losses) == 3 and losses[-1] < losses[0] * 0.9, losses
    assert all("val_macro_f1" in h for h in meta["history"])
    assert meta["n_validation"] > 0 and len(meta["thresholds"]) == 10
    assert "trust_remote_code" not in meta["params"] and "device" not in meta["params"]
    for pattern in PICKLE_GLOBS:
        assert not list(trained.rglob(pattern)), pattern
    assert (trained / "model.safetensors").is_file() and (trained / "config.json").is_file()
    assert (trained / "tokenizer.json").is_file() or (trained / "vocab.txt").is_file()
    card = (trained / "README.md").read_text(encoding="utf-8")
    assert "backend: `transformer`" in card and "No pickle" in card
    config = json.loads((trained / "config.json").read_text(encoding="utf-8"))
    assert config["problem_type"] == "multi_label_classification"
    assert list(config["id2label"].values()) == list(Codebook.default().codes)


def test_classify_uses_the_saved_folder_and_loading_gives_the_same_probabilities(
    trained: Path, train_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "pred.csv"
    assert main(["classify", str(trained), str(train_csv), "--out", str(out)]) == 0
    pred = pd.read_csv(out, comment="#")
    cols = [c for c in pred.columns if c.startswith("p:")]
    assert len(cols) == 10 and "review" in pred.columns
    texts = pd.read_csv(train_csv, dtype=str, keep_default_na=False)["text"].tolist()
    first = load_model(trained).predict_proba(texts)
    second = load_model(trained).predict_proba(texts)
    np.testing.assert_allclose(first, second, rtol=0, atol=1e-6)
    np.testing.assert_allclose(pred[cols].to_numpy(), first, atol=6e-5)


def test_save_and_load_round_trip_is_exact_and_one_seed_gives_one_model(
    tiny_model: Path, samples: pd.DataFrame, tmp_path: Path
) -> None:
    data = first_documents(samples, 5)
    texts, codes, groups = data["text"].tolist(), _codes(data), data["document_id"].tolist()

    def fit(**kw: Any) -> TransformerCoder:
        return TransformerCoder(model_name_or_path=str(tiny_model), epochs=2, seed=7, **TINY, **kw).fit(
            texts, codes, groups=groups
        )

    # identical up to float32 rounding: a CPU kernel may sum in another order from call to call
    a = fit()
    b = fit()
    pa = a.predict_proba(texts)
    np.testing.assert_allclose(b.predict_proba(texts), pa, rtol=0, atol=1e-6)
    assert a.predict(texts) == b.predict(texts)
    a.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(texts), pa, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(loaded.thresholds_, a.thresholds_)

    # a job killed after epoch 1 and resumed from its checkpoint ends with the same model
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        killed_after_first_epoch()(model_name_or_path=str(tiny_model), epochs=2, seed=7, checkpoint_dir=str(ckpt),
                                   resume=True, **TINY).fit(texts, codes, groups=groups)
    assert list(ckpt.glob("*/last.safetensors")) and not list(ckpt.rglob("*.pt"))
    trained_epochs: list[int] = []

    class Resumed(TransformerCoder):
        def _epoch_end(self, epoch: int) -> None:
            trained_epochs.append(epoch)

    resumed = Resumed(model_name_or_path=str(tiny_model), epochs=2, seed=7, checkpoint_dir=str(ckpt), resume=True,
                      **TINY).fit(texts, codes, groups=groups)
    assert trained_epochs == [2] and [h["epoch"] for h in resumed.history_] == [1, 2]
    np.testing.assert_allclose(resumed.predict_proba(texts), pa, rtol=0, atol=1e-6)


def test_long_segments_are_windowed_and_give_one_row(trained: Path, samples: pd.DataFrame) -> None:
    model = load_model(trained)
    assert isinstance(model, TransformerCoder)
    long_text = " ".join(samples["text"].tolist()[:12])
    short = "Jeg savner gutta fra byen."
    windows = model.n_windows([short, long_text])
    assert windows[0] == 1 and windows[1] > 1
    proba = model.predict_proba([short, long_text])
    assert proba.shape == (2, 10) and np.isfinite(proba).all()
    # the long text's logits are the maximum over its windows' logits
    from mpsoc_nlp.models._hf import make_windows

    wins, _ = make_windows(model.tokenizer_, [long_text], max_length=model.max_length_, stride=model.stride)
    per_window = model._run_windows(model._inference_model(), wins, kind="logits")
    np.testing.assert_allclose(model.decision_function([long_text])[0], per_window.max(axis=0), atol=1e-5)


def test_quantized_classification_is_close(trained: Path, train_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "pred.jsonl"
    assert main(["classify", str(trained), str(train_csv), "--out", str(out), "--quantize"]) == 0
    texts = pd.read_csv(train_csv, dtype=str, keep_default_na=False)["text"].tolist()[:40]
    full = load_model(trained).predict_proba(texts)
    quantized = load_model(trained, quantize=True)
    q = quantized.predict_proba(texts)
    assert np.abs(full - q).max() < 0.1
    # the int8 copy shares the embeddings with the float model and leaves its linear layers as they were
    import torch

    infer, model = quantized._inference_model(), quantized.model_
    assert infer is not model
    emb = model.get_input_embeddings().weight
    assert infer.get_input_embeddings().weight.data_ptr() == emb.data_ptr()
    linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linear and all(m.weight.dtype == torch.float32 for m in linear)
    assert not any(isinstance(m, torch.nn.Linear) for m in infer.modules())
    np.testing.assert_array_equal(load_model(trained).predict_proba(texts), full)


def test_frozen_strategy_through_the_cli(tiny_model: Path, train_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "frozen"
    assert main(["train", str(train_csv), "--out", str(out), "--backend", "transformer", "--model", str(tiny_model),
                 "--strategy", "frozen", "--folds", "0"]) == 0
    meta = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert meta["strategy"] == "frozen" and (out / "head.safetensors").is_file()
    assert not any(list(out.rglob(p)) for p in PICKLE_GLOBS)
    texts = pd.read_csv(train_csv, dtype=str, keep_default_na=False)["text"].tolist()[:30]
    model = load_model(out)
    proba = model.predict_proba(texts)
    assert proba.shape == (30, 10) and ((proba >= 0) & (proba <= 1)).all()
    assert len(model.predict(texts)) == 30


def test_a_missing_hub_model_exits_2_with_instructions(
    train_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    code = main(["train", str(train_csv), "--out", str(tmp_path / "m"), "--backend", "transformer",
                 "--model", "NbAiLab/nb-bert-base", "--folds", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert "model 'NbAiLab/nb-bert-base' is not available offline" in err
    assert "hf download NbAiLab/nb-bert-base --local-dir nb-bert-base" in err
    assert "--model /path/to/nb-bert-base" in err and "Traceback" not in err
    code = main(["train", str(train_csv), "--out", str(tmp_path / "m"), "--backend", "transformer",
                 "--model", str(tmp_path / "no-such-folder"), "--folds", "0"])
    assert code == 2 and "no such model folder" in capsys.readouterr().err
    # HF_HUB_OFFLINE=1 forbids a download even where the settings would allow one
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match=re.escape("is not available offline")):
        TransformerCoder(model_name_or_path="NbAiLab/nb-bert-base", local_files_only=False).fit(["a", "b"], [(), ()])


def test_remote_code_only_when_asked(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "custom"
    folder.mkdir()
    for f in tiny_model.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["auto_map"] = {"AutoModel": "modeling_custom.CustomModel"}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ModelError, match=re.escape("set 'trust_remote_code = true' in the --config TOML")):
        TransformerCoder(model_name_or_path=str(folder)).fit(["a", "b"], [(), ()])


def test_estimator_contract_and_bad_settings(tiny_model: Path) -> None:
    from sklearn.base import clone

    coder = TransformerCoder(model_name_or_path=str(tiny_model), epochs=4, strategy="frozen")
    copy = clone(coder)
    assert copy.get_params()["epochs"] == 4 and copy.get_params()["strategy"] == "frozen"
    with pytest.raises(ValueError, match="strategy must be one of finetune, frozen"):
        TransformerCoder(model_name_or_path=str(tiny_model), strategy="lora").fit(["a", "b"], [(), ()])  # type: ignore[arg-type]


def test_import_mpsoc_nlp_does_not_import_torch() -> None:
    code = (
        "import sys, mpsoc_nlp, mpsoc_nlp.cli, mpsoc_nlp.training, mpsoc_nlp.models.transformer; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_crossval_and_evaluate_work_on_the_transformer_backend(
    tiny_model: Path, trained: Path, train_csv: Path, tmp_path: Path
) -> None:
    cfg = tmp_path / "frozen.toml"
    cfg.write_text('[transformer]\nstrategy = "frozen"\nmax_length = 48\nstride = 12\n', encoding="utf-8")
    assert main(["crossval", str(train_csv), "--out", str(tmp_path / "cv"), "--backend", "transformer",
                 "--model", str(tiny_model), "--config", str(cfg), "--folds", "2"]) == 0
    assert (tmp_path / "cv" / "metrics.json").is_file()
    # the gold is the training file: refused by default, scored and labelled with --include-training-data
    argv = ["evaluate", str(trained), str(train_csv), "--out", str(tmp_path / "ev"), "--resamples", "20"]
    assert main(argv) == 2
    assert main([*argv, "--include-training-data"]) == 0
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["training_data_scores"] is True and metrics["training_overlap"]["files"] == [train_csv.name]


def test_validation_split_keeps_documents_whole() -> None:
    from mpsoc_nlp.models.transformer import _validation_split

    groups = [f"D{i // 7}" for i in range(70)]
    train, val = _validation_split(70, groups, 0.2, seed=3)
    assert len(set(train) | set(val)) == 70 and not set(train) & set(val)
    assert not {groups[i] for i in train} & {groups[i] for i in val}
    assert 14 <= len(val) <= 21


def test_training_configs_are_valid() -> None:
    from mpsoc_nlp.training import read_config

    configs = sorted((REPO / "training").glob("*.toml"))
    assert {c.name for c in configs} >= {"nb-bert-base.toml", "nb-bert-large.toml", "norbert3-base.toml"}
    for path in configs:
        coder = TransformerCoder(**read_config(path, "transformer"))
        coder._check_params()
    assert read_config(REPO / "training" / "norbert3-base.toml", "transformer")["trust_remote_code"] is True
