"""Freezing the bottom of the encoder and layer-wise learning rates, on a tiny local BERT (two layers)."""

from __future__ import annotations

import json
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
from mpsoc_nlp.models.finetune import FineTuneLoop
from mpsoc_nlp.models.layers import encoder_parts, parameter_groups
from mpsoc_nlp.models.transformer import TransformerCoder

from .tiny_model import build_tiny_bert, first_documents, killed_after_first_epoch

REPO = Path(__file__).resolve().parents[1]
TINY = dict(max_length=48, stride=12, batch_size=16, gradient_accumulation_steps=1, learning_rate=3e-3,
            warmup_ratio=0.0, patience=0, eval_batch_size=64)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory, coder_a_rows: pd.DataFrame) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("hf") / "tiny-bert", coder_a_rows["text"].tolist(), layers=2)


@pytest.fixture(scope="module")
def data(coder_a_rows: pd.DataFrame) -> tuple[list[str], list[tuple[str, ...]], list[str]]:
    frame = first_documents(coder_a_rows, 4)
    cb = Codebook.default()
    return frame["text"].tolist(), [cb.parse_codes(c) for c in frame["codes"]], frame["document_id"].tolist()


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory, coder_a_rows: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.csv"
    first_documents(coder_a_rows, 3).to_csv(path, index=False)
    return path


def _tensors(module: Any) -> dict[str, np.ndarray]:
    return {n: p.detach().cpu().numpy().copy() for n, p in module.named_parameters()}


def _loop(tiny_model: Path, data: Any, **params: Any) -> FineTuneLoop:
    coder = TransformerCoder(model_name_or_path=str(tiny_model), epochs=1, **{**TINY, **params})
    coder._check_params()
    texts, codes, groups = data
    from mpsoc_nlp.models.base import as_code_sets

    cb = Codebook.default()
    return FineTuneLoop(coder, tiny_model, texts, as_code_sets(codes, cb), groups, cb)


@pytest.mark.parametrize("freeze", [1, 2])
def test_frozen_layers_do_not_change_and_the_layers_above_do(tiny_model, data, freeze):
    from transformers import BertModel

    base = BertModel.from_pretrained(str(tiny_model))
    texts, codes, groups = data
    coder = TransformerCoder(model_name_or_path=str(tiny_model), epochs=1, freeze_layers=freeze, seed=3, **TINY)
    coder.fit(texts, codes, groups=groups)
    bert = coder.model_.bert
    for name, module, before in [("embeddings", bert.embeddings, base.embeddings),
                                 *[(f"layer {i}", bert.encoder.layer[i], base.encoder.layer[i]) for i in range(2)]]:
        after, start = _tensors(module), _tensors(before)
        changed = [n for n in after if not np.array_equal(after[n], start[n])]
        frozen = name == "embeddings" or int(name.split()[1]) < freeze
        if frozen:
            assert changed == [], f"{name} of a model with freeze_layers={freeze} changed: {changed}"
        else:
            assert len(changed) == len(after), f"{name} should have learned; unchanged: {set(after) - set(changed)}"
    pooler, start = _tensors(bert.pooler), _tensors(base.pooler)
    assert all(not np.array_equal(pooler[n], start[n]) for n in pooler)  # above the encoder: always trained


def test_freeze_embeddings_still_freezes_the_word_embeddings_only(tiny_model, data):
    from transformers import BertModel

    base = BertModel.from_pretrained(str(tiny_model)).embeddings
    texts, codes, groups = data
    coder = TransformerCoder(model_name_or_path=str(tiny_model), epochs=1, freeze_embeddings=True, **TINY)
    after, start = _tensors(coder.fit(texts, codes, groups=groups).model_.bert.embeddings), _tensors(base)
    changed = {n for n in after if not np.array_equal(after[n], start[n])}
    assert "word_embeddings.weight" not in changed and "position_embeddings.weight" in changed


def test_learning_rates_follow_the_decay_by_depth(tiny_model, data):
    loop = _loop(tiny_model, data, learning_rate=1e-3, layerwise_lr_decay=0.5)
    lr_of = {id(p): g["lr"] for g in loop.optimizer.param_groups for p in g["params"]}
    bert = loop.model.bert
    expected = [(bert.embeddings, 1e-3 * 0.5**3), (bert.encoder.layer[0], 1e-3 * 0.5**2),
                (bert.encoder.layer[1], 1e-3 * 0.5), (bert.pooler, 1e-3), (loop.model.classifier, 1e-3)]
    for module, lr in expected:
        assert sorted({lr_of[id(p)] for p in module.parameters()}) == pytest.approx([lr])
    assert len(lr_of) == sum(1 for _ in loop.model.parameters())  # every parameter is trained
    no_decay = [g for g in loop.optimizer.param_groups if g["weight_decay"] == 0.0]
    assert no_decay and all(p.ndim < 2 for g in no_decay for p in g["params"])

    frozen = _loop(tiny_model, data, learning_rate=1e-3, layerwise_lr_decay=0.5, freeze_layers=1)
    trained = {id(p) for g in frozen.optimizer.param_groups for p in g["params"]}
    fb = frozen.model.bert
    assert not trained & {id(p) for m in (fb.embeddings, fb.encoder.layer[0]) for p in m.parameters()}
    assert sorted({g["lr"] for g in frozen.optimizer.param_groups}) == pytest.approx([5e-4, 1e-3])

    plain = _loop(tiny_model, data, learning_rate=1e-3)  # the default: one learning rate, as before
    assert {g["lr"] for g in plain.optimizer.param_groups} == {1e-3} and len(plain.optimizer.param_groups) == 2


