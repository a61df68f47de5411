"""Nothing lost, ever (issue 11), point 7: model folders are checked on load.

Every damaged variant of a model folder gives :class:`mpsoc_nlp.ModelError` from
``mpsoc_nlp.load_model`` (naming the folder) and exit 2 with a plain message from
``mpsoc classify``; none ends in an internal error, and none classifies with wrong codes.

Map of the tests to the issue's points:

* point 7, the 14 damaged variants of the issue (model.json a list, no codebook, no thresholds,
  thresholds too short / too long / strings, absurd n_features, garbage or misshapen
  weights.npz, a weights entry pointing outside the folder) and more (NaN, negative and > 1
  thresholds, duplicated and unknown codes, an absolute or symlinked weights path, a missing
  array): test_damaged_model_raises_model_error, test_damaged_model_exits_2
* point 7, the loader still reads a sound folder: test_sound_model_still_loads
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import mpsoc_nlp

from .safety_support import assert_refused, mpsoc, plain_rows, snapshot, write_rows


def _edit_json(change: Callable[[dict], object]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        new = change(meta)
        (folder / "model.json").write_text(json.dumps(meta if new is None else new), encoding="utf-8")

    return damage


def _edit_arrays(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        with np.load(folder / "weights.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        change(arrays)
        np.savez_compressed(folder / "weights.npz", **arrays)

    return damage


def _set(key: str, value: object) -> Callable[[dict], None]:
    def change(meta: dict) -> None:
        meta[key] = value

    return change


def _weights_outside(folder: Path) -> None:
    shutil.copyfile(folder / "weights.npz", folder.parent / "elsewhere.npz")
    _edit_json(_set("weights", "../elsewhere.npz"))(folder)


def _weights_absolute(folder: Path) -> None:
    shutil.copyfile(folder / "weights.npz", folder.parent / "elsewhere.npz")
    _edit_json(_set("weights", str((folder.parent / "elsewhere.npz").resolve())))(folder)


def _weights_symlink_out(folder: Path) -> None:
    shutil.move(folder / "weights.npz", folder.parent / "elsewhere.npz")
    os.symlink(folder.parent / "elsewhere.npz", folder / "weights.npz")


def _thresholds(transform: Callable[[list], list]) -> Callable[[dict], None]:
    def change(meta: dict) -> None:
        meta["thresholds"] = transform(meta["thresholds"])

    return change


def _duplicate_type(meta: dict) -> None:
    meta["codebook"]["types"][1] = dict(meta["codebook"]["types"][0])


def _duplicate_code(meta: dict) -> None:
    meta["codes"][1] = meta["codes"][0]


def _rename_code(meta: dict) -> None:
    meta["codes"][0] = "finnes:ikke"


def _absurd_features(meta: dict) -> None:
    meta["params"]["n_features"] = 10**12


def _string_features(meta: dict) -> None:
    meta["params"]["n_features"] = "many"


def _garbage_weights(folder: Path) -> None:
    (folder / "weights.npz").write_bytes(os.urandom(4096))


def _misshapen(arrays: dict) -> None:
    arrays["coef_values"] = arrays["coef_values"][:3]


def _short_idf(arrays: dict) -> None:
    arrays["idf_0"] = arrays["idf_0"][:100]


def _no_intercept(arrays: dict) -> None:
    del arrays["intercept"]


DAMAGE: dict[str, Callable[[Path], None]] = {
    # the 14 variants of the issue
    "model.json-a-list": _edit_json(lambda meta: [meta]),
    "no-codebook": _edit_json(lambda meta: meta.pop("codebook") and None),
    "no-thresholds": _edit_json(lambda meta: meta.pop("thresholds") and None),
    "thresholds-too-short": _edit_json(_thresholds(lambda t: t[:-1])),
    "thresholds-too-long": _edit_json(_thresholds(lambda t: t + [0.5])),
    "thresholds-strings": _edit_json(_thresholds(lambda t: [str(x) for x in t])),
    "absurd-n_features": _edit_json(_absurd_features),
    "n_features-a-string": _edit_json(_string_features),
    "garbage-weights": _garbage_weights,
    "misshapen-weights": _edit_arrays(_misshapen),
    "idf-of-another-size": _edit_arrays(_short_idf),
    "weights-array-missing": _edit_arrays(_no_intercept),
    "weights-outside-folder": _weights_outside,
    "weights-absolute-path": _weights_absolute,
    # exit 0 and wrong codes before
    "threshold-nan": _edit_json(_thresholds(lambda t: [float("nan")] + t[1:])),
    "threshold-negative": _edit_json(_thresholds(lambda t: [-0.5] + t[1:])),
    "threshold-above-one": _edit_json(_thresholds(lambda t: [1.5] + t[1:])),
    "threshold-infinite": _edit_json(_thresholds(lambda t: [float("inf")] + t[1:])),
    "duplicated-code": _edit_json(_duplicate_code),
    "duplicated-codebook-type": _edit_json(_duplicate_type),
    "unknown-code": _edit_json(_rename_code),
    "codebook-a-string": _edit_json(_set("codebook", "MPSOC")),
    "weights-symlink-out-of-folder": _weights_symlink_out,
}


@pytest.fixture
def damaged(request, tmp_path, safety_model) -> Path:
    folder = tmp_path / "models" / "m"
    folder.parent.mkdir()
    shutil.copytree(safety_model, folder)
    DAMAGE[request.param](folder)
    return folder


@pytest.mark.parametrize("damaged", sorted(DAMAGE), indirect=True)
def test_damaged_model_raises_model_error(damaged):
    with pytest.raises(mpsoc_nlp.ModelError) as info:
        mpsoc_nlp.load_model(damaged)
    assert str(damaged) in str(info.value)


@pytest.mark.parametrize("damaged", sorted(DAMAGE), indirect=True)
def test_damaged_model_exits_2(damaged, tmp_path):
    write_rows(tmp_path / "in.csv", *plain_rows(5))
    before = snapshot(tmp_path)
    run = mpsoc("classify", damaged, "in.csv", "--out", "p.csv", cwd=tmp_path)
    assert_refused(run)
    assert "model.json" in run.err or "weights" in run.err
    assert snapshot(tmp_path) == before


def test_sound_model_still_loads(safety_model, tmp_path):
    model = mpsoc_nlp.load_model(safety_model)
    assert len(model.thresholds_) == len(model.codes)
    write_rows(tmp_path / "in.csv", *plain_rows(5))
    run = mpsoc("classify", safety_model, "in.csv", "--out", "p.csv", cwd=tmp_path)
    assert run.code == 0, run.text
