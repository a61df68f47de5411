"""Tests of mpsoc_nlp.agreement: published values, hand-checked cases, undefined cases, properties.

The only literal expected values are published ones (each test names its source) or values
worked out by hand in the test's comment. Everything else compares against an independent
implementation (the `krippendorff` package, scikit-learn, a plain-Python formula) or a property.
"""

from __future__ import annotations

import math
import re
import warnings

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from mpsoc_nlp.agreement import (
    STATISTICS,
    UndefinedStatisticWarning,
    agreement_table,
    bootstrap_ci,
    brennan_prediger,
    character_agreement,
    character_kappa,
    code_agreement,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    krippendorff_alpha_masi,
    masi_distance,
    percent_agreement,
    ratings_from_wide,
    scotts_pi,
    weighted_cohen_kappa,
)
from mpsoc_nlp.errors import InputError

# ------------------------------------------------------------------------------------------
# Published data sets
# ------------------------------------------------------------------------------------------

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 coders x 12 units with
# missing data; the same data is cac.raw4raters in Gwet's irrCAC (units as rows).
K2011 = [
    [1, 1, None, 1],
    [2, 2, 3, 2],
    [3, 3, 3, 3],
    [3, 3, 3, 3],
    [2, 2, 2, 2],
    [1, 2, 3, 4],
    [4, 4, 4, 4],
    [1, 1, 2, 1],
    [2, 2, 2, 2],
    [None, 5, 5, 5],
    [None, None, 1, 1],
    [None, None, 3, None],
]

# Wikipedia "Krippendorff's alpha", the computational example (3 coders x 15 units, coders as rows),
# also the docstring example of the `krippendorff` package: nominal 0.691, interval 0.811.
WIKIPEDIA = [
    [None, None, None, None, None, 3, 4, 1, 2, 1, 1, 3, 3, None, 3],
    [1, None, 2, 1, 3, 3, 4, 3, None, None, None, None, None, None, None],
    [None, None, 2, 1, 3, 4, 4, None, 2, 1, 1, 3, 3, None, 4],
]

# Fleiss (1971), Table 1: 30 patients, 6 psychiatrists each, counts per diagnosis
# (depression, personality disorder, schizophrenia, neurosis, other). Kappa 0.430.
FLEISS1971 = [
    [0, 0, 0, 6, 0],
    [0, 3, 0, 0, 3],
    [0, 1, 4, 0, 1],
    [0, 0, 0, 0, 6],
    [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0],
    [0, 0, 4, 0, 2],
    [2, 0, 3, 1, 0],
    [2, 0, 0, 4, 0],
    [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0],
    [1, 1, 0, 4, 0],
    [0, 3, 3, 0, 0],
    [1, 0, 0, 5, 0],
    [0, 2, 0, 3, 1],
    [0, 0, 5, 0, 1],
    [3, 0, 0, 1, 2],
    [5, 1, 0, 0, 0],
    [0, 2, 0, 4, 0],
    [1, 0, 2, 0, 3],
    [0, 0, 0, 0, 6],
    [0, 1, 0, 5, 0],
    [0, 2, 0, 1, 3],
    [2, 0, 0, 4, 0],
    [1, 0, 0, 4, 1],
    [0, 5, 0, 1, 0],
    [4, 0, 0, 0, 2],
    [0, 2, 0, 4, 0],
    [1, 0, 5, 0, 0],
    [0, 0, 0, 0, 6],
]


def from_counts(counts: list[list[int]]) -> pd.DataFrame:
    return ratings_from_wide([[k for k, n in enumerate(row) for _ in range(n)] for row in counts])


def from_cells(cells: dict[tuple[str, str], int]) -> pd.DataFrame:
    """Two coders' ratings from a contingency table {(coder A's value, coder B's value): count}."""
    return ratings_from_wide([pair for pair, n in cells.items() for _ in range(n)], coders=["A", "B"])


# Artstein & Poesio (2008): the 2x2 example [[20, 20], [10, 50]] and Table 4 (3 categories).
AP_2X2 = from_cells({("Stat", "Stat"): 20, ("Stat", "IReq"): 20, ("IReq", "Stat"): 10, ("IReq", "IReq"): 50})
AP_TABLE4 = from_cells(
    {("Stat", "Stat"): 46, ("IReq", "Stat"): 6, ("IReq", "IReq"): 32, ("IReq", "Chck"): 6, ("Chck", "Chck"): 10}
)
# Gwet's irrCAC cont3x3abstractors.
ABSTRACTORS = from_cells(
    {("Ectopic", "Ectopic"): 13, ("AIU", "AIU"): 20, ("AIU", "NIU"): 7, ("NIU", "AIU"): 4, ("NIU", "NIU"): 56}
)
ABSTRACTOR_ORDER = ["Ectopic", "AIU", "NIU"]


def close(value: float, published: float, decimals: int) -> bool:
    """True when ``value`` rounds to the published value at the published precision."""
    return round(value, decimals) == pytest.approx(published, abs=10 ** -(decimals + 3))


