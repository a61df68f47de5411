from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest
from sklearn.base import clone

from mpsoc_nlp import Codebook, ModelError, NotFittedError, OutputExistsError
from mpsoc_nlp.models import LinearCoder, load_model
from mpsoc_nlp.models.thresholds import tune_thresholds


@pytest.fixture(scope="module")
def fitted(small_train):
    return LinearCoder(seed=3).fit(small_train["text"], small_train["codes"], groups=small_train["document_id"])


def test_predict_proba_shape_and_codebook_order(fitted, small_train):
    proba = fitted.predict_proba(small_train["text"][:7])
    assert proba.shape == (7, 10)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert fitted.codes == Codebook.default().codes
    preds = fitted.predict(small_train["text"][:7])
    order = {c: i for i, c in enumerate(fitted.codes)}
    assert all(list(p) == sorted(p, key=order.__getitem__) for p in preds)


def test_learns_the_training_data(fitted, small_train):
    # a sanity check that could fail: on its own training data the coder must beat chance by far
    from mpsoc_nlp.evaluation import score

    s = score(list(small_train["codes"]), fitted.predict(small_train["text"]), fitted.codebook_)
    assert s["summary"]["micro_f1"] > 0.8


def test_thresholds_are_tuned_per_code(fitted):
    assert fitted.thresholds_.shape == (10,)
    assert len(set(np.round(fitted.thresholds_, 2))) > 1
    assert ((fitted.thresholds_ >= 0.05) & (fitted.thresholds_ <= 0.95)).all()


def test_save_load_gives_identical_probabilities_and_no_pickle(fitted, small_train, tmp_path):
    folder = fitted.save(tmp_path / "m")
    names = sorted(p.name for p in folder.iterdir())
    assert names == [".mpsoc-output.json", "README.md", "model.json", "weights.npz"]  # the marker: issue 11
    with np.load(folder / "weights.npz", allow_pickle=False) as z:  # raises if anything was pickled
        assert all(z[k].dtype != object for k in z.files)
    again = load_model(folder)
    texts = small_train["text"][:40].tolist()
    np.testing.assert_array_equal(fitted.predict_proba(texts), again.predict_proba(texts))
    np.testing.assert_array_equal(fitted.thresholds_, again.thresholds_)
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert meta["backend"] == "linear" and meta["codes"][0] == "geografisk:positiv"
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "| `ideell:negativ` |" in card and "no vocabulary" in card


def test_default_folder_holds_no_training_text(fitted, small_train, tmp_path):
    folder = fitted.save(tmp_path / "m")
    blob = b"".join(p.read_bytes() for p in folder.iterdir())
    words = {w for t in small_train["text"] for w in re.findall(r"\w{9,}", t)}
    # words of the codebook and the card's template are there by design: find them in a folder
    # trained on unrelated text
    other = LinearCoder(tune=False).fit(["alpha beta", "gamma delta"], [("ideell:positiv",), ()])
    template = b"".join(p.read_bytes() for p in other.save(tmp_path / "other").iterdir())
    leaked = [w for w in sorted(words) if w.encode("utf-8") in blob and w.encode("utf-8") not in template]
    assert leaked == []


def test_same_seed_same_model(small_train):
    a = LinearCoder(seed=1).fit(small_train["text"], small_train["codes"], groups=small_train["document_id"])
    b = LinearCoder(seed=1).fit(small_train["text"], small_train["codes"], groups=small_train["document_id"])
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.thresholds_, b.thresholds_)


