"""Tests of `mpsoc agreement` (mpsoc_nlp.agreement, mpsoc_nlp.io.ratings) through the CLI.

Expected numbers are published ones (Krippendorff 2011, as in tests/test_agreement.py), worked out
by hand in a comment, or computed independently with scikit-learn.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from mpsoc_nlp import Codebook, read_segments
from mpsoc_nlp.agreement import segment_agreement
from mpsoc_nlp.cli import main
from mpsoc_nlp.errors import InputError
from mpsoc_nlp.io.ratings import read_ratings

from .conftest import SAMPLES, write_csv

KEYS = {
    "percent_agreement", "cohen_kappa", "weighted_cohen_kappa_linear", "weighted_cohen_kappa_quadratic",
    "scotts_pi", "fleiss_kappa", "krippendorff_alpha", "krippendorff_alpha_masi", "gwet_ac1",
    "brennan_prediger", "warnings",
}

# Krippendorff (2011): 4 coders x 12 units with missing data (units as rows)
K2011 = [
    [1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
    [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5], [None, None, 1, 1], [None, None, 3, None],
]


@pytest.fixture
def k2011_csv(tmp_path):
    rows = [["unit", "coder", "value"]]
    for u, row in enumerate(K2011, 1):
        rows += [[str(u), f"c{j}", str(v)] for j, v in enumerate(row, 1) if v is not None]
    rows.append(["13", "c1", ""])  # an empty cell is a missing rating, not a category
    return write_csv(tmp_path / "k2011.csv", rows)


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_csv_ratings_json_has_exactly_the_keys_and_published_alpha(k2011_csv, capsys, level, published):
    out = _json(capsys, ["agreement", str(k2011_csv), "--level", level, "--json"])
    assert set(out) == KEYS
    assert round(out["krippendorff_alpha"], 3) == published
    assert round(out["fleiss_kappa"], 5) == 0.76117 and round(out["gwet_ac1"], 5) == 0.77544  # Gwet's irrCAC
    assert out["cohen_kappa"] is None and out["krippendorff_alpha_masi"] is None  # four coders; no sets
    assert any(w.startswith("cohen_kappa:") for w in out["warnings"])


def test_text_output_names_every_statistic_and_why_some_are_missing(k2011_csv, capsys):
    assert main(["agreement", str(k2011_csv), "--level", "ordinal"]) == 0
    out = capsys.readouterr().out
    assert "4 coders on 12 units (41 ratings), ordinal level" in out
    assert re.search(r"Krippendorff's alpha \(ordinal\)\s+0\.8154", out)
    assert re.search(r"Cohen's kappa\s+–", out) and "compares exactly two coders" in out


def test_jsonl_sets_give_masi_alpha(tmp_path, capsys):
    # two coders, two segments: an exact match and a subset; by hand alpha(MASI) = 4/7 (see agreement.py)
    lines = [
        {"unit": "s1", "coder": "A", "value": ["rusrelatert:negativ"]},
        {"unit": "s1", "coder": "B", "value": ["rusrelatert:negativ"]},
        {"unit": "s2", "coder": "A", "value": ["relasjonell:positiv"]},
        {"unit": "s2", "coder": "B", "value": ["relasjonell:negativ", "relasjonell:positiv"]},
        {"unit": "s3", "coder": "A", "value": []},
        {"unit": "s3", "coder": "B", "value": []},
        {"unit": "s4", "coder": "B", "value": None},
    ]
    path = tmp_path / "sets.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    out = _json(capsys, ["agreement", str(path), "--json"])
    assert set(out) == KEYS
    # three units, exact-set agreement on s1 and s3; [] is a real value ("no code")
    assert out["percent_agreement"] == pytest.approx(2 / 3)
    assert out["krippendorff_alpha_masi"] > out["krippendorff_alpha"]  # partial credit for the subset on s2
    assert out["weighted_cohen_kappa_linear"] is None
    ratings = read_ratings(path)
    assert ratings["value"].tolist()[1] == ("rusrelatert:negativ",) and ratings["value"].tolist()[4] == ()
    assert len(ratings) == 6  # the null value is a missing rating


def test_two_coders_and_categories_fix_q(tmp_path, capsys):
    # A: a a b b ; B: a b b b -> agreement 3/4. With categories a,b,c: q = 3, BP = (3/4 - 1/3) / (2/3) = 0.625
    rows = [["item", "rater", "label"]] + [
        [str(u), c, v] for u, (x, y) in enumerate(zip("aabb", "abbb", strict=True)) for c, v in (("A", x), ("B", y))
    ]
    path = write_csv(tmp_path / "two.csv", rows)
    argv = ["agreement", str(path), "--unit", "item", "--coder", "rater", "--value", "label", "--json"]
    out = _json(capsys, [*argv, "--categories", "a,b,c"])
    assert out["brennan_prediger"] == pytest.approx(0.625)
    assert out["cohen_kappa"] == pytest.approx(cohen_kappa_score(list("aabb"), list("abbb")))
    assert out["weighted_cohen_kappa_linear"] is not None  # --categories gives the order
    plain = _json(capsys, argv)
    assert plain["brennan_prediger"] == pytest.approx(0.5)  # q = 2 categories that occur
    assert plain["weighted_cohen_kappa_linear"] is None


def test_segment_table_prints_the_mpsoc_views_with_intervals(capsys):
    assert main(["agreement", str(SAMPLES / "codings.csv"), "--coders", "A,B", "--resamples", "200"]) == 0
    out = capsys.readouterr().out
    assert "coders A and B on 323 segments" in out and "in 16 documents" in out
    only_a = read_segments(SAMPLES / "codings.csv").query("coder == 'A'")["segment_id"].nunique() - 323
    assert f"{only_a} segments coded by one coder only are left out" in out
    for section in ("per code", "per community type", "per valence", "on whole sets of codes"):
        assert section in out
    segments = read_segments(SAMPLES / "codings.csv")
    a = segments[segments["coder"] == "A"].set_index("segment_id")["codes"]
    b = segments[segments["coder"] == "B"].set_index("segment_id")["codes"]
    shared = list(b.index)
    code = "rusrelatert:negativ"
    kappa = cohen_kappa_score([code in a[s] for s in shared], [code in b[s] for s in shared])
    line = next(x for x in out.splitlines() if x.strip().startswith(code))
    assert f"{kappa:.3f} [" in line


def test_segment_table_json_has_intervals_that_contain_the_estimates(capsys):
    out = _json(capsys, ["agreement", str(SAMPLES / "codings.csv"), "--coders", "A,B", "--resamples", "100", "--json"])
    assert out["coders"] == ["A", "B"] and out["n_documents"] == 16 and out["n_resamples"] == 100
    levels = [v["level"] for v in out["views"]]
    assert levels.count("code") == 10 and levels.count("type") == 5 and levels.count("valence") == 2
    assert levels[-1] == "set"
    for view in out["views"]:
        for name in ("percent_agreement", "cohen_kappa", "krippendorff_alpha"):
            s = view[name]
            assert s["low"] - 1e-9 <= s["estimate"] <= s["high"] + 1e-9
    assert out["views"][-1]["krippendorff_alpha_masi"]["estimate"] > 0.9


def test_segment_agreement_with_three_coders_has_no_two_coder_statistics():
    codes = Codebook.default().codes
    rng = np.random.default_rng(0)
    rows = []
    for s in range(60):
        truth = tuple(c for c in codes[:3] if rng.random() < 0.3)
        for coder in ("A", "B", "C"):
            value = truth if rng.random() < 0.8 else ()
            rows.append({"segment_id": s, "document_id": s // 6, "coder": coder, "codes": value})
    table = segment_agreement(pd.DataFrame(rows), codes, n_resamples=50)
    assert table.attrs["coders"] == ["A", "B", "C"]
    assert table["cohen_kappa"].isna().all() and table["f1"].isna().all()
    used = table[(table["level"] == "code") & table["name"].isin(codes[:3])]
    assert (used["krippendorff_alpha_low"] <= used["krippendorff_alpha"]).all()


@pytest.mark.parametrize(
    ("rows", "argv", "message"),
    [
        ([["unit", "coder", "value"], ["1", "A", "x"], ["1", "A", "y"]], [],
         "dup.csv, row 3, column 'value': coder 'A' rated unit '1' twice (also"),
        ([["unit", "coder", "value"], ["1", "A", "3"], ["1", "B", "lots"]], ["--level", "interval"],
         "dup.csv, row 3, column 'value': the interval level needs a number, not 'lots'"),
        ([["unit", "coder", "value"], ["1", "", "3"]], [], "dup.csv, row 2, column 'coder': the coder is empty"),
        ([["id", "rater", "score"], ["1", "A", "3"]], ["--unit", "id", "--coder", "rater"],
         "expected the columns ['id', 'rater', 'value'] but ['value'] is not among ['id', 'rater', 'score']"),
        ([["id", "rater", "score"], ["1", "A", "3"]], [], "neither a ratings file"),
        ([["unit", "coder", "value"], ["1", "A", "low"], ["1", "B", "high"]], ["--level", "ordinal"],
         "the ordinal level needs the order of the text values"),
        ([["unit", "coder", "value"], ["1", "A", "a"], ["1", "B", "d"]], ["--categories", "a,b,c"],
         "dup.csv, row 3, column 'value': 'd' is not among the categories ['a', 'b', 'c']"),
    ],
)
def test_bad_ratings_exit_2_naming_file_row_and_column(tmp_path, capsys, rows, argv, message):
    path = write_csv(tmp_path / "dup.csv", rows)
    assert main(["agreement", str(path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_mixed_sets_and_single_values_name_the_row(tmp_path):
    path = tmp_path / "mix.jsonl"
    lines = ['{"unit": 1, "coder": "A", "value": ["a"]}', '{"unit": 1, "coder": "B", "value": "a"}']
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(InputError, match=re.escape("mix.jsonl, row 2, column 'value': a single value 'a'")):
        read_ratings(path)


def test_segment_table_with_one_coder_is_an_error(tmp_path, good_rows, capsys):
    path = write_csv(tmp_path / "one.csv", good_rows)
    assert main(["agreement", str(path)]) == 2
    assert "no segment was coded by two or more coders" in capsys.readouterr().err


def test_data_samples_readme_quotes_the_agreement_mpsoc_agreement_prints():
    card = (SAMPLES / "README.md").read_text(encoding="utf-8")
    header = "| code | both | A only | B only | Cohen's kappa | Krippendorff's alpha | Gwet's AC1 | F1 |"
    assert header in card, "data_samples/README.md must quote the A-vs-B agreement table"
    lines = card.split("\n")
    start = lines.index(header)
    rows = [[c.strip() for c in x.strip("|").split("|")] for x in lines[start + 2 :] if x.startswith("|")][:10]
    segments = read_segments(SAMPLES / "codings.csv")
    views = segment_agreement(segments, Codebook.default().codes, coders=["A", "B"], seed=0).set_index("name")
    assert [r[0] for r in rows] == list(Codebook.default().codes)
    for name, both, a_only, b_only, *stats in rows:
        v = views.loc[name]
        assert (int(both), int(a_only), int(b_only)) == (v["both_present"], v["first_only"], v["second_only"])
        for text, stat in zip(stats, ("cohen_kappa", "krippendorff_alpha", "gwet_ac1", "f1"), strict=True):
            assert text == f"{v[stat]:.3f} [{v[stat + '_low']:.3f}, {v[stat + '_high']:.3f}]", (name, stat)