# ------------------------------------------------------------------------------------------
# Published values, every statistic
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratings", "published", "decimals"),
    [
        (ratings_from_wide(K2011), 0.8181818, 7),  # irrCAC pa.coeff.raw(cac.raw4raters)
        (AP_2X2, 0.7, 2),  # Artstein & Poesio: A_o = 0.7
        (AP_TABLE4, 0.88, 2),  # Artstein & Poesio Table 4: A_o = 0.88
        (ABSTRACTORS, 0.89, 2),  # irrCAC pa2.table
        (from_counts(FLEISS1971[:15]), 0.5511111, 7),  # irrCAC distrib.6raters (Fleiss rows 1-15)
    ],
)
def test_percent_agreement_published(ratings: pd.DataFrame, published: float, decimals: int) -> None:
    assert close(percent_agreement(ratings), published, decimals)


@pytest.mark.parametrize(
    ("ratings", "published", "decimals"),
    [(AP_2X2, 0.348, 3), (AP_TABLE4, 0.8013, 4), (ABSTRACTORS, 0.7964094, 7)],
)
def test_cohen_kappa_published(ratings: pd.DataFrame, published: float, decimals: int) -> None:
    assert close(cohen_kappa(ratings), published, decimals)


@pytest.mark.parametrize(("weights", "published"), [("linear", 0.843), ("quadratic", 0.892)])
def test_weighted_kappa_published(weights: str, published: float) -> None:
    # irrCAC kappa2.table(cont3x3abstractors) with linear / quadratic weights
    value = weighted_cohen_kappa(ABSTRACTORS, weights=weights, categories=ABSTRACTOR_ORDER)  # type: ignore[arg-type]
    assert close(value, published, 3)


@pytest.mark.parametrize(("ratings", "published", "decimals"), [(AP_TABLE4, 0.7995, 4), (ABSTRACTORS, 0.7962397, 7)])
def test_scotts_pi_published(ratings: pd.DataFrame, published: float, decimals: int) -> None:
    assert close(scotts_pi(ratings), published, decimals)


@pytest.mark.parametrize(
    ("ratings", "published", "decimals"),
    [
        (from_counts(FLEISS1971), 0.430, 3),  # Fleiss 1971
        (ratings_from_wide(K2011), 0.76117, 5),  # irrCAC fleiss.kappa.raw(cac.raw4raters), missing data
        (from_counts(FLEISS1971[:15]), 0.4139265, 7),  # irrCAC fleiss.kappa.dist(distrib.6raters)
    ],
)
def test_fleiss_kappa_published(ratings: pd.DataFrame, published: float, decimals: int) -> None:
    assert close(fleiss_kappa(ratings), published, decimals)


