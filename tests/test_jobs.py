"""``--jobs``: any number of cores gives the same model and byte-identical predictions."""

from __future__ import annotations

import json

import pandas as pd

from mpsoc_nlp.cli import main
from mpsoc_nlp.models import LinearCoder


def test_classify_with_one_and_two_jobs_writes_identical_files(tmp_path, small_train):
    # a small batch size so that the 200-odd segments are cut into many batches shared by the jobs
    model = LinearCoder(batch_size=16, seed=1).fit(
        small_train["text"], small_train["codes"], groups=small_train["document_id"]
    )
    model_dir = model.save(tmp_path / "m")
    data = tmp_path / "segments.csv"
    small_train[["segment_id", "document_id", "text"]].to_csv(data, index=False)
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"pred_{jobs}.csv"
        assert main(["classify", str(model_dir), str(data), "--out", str(out), "--jobs", jobs]) == 0
        outs.append(out)
    assert outs[0].read_bytes() == outs[1].read_bytes()
    pred = pd.read_csv(outs[0], keep_default_na=False)
    assert pred["segment_id"].tolist() == small_train["segment_id"].tolist()  # the input's order


def test_train_with_one_and_two_jobs_writes_identical_weights(tmp_path, small_train):
    data = tmp_path / "train.csv"
    small_train[["segment_id", "document_id", "text"]].assign(
        codes=["; ".join(c) for c in small_train["codes"]]
    ).to_csv(data, index=False)
    dirs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"m{jobs}"
        assert main(["train", str(data), "--out", str(out), "--folds", "2", "--jobs", jobs]) == 0
        dirs.append(out)
    assert (dirs[0] / "weights.npz").read_bytes() == (dirs[1] / "weights.npz").read_bytes()
    metas = [json.loads((d / "model.json").read_text(encoding="utf-8")) for d in dirs]
    for m in metas:
        m.pop("created"), m.pop("name")
    assert metas[0] == metas[1]
