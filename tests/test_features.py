from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpsoc_nlp.models.features import (
    SCHEME,
    SCHEME_VERSION,
    NgramHasher,
    hashed_counts,
    reference_ngram_columns,
    term_column,
    word_ngrams,
)

N = 2**18


def _columns(x, row: int) -> list[int]:
    """The columns of one row, each repeated by its count."""
    r = x[row]
    return sorted(np.repeat(r.indices, r.data.astype(int)).tolist())


def _char_col(gram: str) -> int:
    """The scheme written out for one character n-gram: FNV-style polynomial mod 2**32, then the
    top 18 bits of a golden-ratio multiply."""
    h = 0x811C9DC5
    for c in gram:
        h = (h * 0x01000193 + ord(c)) % 2**32
    return ((h * 0x9E3779B1) % 2**32) >> 14


def test_scheme_is_named_and_versioned():
    assert (SCHEME, SCHEME_VERSION) == ("ngram-hash", 1)


def test_known_char_ngrams_of_a_short_word():
    # "Ab" -> " ab ": 2-grams " a", "ab", "b "; 3-grams " ab", "ab "; 4-gram " ab "
    x = hashed_counts(["Ab"], analyzer="char_wb", ngram_range=(2, 4))
    grams = [" a", "ab", "b ", " ab", "ab ", " ab "]
    assert _columns(x, 0) == sorted(_char_col(g) for g in grams)
    assert x.shape == (1, N) and x.sum() == 6
    # two words share no n-gram across the space
    y = hashed_counts(["ab cd"], analyzer="char_wb", ngram_range=(3, 3))
    assert _columns(y, 0) == sorted(_char_col(g) for g in [" ab", "ab ", " cd", "cd "])


def test_known_word_ngrams():
    x = hashed_counts(["Hei, du DU!"], analyzer="word", ngram_range=(1, 2))
    assert word_ngrams("Hei, du DU!", (1, 2)) == ["hei", "du", "du", "hei du", "du du"]
    cols = [term_column(t) for t in ["hei", "du", "du", "hei du", "du du"]]
    assert _columns(x, 0) == sorted(cols)
    assert x[0, term_column("du")] == 2  # lower-cased, counted twice
    assert len(set(cols)) == 4


def test_word_and_char_spaces_are_separate():
    a = hashed_counts(["ab"], analyzer="word", ngram_range=(1, 1)).indices
    b = hashed_counts(["ab"], analyzer="char_wb", ngram_range=(4, 4)).indices
    assert a.tolist() != b.tolist()  # different start values per analyzer


def test_norwegian_letters_and_nfd_input_match_nfc():
    nfc = "Blåbær på Tromsø"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    for analyzer, rng in (("char_wb", (2, 5)), ("word", (1, 2))):
        x = hashed_counts([nfc, nfd, nfc.upper()], analyzer=analyzer, ngram_range=rng)
        assert _columns(x, 0) == _columns(x, 1) == _columns(x, 2)
        assert _columns(x, 0) == reference_ngram_columns(nfc, analyzer=analyzer, ngram_range=rng)
    # "æ" is one character: " æ" is a 2-gram of "æ"
    x = hashed_counts(["æ"], analyzer="char_wb", ngram_range=(2, 2))
    assert x.sum() == 2


def test_emoji_are_characters_but_not_words():
    text = "glad 😀😀 🇳🇴"
    w = hashed_counts([text], analyzer="word", ngram_range=(1, 1))
    assert _columns(w, 0) == [term_column("glad")]
    c = hashed_counts([text], analyzer="char_wb", ngram_range=(2, 3))
    assert _columns(c, 0) == reference_ngram_columns(text, analyzer="char_wb", ngram_range=(2, 3))
    # "😀😀" padded: 3 two-grams + 2 three-grams; the flag (2 code points) padded: 3 + 2
    glad = reference_ngram_columns("glad", analyzer="char_wb", ngram_range=(2, 3))
    assert c.sum() == len(glad) + 5 + 5


@pytest.mark.parametrize("analyzer,rng", [("char_wb", (2, 5)), ("word", (1, 2))])
def test_empty_and_blank_texts_give_empty_rows(analyzer, rng):
    x = hashed_counts(["", "  \n\t ", "ok", "", "..."], analyzer=analyzer, ngram_range=rng)
    assert x.shape == (5, N)
    assert np.diff(x.indptr).tolist()[:2] == [0, 0] and x[3].nnz == 0
    assert x[2].nnz > 0
    assert hashed_counts([], analyzer=analyzer, ngram_range=rng).shape == (0, N)


def test_deterministic_and_independent_of_batching_and_jobs():
    texts = [f"tekst nummer {i} om bolig, venner og rus {'ø' * (i % 7)}" for i in range(50)]
    whole = hashed_counts(texts)
    again = hashed_counts(texts)
    blocks = NgramHasher(block_size=7, n_jobs=2).transform(texts)
    for other in (again, blocks):
        assert (whole != other).nnz == 0
        np.testing.assert_array_equal(whole.indices, other.indices)
        np.testing.assert_array_equal(whole.indptr, other.indptr)


def test_columns_sorted_within_rows_and_counts_summed():
    x = hashed_counts(["aaaa aaaa", "ba ab"])
    for r in range(2):
        idx = x.indices[x.indptr[r] : x.indptr[r + 1]]
        assert (np.diff(idx) > 0).all()
    assert x[0, _char_col(" a")] == 2  # " a" once per word


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="power of 2"):
        hashed_counts(["a"], n_features=1000)
    with pytest.raises(ValueError, match="start at 2"):
        hashed_counts(["a"], ngram_range=(1, 3))
    with pytest.raises(ValueError, match="analyzer"):
        hashed_counts(["a"], analyzer="chars")  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=40), min_size=1, max_size=6),
    n_features=st.sampled_from([2, 64, 2**18]),
)
def test_equals_the_plain_python_reference(texts, n_features):
    for analyzer, rng in (("char_wb", (2, 5)), ("char_wb", (3, 4)), ("word", (1, 3))):
        x = hashed_counts(texts, analyzer=analyzer, ngram_range=rng, n_features=n_features)
        for i, t in enumerate(texts):
            expected = reference_ngram_columns(t, analyzer=analyzer, ngram_range=rng, n_features=n_features)
            assert _columns(x, i) == expected


def test_every_kind_of_whitespace_and_the_block_separator_inside_texts():
    # the texts of a block are joined with U+001E; inside a text it is whitespace like any other
    texts = ["a\x1eb", "\x1e", "x\u2028y\u3000z\x85w\x0bv", " \t", "ende\x1e"]
    for analyzer, rng in (("char_wb", (2, 4)), ("word", (1, 2))):
        x = hashed_counts(texts, analyzer=analyzer, ngram_range=rng)
        for i, t in enumerate(texts):
            assert _columns(x, i) == reference_ngram_columns(t, analyzer=analyzer, ngram_range=rng)
    assert hashed_counts(texts, analyzer="word", ngram_range=(1, 1))[0].sum() == 2  # "a", "b"
