"""Pandas first (issue 14, part 3): a DataFrame or a ``datasets.Dataset`` wherever a file goes,
clear errors for texts that are not a list of strings, and the coders inside scikit-learn."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import mpsoc_nlp
from mpsoc_nlp import InputError, LinearCoder, read_segments

from .conftest import SAMPLES


@pytest.fixture(scope="module")
def excel_frame(small_train) -> pd.DataFrame:
    """The documents of ``small_train`` as ``pd.read_excel`` gives them: empty codes are NaN."""
    frame = pd.read_excel(SAMPLES / "codings.xlsx")
    frame = frame[frame["document_id"].isin(set(small_train["document_id"]))]
    assert frame["codes"].isna().any() and frame["coder"].nunique() == 2
    return frame


@pytest.fixture(scope="module")
def frame_model(excel_frame):
    return mpsoc_nlp.train(excel_frame, coder="A", cv_folds=0, seed=0)


def test_train_on_a_read_excel_frame_equals_training_on_the_file(frame_model, small_train):
    from_file = mpsoc_nlp.train(small_train, cv_folds=0, seed=0)
    texts = small_train["text"].tolist()
    assert frame_model.metadata_["training_data"]["segments"] == len(small_train)
    np.testing.assert_allclose(frame_model.predict_proba(texts), from_file.predict_proba(texts))


def test_frame_errors_name_the_frame_row_and_column():
    frame = pd.DataFrame(
        {
            "segment_id": ["s1", "s2", "s3"],
            "document_id": ["d1", "d1", "d2"],
            "text": ["Jeg bor på bygda.", "Mamma ringer.", "Kafé i går."],
            "codes": ["geografisk:positiv", np.nan, "geografisk:positv"],
        },
        index=[12, 13, 14],
    )
    with pytest.raises(InputError) as err:
        read_segments(frame)
    assert str(err.value).startswith("DataFrame, row 14, column 'codes': unknown code 'geografisk:positv'")
    frame.loc[14, "codes"] = None
    segments = read_segments(frame)
    assert segments["codes"].tolist() == [("geografisk:positiv",), (), ()]
    assert segments["source_row"].tolist() == [12, 13, 14]
    # a frame read_segments made is taken as it is
    pd.testing.assert_frame_equal(read_segments(segments), segments)


def test_columns_are_honoured_for_frames():
    frame = pd.DataFrame({"Utsagn": ["Jeg bor på bygda."], "Dokument": [7.0], "Koder": ["relasjonell:negativ"]})
    segments = read_segments(frame, columns={"text": "Utsagn", "document_id": "Dokument", "codes": "Koder"})
    assert segments.loc[0, ["text", "document_id", "codes"]].tolist() == [
        "Jeg bor på bygda.",
        "7",  # 7.0 as read_excel gives a number column
        ("relasjonell:negativ",),
    ]
    with pytest.raises(InputError, match=re.escape("DataFrame: expected the column 'Tekst'")):
        read_segments(frame, columns={"text": "Tekst"})


def test_classify_evaluate_crossval_and_agreement_take_frames(frame_model, excel_frame, tmp_path):
    a_rows = excel_frame[excel_frame["coder"] == "A"]
    counts = mpsoc_nlp.classify(frame_model, a_rows.drop(columns=["codes"]), tmp_path / "pred.csv")
    assert counts["segments"] == len(a_rows) and counts["files"] == ["DataFrame"]
    written = pd.read_csv(tmp_path / "pred.csv")
    assert written["source_file"].eq("DataFrame").all()
    assert written["source_row"].tolist() == a_rows.index.tolist()

    # the model was trained on this frame: score it anyway, labelled as training-data scores
    evaluation = mpsoc_nlp.evaluate_model(frame_model, excel_frame, n_resamples=20, include_training_data=True)
    assert evaluation.overlap.mode == "included"
    assert sorted(evaluation.scores) == ["A", "B"]
    assert len(evaluation.predictions) == excel_frame["segment_id"].nunique()

    cv = mpsoc_nlp.crossval(excel_frame, out=tmp_path / "cv", coder="A", folds=2, seed=0)
    assert len(cv.predicted) == len(a_rows)

    report = mpsoc_nlp.agreement_report(excel_frame, n_resamples=20)
    assert report.kind == "segments" and report.files == ["DataFrame"]
    from_file = mpsoc_nlp.agreement_report(SAMPLES / "codings.csv", n_resamples=20)
    assert report.views.attrs["segments_per_coder"]["B"] <= from_file.views.attrs["segments_per_coder"]["B"]


def test_predict_refuses_a_single_string_and_missing_texts(frame_model):
    with pytest.raises(InputError, match="expected an iterable of texts, got a single string"):
        frame_model.predict("Jeg bor på bygda.")
    with pytest.raises(InputError, match=re.escape("the text at position 1 is missing (NaN)")):
        frame_model.predict(pd.Series(["Jeg bor på bygda.", np.nan]))
    with pytest.raises(InputError, match=re.escape("the text at position 0 is missing (None)")):
        frame_model.predict_proba([None])
    with pytest.raises(InputError, match=re.escape("the text at position 0 is a int, not a string")):
        LinearCoder().fit([3, "x"], [(), ()])


def test_predict_frame_is_exported_and_labelled(frame_model, small_train):
    rows = small_train.head(5).set_index(pd.Index([10, 11, 12, 13, 14]))
    pred = mpsoc_nlp.predict_frame(frame_model, rows)
    codes = list(frame_model.codebook_.codes)
    assert pred.index.tolist() == [10, 11, 12, 13, 14]
    assert [c for c in pred.columns if c.startswith("p:")] == [f"p:{c}" for c in codes]
    assert pred["gold_codes"].tolist() == rows["codes"].tolist()
    assert pred["codes"].tolist() == frame_model.predict(rows["text"])
    proba = frame_model.predict_proba(rows["text"])
    assert isinstance(proba, np.ndarray) and proba.shape == (5, len(codes))
    np.testing.assert_allclose(pred[[f"p:{c}" for c in codes]].to_numpy(), proba, atol=5e-5)
    assert pred["review"].dtype == bool


def test_sklearn_multilabel_scorers_work_with_a_multi_hot_y(small_train):
    from sklearn.model_selection import GroupKFold, cross_val_score

    codebook = mpsoc_nlp.Codebook.default()
    y = codebook.encode(small_train["codes"].tolist())
    texts = small_train["text"].tolist()
    scores = cross_val_score(
        LinearCoder(), texts, y, scoring="f1_macro", cv=GroupKFold(2), groups=small_train["document_id"]
    )
    assert scores.shape == (2,) and np.isfinite(scores).all() and (scores > 0).all()

    multi = LinearCoder().fit(texts, y)
    sets = LinearCoder().fit(texts, small_train["codes"].tolist())
    hot = multi.predict(texts[:6])
    assert isinstance(hot, np.ndarray) and hot.shape == (6, len(codebook))
    assert codebook.decode(hot) == sets.predict(texts[:6])  # same decisions, the form of y
    np.testing.assert_array_equal(sets.predict_multi_hot(texts[:6]), hot)
    assert list(multi.classes_) == list(codebook.codes)


def test_not_fitted_error_is_sklearns_and_tags_say_text():
    from sklearn.exceptions import NotFittedError as SklearnNotFitted
    from sklearn.utils import get_tags

    with pytest.raises(SklearnNotFitted):
        LinearCoder().predict(["tekst"])
    assert issubclass(mpsoc_nlp.NotFittedError, (mpsoc_nlp.MpsocError, ValueError, AttributeError))
    tags = get_tags(LinearCoder())
    assert tags.input_tags.string and not tags.input_tags.two_d_array
    assert tags.estimator_type == "classifier" and tags.classifier_tags.multi_label


def test_datasets_in_and_out(small_train):
    import datasets  # the transformer extra, which `make test` installs

    ds = mpsoc_nlp.to_dataset(small_train)
    assert isinstance(ds, datasets.Dataset) and ds.num_rows == len(small_train)
    assert ds[0]["codes"] == list(small_train.loc[0, "codes"])
    back = read_segments(ds)
    assert back["codes"].tolist() == small_train["codes"].tolist()
    assert back["text"].tolist() == small_train["text"].tolist()
    assert back["source_file"].eq("Dataset").all()
    bad = datasets.Dataset.from_dict({"text": ["a", "b"], "codes": ["", "feil:kode"]})
    with pytest.raises(InputError, match=re.escape("Dataset, row 1, column 'codes'")):
        read_segments(bad)