@pytest.mark.parametrize(
    ("level", "published"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_alpha_published_2011(level: str, published: float) -> None:
    assert close(krippendorff_alpha(ratings_from_wide(K2011), level=level), published, 3)  # type: ignore[arg-type]


def test_krippendorff_alpha_published_other() -> None:
    wiki = ratings_from_wide(list(map(list, zip(*WIKIPEDIA, strict=True))))
    assert close(krippendorff_alpha(wiki), 0.691, 3)
    assert close(krippendorff_alpha(wiki, level="interval"), 0.811, 3)
    assert close(krippendorff_alpha(ABSTRACTORS), 0.7972585, 7)  # irrCAC krippen2.table
    assert close(krippendorff_alpha(from_counts(FLEISS1971[:15])), 0.4204384, 7)  # irrCAC krippen.alpha.dist


@pytest.mark.parametrize(
    ("ratings", "published", "decimals"),
    [
        (ratings_from_wide(K2011), 0.77544, 5),  # irrCAC gwet.ac1.raw(cac.raw4raters)
        (ABSTRACTORS, 0.8493305, 7),  # irrCAC gwet.ac1.table
        (from_counts(FLEISS1971[:15]), 0.4448007, 7),  # irrCAC gwet.ac1.dist(distrib.6raters)
    ],
)
def test_gwet_ac1_published(ratings: pd.DataFrame, published: float, decimals: int) -> None:
    assert close(gwet_ac1(ratings), published, decimals)


@pytest.mark.parametrize(
    ("ratings", "published", "decimals"),
    [
        (ratings_from_wide(K2011), 0.77273, 5),  # irrCAC bp.coeff.raw
        (ABSTRACTORS, 0.835, 3),  # irrCAC bp2.table
        (AP_TABLE4, 0.82, 2),  # Artstein & Poesio Table 4: S = 0.82
        (from_counts(FLEISS1971[:15]), 0.4388889, 7),  # irrCAC bp.coeff.dist
    ],
)
def test_brennan_prediger_published(ratings: pd.DataFrame, published: float, decimals: int) -> None:
    assert close(brennan_prediger(ratings), published, decimals)


def test_alpha_masi_on_single_codes_reproduces_nominal_alpha_published() -> None:
    k2011 = ratings_from_wide(K2011)
    as_sets = k2011.assign(value=[(v,) for v in k2011["value"]])
    assert close(krippendorff_alpha_masi(as_sets), 0.743, 3)


def test_agreement_table_published_values_in_one_pass() -> None:
    table = agreement_table(ABSTRACTORS, categories=ABSTRACTOR_ORDER)
    assert list(table) == list(STATISTICS)
    assert close(table["cohen_kappa"], 0.7964094, 7)
    assert close(table["scotts_pi"], 0.7962397, 7)
    assert close(table["krippendorff_alpha"], 0.7972585, 7)
    assert close(table["gwet_ac1"], 0.8493305, 7)
    assert close(table["weighted_cohen_kappa_linear"], 0.843, 3)
    assert close(table["weighted_cohen_kappa_quadratic"], 0.892, 3)
    assert math.isnan(table["krippendorff_alpha_masi"])
    assert table.warnings == []
    assert (table.n_units, table.n_coders, table.n_ratings) == (100, 2, 200)


def test_character_agreement_nvivo_published_percentage() -> None:
    # NVivo help: 1000 characters, 50 coded by both, 150 by one only, 800 by neither -> 85 %
    spans = pd.DataFrame(
        {"document_id": ["d", "d"], "code": ["c", "c"], "coder": ["A", "B"], "start": [0, 100], "end": [150, 200]}
    )
    row = character_agreement(spans, {"d": 1000}).iloc[0]
    assert (row["a_and_b"], row["a_not_b"] + row["b_not_a"], row["neither"]) == (50, 150, 800)
    assert row["percent_agreement"] == pytest.approx(0.85)


# ------------------------------------------------------------------------------------------
# Hand-checkable small cases
# ------------------------------------------------------------------------------------------


def test_cohen_kappa_by_hand() -> None:
    # A: a a b b, B: a b b b. p_o = 3/4; p_e = 1/2 * 1/4 + 1/2 * 3/4 = 1/2; kappa = (3/4 - 1/2) / (1/2)
    ratings = ratings_from_wide([["a", "a"], ["a", "b"], ["b", "b"], ["b", "b"]])
    assert cohen_kappa(ratings) == pytest.approx(0.5)
    # Scott: pooled a = 3/8, b = 5/8; p_e = 9/64 + 25/64 = 34/64; pi = (48/64 - 34/64) / (30/64)
    assert scotts_pi(ratings) == pytest.approx(14 / 30)


def test_percent_agreement_three_coders_by_hand() -> None:
    # unit 1 (x, x, y): 2 of 6 ordered pairs agree -> 1/3; unit 2 (x, x): 1; unit 3 one rating: left out
    ratings = [
        ("u1", "A", "x"),
        ("u1", "B", "x"),
        ("u1", "C", "y"),
        ("u2", "A", "x"),
        ("u2", "C", "x"),
        ("u3", "B", "y"),
    ]
    assert percent_agreement(ratings) == pytest.approx((1 / 3 + 1) / 2)


def test_weighted_kappa_equals_kappa_on_two_categories() -> None:
    # With two categories every disagreement has weight 1, so weighted = unweighted kappa
    ratings = ratings_from_wide([[0, 0], [0, 1], [1, 1], [1, 1], [1, 0], [0, 0]])
    kappa = cohen_kappa(ratings)
    assert weighted_cohen_kappa(ratings, weights="linear") == pytest.approx(kappa)
    assert weighted_cohen_kappa(ratings, weights="quadratic") == pytest.approx(kappa)


def test_masi_distance_by_definition() -> None:
    assert masi_distance({"a", "b"}, ("b", "a")) == 0.0
    assert masi_distance({"a"}, {"a", "b"}) == pytest.approx(1 - 1 / 2 * 2 / 3)
    assert masi_distance({1, 2}, {1, 2, 3, 4}) == pytest.approx(1 - 2 / 4 * 2 / 3)  # NLTK rounds this to 0.665
    assert masi_distance({"a", "b"}, {"b", "c"}) == pytest.approx(1 - 1 / 3 * 1 / 3)
    assert masi_distance({"a"}, {"b"}) == 1.0
    assert masi_distance((), {"a"}) == 1.0
    assert masi_distance((), []) == 0.0


def test_alpha_masi_by_hand() -> None:
    # n = 4 values; observed: 2 * 2/3; expected: 2 * (2 + 2 + 2/3) = 28/3; alpha = 1 - 3 * (4/3) / (28/3)
    ratings = [
        ("s1", "A", ("r:n",)),
        ("s1", "B", ("r:n",)),
        ("s2", "A", ("p:p",)),
        ("s2", "B", ("p:p", "p:n")),
    ]
    assert krippendorff_alpha_masi(ratings) == pytest.approx(4 / 7)


def test_set_values_in_any_order_and_container_are_one_set() -> None:
    a = [("s1", "A", ("x", "y")), ("s1", "B", ["y", "x"]), ("s2", "A", ()), ("s2", "B", frozenset())]
    assert percent_agreement(a) == 1.0


def test_character_kappa_by_hand() -> None:
    # A [0, 150), B [100, 200) of 1000: EF = (150 * 100 + 850 * 900) / 1000 = 780; K = (850 - 780) / (1000 - 780)
    assert character_kappa(1000, [(0, 150)], [(100, 200)]) == pytest.approx(70 / 220)
    # overlapping spans of one coder count once: same as [0, 150)
    assert character_kappa(1000, [(0, 100), (50, 150)], [(100, 200)]) == pytest.approx(70 / 220)
    assert character_kappa(10, [(2, 5)], [(2, 5)]) == 1.0
    assert character_kappa(1000, [], [(100, 200)]) == 0.0  # NVivo's "0" case: one coder coded nothing


def test_character_agreement_pooled_by_code() -> None:
    spans = pd.DataFrame(
        {
            "document_id": ["d1", "d1", "d2", "d2"],
            "code": ["c"] * 4,
            "coder": ["A", "B", "A", "B"],
            "start": [0, 0, 0, 5],
            "end": [10, 10, 5, 10],
        }
    )
    per_doc = character_agreement(spans, {"d1": 20, "d2": 10})
    pooled = character_agreement(spans, {"d1": 20, "d2": 10}, by="code").iloc[0]
    # d1: both 10, neither 10; d2: A only 5, B only 5 -> pooled: both 10, A only 5, B only 5, neither 10
    assert per_doc["kappa"].tolist() == pytest.approx([1.0, (0 - 5.0) / (10 - 5.0)])
    assert pooled[["a_and_b", "a_not_b", "b_not_a", "neither"]].tolist() == [10, 5, 5, 10]
    assert pooled["kappa"] == pytest.approx(character_kappa(30, [(0, 10), (20, 25)], [(0, 10), (25, 30)]))


CODES = ["relasjonell:positiv", "relasjonell:negativ", "rusrelatert:positiv", "rusrelatert:negativ"]


def test_code_agreement_counts_by_hand() -> None:
    segments = pd.DataFrame(
        {
            "segment_id": ["s1", "s1", "s2", "s2", "s3", "s3", "s4", "s4", "s5"],
            "coder": ["A", "B", "A", "B", "A", "B", "A", "B", "A"],
            "codes": [
                ("relasjonell:positiv",),
                ("relasjonell:positiv",),
                ("rusrelatert:negativ",),
                ("rusrelatert:positiv",),
                ("relasjonell:negativ", "rusrelatert:negativ"),
                "relasjonell:negativ",
                (),
                (),
                ("relasjonell:positiv",),  # only A coded s5: not comparable
            ],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every code is used by someone: nothing undefined, no warning
        table = code_agreement(segments, codes=CODES).set_index("name")
    assert (table["notes"] == "").all()
    assert table.attrs["coders"] == ["A", "B"]
    rus_neg = table.loc["rusrelatert:negativ"]
    # s2: A only, s3: A only, s1 and s4: neither
    assert (rus_neg["both_present"], rus_neg["first_only"], rus_neg["second_only"], rus_neg["both_absent"]) == (
        0,
        2,
        0,
        2,
    )
    assert rus_neg["percent_agreement"] == pytest.approx(2 / 4)
    # type rusrelatert present regardless of valence: s2 both, s3 A only
    rus = table.loc["rusrelatert"]
    assert (rus["both_present"], rus["first_only"], rus["both_absent"]) == (1, 1, 2)
    assert table.loc["rusrelatert:positiv", "percent_agreement"] == pytest.approx(3 / 4)
    assert table.loc["relasjonell:positiv", "n_present"] == 3
    assert table.loc["relasjonell:positiv", "n_units"] == 4
    # Cohen's kappa of the presence of relasjonell:positiv: present on s1 for both, absent elsewhere -> 1
    assert table.loc["relasjonell:positiv", "cohen_kappa"] == pytest.approx(1.0)
    whole = table.loc["(whole sets)"]
    assert whole["percent_agreement"] == pytest.approx(2 / 4)  # s1 and s4 match exactly
    assert 0 < whole["krippendorff_alpha_masi"] < 1
    assert math.isnan(whole["gwet_ac1"])


def test_code_agreement_unused_code_has_a_row_and_a_reason() -> None:
    segments = pd.DataFrame(
        {
            "segment_id": ["s1", "s1", "s2", "s2"],
            "coder": ["A", "B"] * 2,
            "codes": [("relasjonell:positiv",)] * 2 + [()] * 2,
        }
    )
    with pytest.warns(UndefinedStatisticWarning):
        table = code_agreement(segments, codes=CODES).set_index("name")
    unused = table.loc["rusrelatert:positiv"]
    assert math.isnan(unused["cohen_kappa"]) and math.isnan(unused["krippendorff_alpha"])
    assert "one category" in unused["notes"]
    assert unused["gwet_ac1"] == 1.0  # AC1 with q = 2 (present/absent) stays defined: total agreement on absence
    assert unused["percent_agreement"] == 1.0


# ------------------------------------------------------------------------------------------
# Undefined statistics: nan with a warning that says why
# ------------------------------------------------------------------------------------------

ONE_CATEGORY = [("u1", "A", "x"), ("u1", "B", "x"), ("u2", "A", "x"), ("u2", "B", "x")]
NO_PAIRS = [("u1", "A", "x"), ("u2", "B", "y"), ("u3", "A", "y")]
THREE_CODERS = [("u1", c, v) for c, v in zip("ABC", "xyx", strict=True)] + [("u2", c, "y") for c in "ABC"]


@pytest.mark.parametrize(
    ("function", "ratings", "reason"),
    [
        (cohen_kappa, ONE_CATEGORY, "one category"),
        (scotts_pi, ONE_CATEGORY, "one category"),
        (fleiss_kappa, ONE_CATEGORY, "one category"),
        (krippendorff_alpha, ONE_CATEGORY, "one category"),
        (gwet_ac1, ONE_CATEGORY, "1 category"),
        (brennan_prediger, ONE_CATEGORY, "1 category"),
        (percent_agreement, NO_PAIRS, "no unit was rated by two or more coders"),
        (fleiss_kappa, NO_PAIRS, "no unit was rated by two or more coders"),
        (krippendorff_alpha, NO_PAIRS, "no unit was rated by two or more coders"),
        (gwet_ac1, NO_PAIRS, "no unit was rated by two or more coders"),
        (cohen_kappa, NO_PAIRS, "no unit was rated by both coders"),
        (cohen_kappa, THREE_CODERS, "exactly two coders; these ratings have 3"),
        (scotts_pi, THREE_CODERS, "exactly two coders; these ratings have 3"),
        (cohen_kappa, [("u1", "A", "x"), ("u2", "A", "y")], "exactly two coders; these ratings have 1"),
        (percent_agreement, [("u1", "A", "x"), ("u2", "A", "y")], "no unit was rated by two or more coders"),
        (krippendorff_alpha, [], "no unit was rated by two or more coders"),
    ],
)
def test_undefined_is_nan_with_reason(function, ratings, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.warns(UndefinedStatisticWarning, match=re.escape(reason)):
        value = function(ratings)
    assert math.isnan(value)


@pytest.mark.parametrize(
    "function",
    [
        percent_agreement,
        cohen_kappa,
        weighted_cohen_kappa,
        scotts_pi,
        fleiss_kappa,
        krippendorff_alpha,
        krippendorff_alpha_masi,
        gwet_ac1,
        brennan_prediger,
    ],
)
def test_no_ratings_at_all_is_nan_not_a_crash(function) -> None:  # type: ignore[no-untyped-def]
    all_missing = [("u1", "A", None), ("u1", "B", float("nan"))]
    for ratings in ([], all_missing):
        with pytest.warns(UndefinedStatisticWarning, match="is undefined"):
            assert math.isnan(function(ratings))


@pytest.mark.parametrize("level", ["ordinal", "interval", "ratio"])
def test_alpha_undefined_at_every_level(level: str) -> None:
    with pytest.warns(UndefinedStatisticWarning, match="one category"):
        assert math.isnan(krippendorff_alpha([(u, c, 3) for u in "uv" for c in "AB"], level=level))  # type: ignore[arg-type]


def test_weighted_kappa_undefined() -> None:
    with pytest.warns(UndefinedStatisticWarning, match="one category"):
        assert math.isnan(weighted_cohen_kappa([(u, c, 1) for u in "uv" for c in "AB"], weights="quadratic"))


def test_masi_alpha_undefined_when_everyone_gives_one_set() -> None:
    with pytest.warns(UndefinedStatisticWarning, match="one category"):
        assert math.isnan(krippendorff_alpha_masi([(u, c, ("a", "b")) for u in "uv" for c in "AB"]))


def test_declared_categories_make_ac1_and_bp_defined() -> None:
    # q = 2 declared: p_e = 0 for AC1 and 1/2 for BP; p_a = 1, so both are 1 (and no warning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gwet_ac1(ONE_CATEGORY, categories=["x", "y"]) == 1.0
        assert brennan_prediger(ONE_CATEGORY, categories=["x", "y"]) == 1.0


def test_agreement_table_collects_reasons_instead_of_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = agreement_table(THREE_CODERS)
    assert math.isnan(table["cohen_kappa"]) and math.isnan(table["scotts_pi"])
    assert any(w.startswith("cohen_kappa: ") and "exactly two coders" in w for w in table.warnings)
    assert not math.isnan(table["fleiss_kappa"])
    assert table.n_coders == 3


def test_character_kappa_neither_coded_is_nan_unless_as_nvivo() -> None:
    with pytest.warns(UndefinedStatisticWarning, match="neither coder coded"):
        assert math.isnan(character_kappa(100, [], []))
    with pytest.warns(UndefinedStatisticWarning, match="both coders coded all"):
        assert math.isnan(character_kappa(100, [(0, 100)], [(0, 100)]))
    assert character_kappa(100, [], [], as_nvivo=True) == 1.0


def test_bootstrap_of_undefined_statistic_is_nan() -> None:
    segments = pd.DataFrame(
        {
            "segment_id": [1, 1, 2, 2],
            "coder": ["A", "B"] * 2,
            "codes": ["x"] * 4,
            "document_id": ["d1", "d1", "d2", "d2"],
        }
    )
    with pytest.warns(UndefinedStatisticWarning, match="one category"):
        ci = bootstrap_ci(segments, "cohen_kappa", n_resamples=20)
    assert math.isnan(ci.estimate) and math.isnan(ci.low) and math.isnan(ci.high)


# ------------------------------------------------------------------------------------------
# Bad input: clear errors
# ------------------------------------------------------------------------------------------


def test_missing_columns_are_named() -> None:
    frame = pd.DataFrame({"segment": [1], "rater": ["A"], "label": ["x"]})
    with pytest.raises(InputError, match=re.escape("expected the columns ['unit', 'coder', 'value']")):
        krippendorff_alpha(frame)
    named = pd.DataFrame({"segment": [1, 1, 2, 2], "rater": ["A", "B"] * 2, "label": ["x", "x", "x", "y"]})
    assert percent_agreement(named, unit="segment", coder="rater", value="label") == pytest.approx(0.5)


def test_duplicate_rating_is_an_error() -> None:
    with pytest.raises(InputError, match=re.escape("a coder rated the same unit twice (unit 'u1' by coder 'A')")):
        cohen_kappa([("u1", "A", "x"), ("u1", "A", "y"), ("u1", "B", "x")])


def test_unknown_category_is_an_error() -> None:
    with pytest.raises(InputError, match=re.escape("values not among the categories given: ['z']")):
        gwet_ac1([("u1", "A", "x"), ("u1", "B", "z")], categories=["x", "y"])


def test_ordinal_text_needs_an_order() -> None:
    with pytest.raises(InputError, match="needs the order of the categories"):
        krippendorff_alpha([("u1", "A", "low"), ("u1", "B", "high")], level="ordinal")
    value = krippendorff_alpha(
        [("u1", "A", "low"), ("u1", "B", "high"), ("u2", "A", "mid"), ("u2", "B", "mid")],
        level="ordinal",
        categories=["low", "mid", "high"],
    )
    assert value < 1


def test_interval_needs_numbers() -> None:
    with pytest.raises(InputError, match="the interval level needs numeric values"):
        krippendorff_alpha([("u1", "A", "low"), ("u1", "B", "high")], level="interval")


def test_ratio_needs_non_negative_values() -> None:
    with pytest.raises(InputError, match="the ratio level needs values of 0 or more"):
        krippendorff_alpha([("u1", "A", -1), ("u1", "B", 1)], level="ratio")


def test_mixed_sets_and_scalars_is_an_error() -> None:
    with pytest.raises(InputError, match="mixes set-valued ratings"):
        percent_agreement([("u1", "A", ("x",)), ("u1", "B", "x")])


def test_code_agreement_unknown_code_is_named() -> None:
    segments = pd.DataFrame({"segment_id": ["s1"], "coder": ["A"], "codes": [("geografisk:positv",)]})
    with pytest.raises(InputError, match=re.escape("unit 's1', coder 'A': unknown code 'geografisk:positv'")):
        code_agreement(segments, codes=CODES)


def test_character_span_outside_document_is_an_error() -> None:
    with pytest.raises(InputError, match=re.escape("span (90, 120) is not within the document of 100 characters")):
        character_kappa(100, [(90, 120)], [])


def test_bootstrap_unit_in_two_documents_is_an_error() -> None:
    segments = pd.DataFrame(
        {"segment_id": [1, 1], "coder": ["A", "B"], "codes": ["x", "y"], "document_id": ["d1", "d2"]}
    )
    with pytest.raises(InputError, match="lies in more than one document_id"):
        bootstrap_ci(segments, "cohen_kappa")


# ------------------------------------------------------------------------------------------
# Properties (hypothesis)
# ------------------------------------------------------------------------------------------


@st.composite
def wide_ratings(draw, min_coders: int = 2, max_coders: int = 5, categories: int = 4, missing: bool = True):  # type: ignore[no-untyped-def]
    """A units x coders table of small integer categories, with missing cells."""
    n_coders = draw(st.integers(min_coders, max_coders))
    n_units = draw(st.integers(2, 25))
    cell = st.integers(0, categories - 1)
    if missing:
        cell = st.one_of(cell, st.none())
    return draw(st.lists(st.lists(cell, min_size=n_coders, max_size=n_coders), min_size=n_units, max_size=n_units))


def tables_equal(a: dict[str, float], b: dict[str, float]) -> bool:
    return all((math.isnan(a[k]) and math.isnan(b[k])) or a[k] == pytest.approx(b[k], abs=1e-9) for k in a)


def quiet_table(ratings: pd.DataFrame, **kwargs) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return dict(agreement_table(ratings, **kwargs))


@settings(max_examples=60, deadline=None)
@given(wide_ratings())
def test_symmetric_in_coders(table: list[list[int | None]]) -> None:
    n_coders = len(table[0])
    ratings = ratings_from_wide(table, coders=[f"c{i}" for i in range(n_coders)])
    renamed = ratings.assign(coder=ratings["coder"].map({f"c{i}": f"c{n_coders - 1 - i}" for i in range(n_coders)}))
    assert tables_equal(quiet_table(ratings, level="ordinal"), quiet_table(renamed, level="ordinal"))


@settings(max_examples=60, deadline=None)
@given(wide_ratings(), st.randoms(use_true_random=False))
def test_invariant_to_row_and_unit_order(table: list[list[int | None]], random) -> None:  # type: ignore[no-untyped-def]
    ratings = ratings_from_wide(table)
    order = list(range(len(ratings)))
    random.shuffle(order)
    shuffled = ratings.iloc[order].reset_index(drop=True)
    relabelled = shuffled.assign(unit=shuffled["unit"].map(lambda u: f"unit-{(u * 7919) % 10007}"))
    assert tables_equal(quiet_table(ratings, level="interval"), quiet_table(relabelled, level="interval"))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 3), min_size=2, max_size=25),
    st.integers(2, 5),
    st.data(),
)
def test_perfect_agreement_gives_one_where_defined(truth: list[int], n_coders: int, data) -> None:  # type: ignore[no-untyped-def]
    mask = data.draw(
        st.lists(
            st.lists(st.booleans(), min_size=n_coders, max_size=n_coders), min_size=len(truth), max_size=len(truth)
        )
    )
    table = [[t if keep else None for keep in row] for t, row in zip(truth, mask, strict=True)]
    ratings = ratings_from_wide(table)
    stats = quiet_table(ratings, level="interval", categories=[0, 1, 2, 3])
    pairable = [sum(keep) >= 2 for keep in mask]
    used = {t for t, p in zip(truth, pairable, strict=True) if p}  # categories among comparable ratings
    rated = {t for t, keep in zip(truth, mask, strict=True) if any(keep)}  # Fleiss' p_e uses every rated unit
    for name, value in stats.items():
        if name == "krippendorff_alpha_masi":
            continue
        two_coder = name in ("cohen_kappa", "scotts_pi") or name.startswith("weighted")
        if not any(pairable) or (two_coder and ratings["coder"].nunique() != 2):
            assert math.isnan(value), name
        elif name in ("percent_agreement", "gwet_ac1", "brennan_prediger"):  # q = 4 declared: defined
            assert value == pytest.approx(1.0), name
        elif name == "fleiss_kappa":
            assert math.isnan(value) if len(rated) < 2 else value == pytest.approx(1.0), name
        elif len(used) < 2:  # one category among the comparable ratings: 0/0
            assert math.isnan(value), name
        else:
            assert value == pytest.approx(1.0), name


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(wide_ratings(categories=5))
def test_alpha_matches_krippendorff_package(table: list[list[int | None]]) -> None:
    reliability = np.array([[np.nan if v is None else v for v in row] for row in table], dtype=float).T
    pairable = (~np.isnan(reliability)).sum(axis=0) >= 2
    values = np.unique(reliability[:, pairable][~np.isnan(reliability[:, pairable])])
    if not pairable.any() or len(values) < 2:
        return  # the package raises where we return nan; covered by the undefined tests
    ratings = ratings_from_wide(table)
    for level in ("nominal", "ordinal", "interval", "ratio"):
        ours = krippendorff_alpha(ratings, level=level)  # type: ignore[arg-type]
        theirs = krippendorff.alpha(reliability_data=reliability, level_of_measurement=level)
        assert ours == pytest.approx(theirs, abs=1e-9), level


def test_alpha_matches_package_on_large_random_data() -> None:
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 6, size=3000)
    reliability = np.where(rng.random((4, 3000)) < 0.6, truth, rng.integers(0, 6, size=(4, 3000))).astype(float)
    reliability[rng.random(reliability.shape) < 0.15] = np.nan
    ratings = ratings_from_wide(reliability.T.tolist())
    ratings = ratings.loc[~ratings["value"].isna()]
    for level in ("nominal", "ordinal", "interval", "ratio"):
        ours = krippendorff_alpha(ratings, level=level)  # type: ignore[arg-type]
        assert ours == pytest.approx(krippendorff.alpha(reliability, level_of_measurement=level), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(wide_ratings(min_coders=2, max_coders=2, missing=False))
def test_cohen_kappas_match_scikit_learn(table: list[list[int]]) -> None:
    a, b = [row[0] for row in table], [row[1] for row in table]
    ratings = ratings_from_wide(table)
    labels = [0, 1, 2, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for weights in (None, "linear", "quadratic"):
            theirs = cohen_kappa_score(a, b, labels=labels, weights=weights)
            ours = (
                cohen_kappa(ratings)
                if weights is None
                else weighted_cohen_kappa(ratings, weights=weights, categories=labels)
            )
            if math.isnan(theirs) or math.isnan(ours):
                assert math.isnan(theirs) and math.isnan(ours)
            else:
                assert ours == pytest.approx(theirs, abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 6), st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=1), min_size=3, max_size=20), st.data()
)
def test_fleiss_and_percent_match_plain_formulas(n_raters: int, seeds: list[list[int]], data) -> None:  # type: ignore[no-untyped-def]
    # complete data, the same number of raters per unit: Fleiss' (1971) own formulas
    table = [data.draw(st.lists(st.integers(0, 3), min_size=n_raters, max_size=n_raters)) for _ in seeds]
    counts = np.array([[row.count(k) for k in range(4)] for row in table], dtype=float)
    p_i = ((counts**2).sum(axis=1) - n_raters) / (n_raters * (n_raters - 1))
    p_j = counts.sum(axis=0) / counts.sum()
    p_bar, p_e = p_i.mean(), (p_j**2).sum()
    ratings = ratings_from_wide(table)
    assert percent_agreement(ratings) == pytest.approx(p_bar)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedStatisticWarning)
        ours = fleiss_kappa(ratings)
    if math.isclose(p_e, 1.0):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx((p_bar - p_e) / (1 - p_e))