def test_existing_folder_is_not_replaced_without_force(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    with pytest.raises(OutputExistsError, match=re.escape("pass --force to replace it")):
        fitted.save(tmp_path / "m")
    fitted.save(tmp_path / "m", force=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_sklearn_clone_and_params(fitted):
    c = clone(fitted)
    assert c.get_params()["seed"] == 3 and not hasattr(c, "coef_")
    with pytest.raises(NotFittedError):
        c.predict(["hei"])


def test_keep_vocabulary_explains_codes(small_train, tmp_path):
    m = LinearCoder(keep_vocabulary=True, tune=False).fit(small_train["text"], small_train["codes"])
    top = m.top_terms("rusrelatert:negativ", 15)
    assert len(top) == 15 and top[0][1] >= top[-1][1]
    again = load_model(m.save(tmp_path / "v"))
    assert again.top_terms("rusrelatert:negativ", 15) == top
    with pytest.raises(ModelError, match="keeps no vocabulary"):
        LinearCoder(tune=False).fit(small_train["text"], small_train["codes"]).top_terms("ideell:positiv")


def test_codes_absent_from_training_still_have_columns():
    texts = ["Mamma er alt for meg.", "Bygda er kjedelig.", "Jeg spiser frokost.", "Pappa ringer aldri."]
    codes = [("relasjonell:positiv",), ("geografisk:negativ",), (), ("relasjonell:negativ",)]
    m = LinearCoder(tune=False).fit(texts, codes)
    proba = m.predict_proba(["Laget mitt."])
    assert proba.shape == (1, 10)
    assert proba[0, m.codebook_.index("bedringsideell:positiv")] < 1e-6


def test_tune_thresholds_keeps_default_for_rare_codes():
    y = np.array([[1, 0], [0, 0], [0, 1], [0, 0]])
    p = np.array([[0.9, 0.1], [0.1, 0.2], [0.2, 0.8], [0.3, 0.1]])
    t = tune_thresholds(y, p, min_positives=2)
    assert t.tolist() == [0.5, 0.5]


def test_fit_rejects_mismatched_inputs():
    from mpsoc_nlp import InputError

    with pytest.raises(InputError, match="got 2 texts but 1 code sets"):
        LinearCoder().fit(["a", "b"], [()])


def test_no_pickle_anywhere_in_loading(fitted, tmp_path, monkeypatch):
    folder = fitted.save(tmp_path / "m")

    def boom(*a, **k):
        raise AssertionError("pickle used")

    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "loads", boom)
    assert load_model(folder).predict_proba(["Jeg savner gutta."]).shape == (1, 10)


def test_model_json_records_the_feature_scheme_and_not_the_jobs(fitted, tmp_path):
    folder = fitted.save(tmp_path / "m")
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert meta["feature_scheme"] == {"name": "ngram-hash", "version": 1}
    assert meta["params"]["features"] == "ngram-hash/1" and "n_jobs" not in meta["params"]


def test_folder_from_before_the_scheme_was_recorded_loads_with_the_old_features(small_train, tmp_path):
    texts = small_train["text"].tolist()
    old = LinearCoder(features="sklearn-hashing/1", tune=False).fit(texts, small_train["codes"])
    folder = old.save(tmp_path / "old")
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    del meta["feature_scheme"], meta["params"]["features"]  # as written by earlier versions
    (folder / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    again = load_model(folder)
    assert again.features == "sklearn-hashing/1"
    np.testing.assert_allclose(again.predict_proba(texts[:30]), old.predict_proba(texts[:30]), atol=1e-6)
    new = LinearCoder(tune=False).fit(texts, small_train["codes"])
    assert not np.allclose(new.predict_proba(texts[:30]), again.predict_proba(texts[:30]))


def test_unknown_feature_scheme_is_refused_with_a_clear_message(fitted, tmp_path):
    folder = fitted.save(tmp_path / "m")
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    meta["feature_scheme"] = {"name": "ngram-hash", "version": 9}
    (folder / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(ModelError, match=re.escape("feature scheme ngram-hash/9 is unknown to this mpsoc-nlp")):
        load_model(folder)


def test_jobs_change_neither_weights_nor_probabilities(small_train):
    args = (small_train["text"], small_train["codes"])
    one = LinearCoder(seed=2, n_jobs=1).fit(*args, groups=small_train["document_id"])
    two = LinearCoder(seed=2, n_jobs=2).fit(*args, groups=small_train["document_id"])
    np.testing.assert_array_equal(one.coef_, two.coef_)
    np.testing.assert_array_equal(one.thresholds_, two.thresholds_)
    texts = small_train["text"].tolist()
    one.set_params(batch_size=16)
    two.set_params(batch_size=16)
    np.testing.assert_array_equal(one.predict_proba(texts), two.predict_proba(texts))
    # batches are scored row by row: the batch size does not change a probability either
    np.testing.assert_array_equal(one.predict_proba(texts), one.set_params(batch_size=4096).predict_proba(texts))


def test_thresholds_from_one_inner_fold_on_large_data(small_train):
    args = (small_train["text"], small_train["codes"])
    all_folds = LinearCoder(seed=2).fit(*args, groups=small_train["document_id"])
    one_fold = LinearCoder(seed=2, one_fold_from=10).fit(*args, groups=small_train["document_id"])
    np.testing.assert_array_equal(all_folds.coef_, one_fold.coef_)  # the final fit is the same
    assert not np.array_equal(all_folds.thresholds_, one_fold.thresholds_)
    assert ((one_fold.thresholds_ >= 0.05) & (one_fold.thresholds_ <= 0.95)).all()


def test_single_fit_on_four_fifths_of_the_documents_with_thresholds_on_the_fifth(small_train):
    from sklearn.model_selection import GroupKFold

    texts, codes, groups = small_train["text"].tolist(), small_train["codes"].tolist(), small_train["document_id"]
    single = LinearCoder(seed=2, single_fit_from=10).fit(texts, codes, groups=groups)
    again = LinearCoder(seed=2, single_fit_from=10, n_jobs=2).fit(texts, codes, groups=groups)
    np.testing.assert_array_equal(single.coef_, again.coef_)  # deterministic for a seed, any jobs
    np.testing.assert_array_equal(single.thresholds_, again.thresholds_)
    # the one fit is a fit on the documents outside the held-out fifth
    train_idx, test_idx = next(GroupKFold(5, shuffle=True, random_state=2).split(texts, groups=groups))
    assert set(groups[test_idx]).isdisjoint(groups[train_idx]) and 0 < len(test_idx) < len(texts) / 2
    alone = LinearCoder(seed=2, tune=False).fit([texts[i] for i in train_idx], [codes[i] for i in train_idx])
    np.testing.assert_array_equal(single.coef_, alone.coef_)
    # and its thresholds are tuned on its predictions for the fifth held out
    held = single.predict_proba([texts[i] for i in test_idx])
    y_held = single.codebook_.encode([codes[i] for i in test_idx])
    np.testing.assert_allclose(single.thresholds_, tune_thresholds(y_held, held), atol=1e-6)
    below = LinearCoder(seed=2, single_fit_from=len(texts) + 1).fit(texts, codes, groups=groups)
    assert not np.array_equal(below.coef_, single.coef_)  # under the limit: inner folds and a final fit


def test_tolerance_and_single_fit_are_saved_and_old_folders_keep_their_training(fitted, tmp_path):
    folder = fitted.save(tmp_path / "m")
    meta = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    assert meta["params"]["tol"] == 0.1 and meta["params"]["single_fit_from"] == 50_000
    del meta["params"]["tol"], meta["params"]["single_fit_from"]  # as written by earlier versions
    (folder / "model.json").write_text(json.dumps(meta), encoding="utf-8")
    old = load_model(folder)
    assert old.tol == 1e-4 and old.single_fit_from is None
    np.testing.assert_array_equal(old.coef_, fitted.coef_)


def test_training_matrix_streamed_in_slices_is_the_matrix_of_all_counts(small_train):
    coder = LinearCoder()
    texts = small_train["text"].tolist()[:50]
    counts = coder._counts(texts)
    idfs = [coder._idf(c) for c in counts]
    whole = coder._features(counts, idfs)
    streamed, streamed_idfs = coder._streamed_features(texts, rows_per_slice=7)
    for a, b in zip(idfs, streamed_idfs):
        np.testing.assert_array_equal(a, b)
    assert whole.shape == streamed.shape and whole.dtype == streamed.dtype == np.float32
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(streamed, name))
    sliced = coder._features(counts, idfs, rows_per_slice=3)
    np.testing.assert_array_equal(sliced.data, whole.data)
    import scipy.sparse as sp

    stacked = sp.hstack([coder._weigh(c, i) for c, i in zip(counts, idfs)], format="csr")  # all rows at once
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(stacked, name))