def test_encoder_parts_of_other_bert_like_models_and_a_clear_error_for_unknown_ones():
    import torch
    from transformers import (
        DistilBertConfig,
        DistilBertForSequenceClassification,
        XLMRobertaConfig,
        XLMRobertaForSequenceClassification,
    )

    xlmr = XLMRobertaForSequenceClassification(XLMRobertaConfig(
        vocab_size=50, hidden_size=8, num_hidden_layers=3, num_attention_heads=2, intermediate_size=8, num_labels=4))
    distil = DistilBertForSequenceClassification(DistilBertConfig(
        vocab_size=50, dim=8, n_layers=2, n_heads=2, hidden_dim=8, num_labels=4))
    for model, n in ((xlmr, 3), (distil, 2)):
        parts = encoder_parts(model)
        assert len(parts.layers) == n and parts.rest and all("classifier" in name or "pre_classifier" in name
                                                            for name, _ in parts.rest)
    unknown = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    assert len(parameter_groups(unknown, lr=1e-3, weight_decay=0.01)) == 2  # no decay asked: any model works
    with pytest.raises(ModelError, match="unknown layout"):
        parameter_groups(unknown, lr=1e-3, weight_decay=0.01, decay=0.8)


def test_the_options_round_trip_through_the_cli_config_and_model_json(tiny_model, small_csv, tmp_path):
    cfg = tmp_path / "ft.toml"
    cfg.write_text("[transformer]\nepochs = 1\nmax_length = 32\nstride = 8\nbatch_size = 16\n"
                   "gradient_accumulation_steps = 1\nfreeze_layers = 1\nlayerwise_lr_decay = 0.8\n", encoding="utf-8")
    out = tmp_path / "model"
    assert main(["train", str(small_csv), "--backend", "transformer", "--model", str(tiny_model),
                 "--config", str(cfg), "--folds", "0", "--out", str(out)]) == 0
    meta = json.loads((out / "model.json").read_text(encoding="utf-8"))
    assert meta["params"]["freeze_layers"] == 1 and meta["params"]["layerwise_lr_decay"] == 0.8
    loaded = load_model(out)
    assert (loaded.freeze_layers, loaded.layerwise_lr_decay) == (1, 0.8)

    # a folder of an earlier version, without the options, loads with the defaults
    for key in ("freeze_layers", "layerwise_lr_decay"):
        del meta["params"][key]
    (out / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    old = load_model(out)
    assert (old.freeze_layers, old.layerwise_lr_decay) == (0, 1.0)
    texts = pd.read_csv(small_csv, dtype=str, keep_default_na=False)["text"].tolist()
    np.testing.assert_allclose(old.predict_proba(texts), loaded.predict_proba(texts), rtol=0, atol=1e-6)


@pytest.mark.parametrize(("setting", "message"), [
    ("freeze_layers = -1", "freeze_layers must be a whole number of at least 0"),
    ("freeze_layers = 3", "freeze_layers is 3, but the model has only 2 layers"),
    ("freeze_layers = 1.5", "freeze_layers must be a whole number"),
    ("layerwise_lr_decay = 0.0", "layerwise_lr_decay must be a number in (0, 1]"),
    ("layerwise_lr_decay = -0.5", "layerwise_lr_decay must be a number in (0, 1]"),
    ("layerwise_lr_decay = 1.5", "layerwise_lr_decay must be a number in (0, 1]"),
])
def test_bad_values_exit_2_with_a_clear_message(tiny_model, small_csv, tmp_path, capsys, setting, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f"[transformer]\nepochs = 1\nmax_length = 32\nstride = 8\n{setting}\n", encoding="utf-8")
    code = main(["train", str(small_csv), "--backend", "transformer", "--model", str(tiny_model),
                 "--config", str(cfg), "--folds", "0", "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "internal error" not in err
    assert not (tmp_path / "m").exists()


def test_one_seed_gives_one_model_and_resume_is_exact(tiny_model, data, tmp_path):
    texts, codes, groups = data
    settings = dict(model_name_or_path=str(tiny_model), epochs=2, seed=5, freeze_layers=1, layerwise_lr_decay=0.7,
                    **TINY)
    first = TransformerCoder(**settings).fit(texts, codes, groups=groups)
    again = TransformerCoder(**settings).fit(texts, codes, groups=groups)
    expected = first.predict_proba(texts)
    np.testing.assert_allclose(again.predict_proba(texts), expected, rtol=0, atol=1e-6)

    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        killed_after_first_epoch()(**settings, checkpoint_dir=str(ckpt), resume=True).fit(texts, codes, groups=groups)
    resumed = TransformerCoder(**settings, checkpoint_dir=str(ckpt), resume=True).fit(texts, codes, groups=groups)
    assert [h["epoch"] for h in resumed.history_] == [1, 2]
    np.testing.assert_allclose(resumed.predict_proba(texts), expected, rtol=0, atol=1e-6)


def test_the_options_at_their_defaults_keep_the_checkpoint_key_of_earlier_versions(tiny_model, data):
    """A run checkpointed by a version without these options resumes after the upgrade."""
    from mpsoc_nlp.models.base import as_code_sets

    class Earlier(TransformerCoder):
        def get_params(self, deep: bool = True) -> dict[str, Any]:
            params = super().get_params(deep)
            del params["freeze_layers"], params["layerwise_lr_decay"]
            return params

    texts, codes, groups = data
    y = as_code_sets(codes, Codebook.default())
    key = Earlier(model_name_or_path=str(tiny_model))._run_key(texts, y, groups)
    assert TransformerCoder(model_name_or_path=str(tiny_model))._run_key(texts, y, groups) == key
    assert TransformerCoder(model_name_or_path=str(tiny_model), freeze_layers=1)._run_key(texts, y, groups) != key