@settings(max_examples=40, deadline=None)
@given(wide_ratings(categories=3))
def test_masi_alpha_on_singletons_equals_nominal_alpha(table: list[list[int | None]]) -> None:
    ratings = ratings_from_wide(table)
    as_sets = ratings.assign(value=[(v,) for v in ratings["value"]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedStatisticWarning)
        nominal, masi = krippendorff_alpha(ratings), krippendorff_alpha_masi(as_sets)
    assert (math.isnan(nominal) and math.isnan(masi)) or masi == pytest.approx(nominal, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 60),
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=4),
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60)), max_size=4),
)
def test_character_kappa_is_cohens_kappa_over_characters(length: int, raw_a, raw_b) -> None:  # type: ignore[no-untyped-def]
    spans_a = [(min(s, e, length), min(max(s, e), length)) for s, e in raw_a]
    spans_b = [(min(s, e, length), min(max(s, e), length)) for s, e in raw_b]
    a = np.zeros(length, dtype=int)
    b = np.zeros(length, dtype=int)
    for s, e in spans_a:
        a[s:e] = 1
    for s, e in spans_b:
        b[s:e] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = character_kappa(length, spans_a, spans_b)
        theirs = cohen_kappa_score(a, b, labels=[0, 1])
    if (a == b).all() and len(set(a)) == 1:
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, abs=1e-9)


