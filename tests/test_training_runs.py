"""Training runs through the CLI: every shipped config (on a tiny BERT deep enough for the layers it
freezes), one encoder pass per segment for ``frozen`` with cross-validation, and one progress line per
fine-tuning epoch on a non-terminal stderr."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mpsoc_nlp.cli import main

from .tiny_model import build_tiny_bert, encoder_rows, first_documents

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip("transformers")
SHIPPED = sorted((REPO / "training").glob("*.toml"))


@pytest.fixture(scope="module")
def tiny_model(tiny_bert: Path) -> Path:
    return tiny_bert


@pytest.fixture(scope="module")
def deep_model(tmp_path_factory: pytest.TempPathFactory, coder_a_rows: pd.DataFrame) -> Path:
    """A tiny BERT deep enough for every shipped config (one layer above the most that one freezes)."""
    from mpsoc_nlp.training import read_config

    deepest = max(int(read_config(p, "transformer").get("freeze_layers", 0)) for p in SHIPPED)
    texts = coder_a_rows["text"].tolist()
    return build_tiny_bert(tmp_path_factory.mktemp("hf") / "tiny-bert", texts, layers=deepest + 1)


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory, coder_a_rows: pd.DataFrame) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.csv"
    first_documents(coder_a_rows, 2).to_csv(path, index=False)
    return path


def config_backend(path: Path) -> str:
    """The backend a shipped config is for: the name of its one table."""
    from mpsoc_nlp.models.folder import BACKENDS
    from mpsoc_nlp.training import tomllib  # the standard library's, or tomli before Python 3.11

    tables = [k for k, v in tomllib.loads(path.read_text(encoding="utf-8")).items() if isinstance(v, dict)]
    assert len(tables) == 1 and tables[0] in BACKENDS, f"{path.name}: one table named after a backend, not {tables}"
    return tables[0]


def test_the_shipped_configs_cover_the_hybrid_and_the_transformer():
    assert {config_backend(p) for p in SHIPPED} == {"hybrid", "transformer"}


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_trains_through_the_cli(config, tiny_model, deep_model, small_csv, tmp_path, capsys):
    """The command the docs give (--config plus --seed) works for each config in training/, with its backend."""
    from mpsoc_nlp.training import read_config

    out = tmp_path / "model"
    backend = config_backend(config)
    settings = read_config(config, backend)
    model = deep_model if settings.get("freeze_layers", 0) else tiny_model
    code = main(["train", str(small_csv), "--backend", backend, "--model", str(model),
                 "--config", str(config), "--seed", "3", "--folds", "0", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "internal error" not in captured.err
    import json

    meta = json.loads((out / "model.json").read_text())
    assert meta["seed"] == 3  # --seed wins over the config's seed
    assert meta["backend"] == backend
    for key, value in settings.items():  # every setting of the config is the model's
        if key not in ("seed", "model_name_or_path", "encoder", "trust_remote_code", "precision"):
            assert meta["params"][key] == value, key


def test_the_configs_seed_is_used_when_no_seed_is_given(tiny_model, small_csv, tmp_path):
    cfg = tmp_path / "seeded.toml"
    cfg.write_text('[transformer]\nstrategy = "frozen"\nseed = 7\nmax_length = 32\nstride = 8\n', encoding="utf-8")
    out = tmp_path / "model"
    assert main(["train", str(small_csv), "--backend", "transformer", "--model", str(tiny_model),
                 "--config", str(cfg), "--folds", "0", "--out", str(out)]) == 0
    import json

    assert json.loads((out / "model.json").read_text())["seed"] == 7


def test_frozen_cross_validation_runs_the_encoder_once_per_segment(tiny_model, coder_a_rows, tmp_path):
    from mpsoc_nlp.training import train

    data = first_documents(coder_a_rows, 6)
    path = tmp_path / "six.csv"
    data.to_csv(path, index=False)
    with encoder_rows() as rows:
        train(path, backend="transformer", model_name_or_path=str(tiny_model),
              strategy="frozen", max_length=128, cv_folds=5)
    from transformers import AutoTokenizer

    from mpsoc_nlp.models._hf import make_windows

    distinct = data["text"].unique().tolist()
    windows, _ = make_windows(AutoTokenizer.from_pretrained(str(tiny_model)), distinct, max_length=128, stride=64)
    assert len(distinct) >= 40 and len(windows) < 1.1 * len(distinct)
    assert rows["n"] == len(windows)  # each segment's windows once: not once per fold and again at the end


def test_fine_tuning_logs_one_line_per_epoch_when_stderr_is_not_a_terminal(tiny_model, small_csv, tmp_path, capsys):
    cfg = tmp_path / "ft.toml"
    cfg.write_text("[transformer]\nepochs = 3\npatience = 0\nbatch_size = 16\ngradient_accumulation_steps = 1\n"
                   "max_length = 32\nstride = 8\nlearning_rate = 1e-3\n", encoding="utf-8")
    assert main(["train", str(small_csv), "--backend", "transformer", "--model", str(tiny_model),
                 "--config", str(cfg), "--folds", "0", "--out", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "epoch " in line and "train loss" in line]
    assert [line.split("epoch ")[1].split(":")[0] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all("validation macro-F1" in line and " s" in line and "best " in line for line in lines)
    assert "left" in lines[0] and "left" not in lines[-1]