# ------------------------------------------------------------------------------------------
# Bootstrap
# ------------------------------------------------------------------------------------------


def synthetic_segments(n_documents: int = 30, per_document: int = 20, seed: int = 0) -> pd.DataFrame:
    """Two coders, MPSOC-like sets of codes, agreement varying between documents."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_documents):
        reliability = rng.uniform(0.5, 0.95)
        for s in range(per_document):
            truth = tuple(sorted(rng.choice(CODES, size=rng.integers(0, 3), replace=False)))
            for coder in ("A", "B"):
                codes = truth if rng.random() < reliability else tuple(rng.choice(CODES, size=1))
                rows.append((f"d{d}", f"d{d}:{s}", coder, codes))
    return pd.DataFrame(rows, columns=["document_id", "segment_id", "coder", "codes"])


def test_bootstrap_is_deterministic_for_a_seed_and_contains_the_estimate() -> None:
    segments = synthetic_segments()
    first = bootstrap_ci(segments, "krippendorff_alpha_masi", n_resamples=400, seed=11)
    again = bootstrap_ci(segments, "krippendorff_alpha_masi", n_resamples=400, seed=11)
    other = bootstrap_ci(segments, "krippendorff_alpha_masi", n_resamples=400, seed=12)
    assert first == again
    assert (first.low, first.high) != (other.low, other.high)
    assert first.low < first.estimate < first.high
    assert first.estimate == pytest.approx(krippendorff_alpha_masi(segments, unit="segment_id", value="codes"))
    assert (first.n_groups, first.n_resamples, first.n_undefined) == (30, 400, 0)


def test_bootstrap_narrows_with_more_documents() -> None:
    small = bootstrap_ci(synthetic_segments(n_documents=10, seed=1), "krippendorff_alpha", n_resamples=300)
    large = bootstrap_ci(synthetic_segments(n_documents=160, seed=1), "krippendorff_alpha", n_resamples=300)
    assert large.high - large.low < small.high - small.low


@pytest.mark.parametrize(
    "statistic",
    [
        "percent_agreement",
        "cohen_kappa",
        "scotts_pi",
        "fleiss_kappa",
        "krippendorff_alpha",
        "gwet_ac1",
        "brennan_prediger",
        "krippendorff_alpha_masi",
    ],
)
def test_vectorised_bootstrap_equals_recomputing(statistic: str) -> None:
    # The per-document sums path must give exactly what recomputing the statistic on each resample gives.
    segments = synthetic_segments(n_documents=12, per_document=8, seed=5)
    functions = {
        f.__name__: f
        for f in (
            percent_agreement,
            cohen_kappa,
            scotts_pi,
            fleiss_kappa,
            krippendorff_alpha,
            gwet_ac1,
            brennan_prediger,
            krippendorff_alpha_masi,
        )
    }
    function = functions[statistic]

    # q of AC1 and Brennan-Prediger stays that of the whole data in every resample
    fixed = {"categories": sorted({frozenset(c) for c in segments["codes"]}, key=sorted)}
    extra = fixed if statistic in ("gwet_ac1", "brennan_prediger") else {}

    def recompute(frame: pd.DataFrame) -> float:
        return function(frame, unit="segment_id", value="codes", **extra)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedStatisticWarning)
        fast = bootstrap_ci(segments, statistic, n_resamples=60, seed=3)
        by_function = bootstrap_ci(segments, function, n_resamples=60, seed=3)
        slow = bootstrap_ci(segments, recompute, n_resamples=60, seed=3)
    assert fast == by_function
    assert fast.estimate == pytest.approx(slow.estimate)
    assert (fast.low, fast.high, fast.n_undefined) == pytest.approx((slow.low, slow.high, slow.n_undefined))


def test_bootstrap_interval_levels_agree_with_recomputing() -> None:
    rng = np.random.default_rng(2)
    n = 300
    truth = rng.normal(size=n)
    segments = pd.DataFrame(
        {
            "segment_id": np.repeat(np.arange(n), 3),
            "document_id": np.repeat(np.arange(n) // 15, 3),
            "coder": np.tile(["A", "B", "C"], n),
            "codes": np.repeat(truth, 3) + rng.normal(scale=0.5, size=3 * n),
        }
    )
    fast = bootstrap_ci(segments, "krippendorff_alpha", level="interval", n_resamples=50, seed=1)
    slow = bootstrap_ci(
        segments,
        lambda f: krippendorff_alpha(f, level="interval", unit="segment_id", value="codes"),
        n_resamples=50,
        seed=1,
    )
    assert (fast.estimate, fast.low, fast.high) == pytest.approx((slow.estimate, slow.low, slow.high))
    assert fast.low < fast.estimate < fast.high


def test_bootstrap_rejects_bad_arguments() -> None:
    segments = synthetic_segments(n_documents=3, per_document=2)
    with pytest.raises(InputError, match="confidence must lie strictly between 0 and 1"):
        bootstrap_ci(segments, "cohen_kappa", confidence=1.5)
    with pytest.raises(InputError, match="unknown statistic 'kappa'"):
        bootstrap_ci(segments, "kappa")
