"""Hashed word and character n-gram counts, vectorised over code-point arrays.

scikit-learn's ``HashingVectorizer`` builds a Python string for every n-gram before hashing it;
for character n-grams that is most of the linear coder's time. :class:`NgramHasher` produces the
same n-grams (words: maximal runs of word characters, ``(?u)\\b\\w+\\b``; characters: ``char_wb``,
within words padded with a space) but never makes a string per n-gram: a chunk of texts becomes
one array of code points, and each n-gram's hash is a polynomial over its code points (for word
n-grams: over its words' hashes, each a polynomial over the word's code points mixed with murmur3's
32-bit finaliser), computed with whole-array integer arithmetic mod 2**32. The column of an n-gram
is the top bits of its hash times the golden ratio (multiply-shift), so ``n_features`` is a power
of 2. Within each row the columns come out sorted and summed: the result does not depend on how
the texts were cut into blocks.

Texts are lower-cased and put in Unicode normal form NFC first, so decomposed input (``a`` +
combining ring) counts as the composed letter (``å``).

The scheme is versioned (:data:`SCHEME`, :data:`SCHEME_VERSION`): a saved model records them, and
any change to the n-grams or the hash must bump the version. :func:`reference_ngram_columns` is a
plain-Python statement of the same scheme, for tests.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = [
    "SCHEME",
    "SCHEME_VERSION",
    "NgramHasher",
    "hashed_counts",
    "reference_ngram_columns",
    "term_column",
    "word_ngrams",
]

SCHEME = "ngram-hash"
SCHEME_VERSION = 1

Analyzer = Literal["word", "char_wb"]

_MASK = (1 << 32) - 1
_P = 0x01000193  # FNV-1 32-bit prime: multiplier of the polynomial
_OFFSET = {"char_wb": 0x811C9DC5, "word": 0x9E3779B9}  # start value per analyzer
_GOLDEN = 0x9E3779B1  # multiplier of the multiply-shift that turns a hash into a column
_SPACE = 32


def _fmix32(h: np.ndarray) -> np.ndarray:
    """murmur3's 32-bit finaliser, in place on a uint32 array."""
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def _fmix32_int(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK
    h ^= h >> 16
    return h


@functools.lru_cache(maxsize=1)
def _word_chars_bmp() -> np.ndarray:
    """``table[cp]`` for the Basic Multilingual Plane: is ``cp`` a word character of ``re`` (``\\w``)?"""
    return np.fromiter((chr(i).isalnum() or i == 95 for i in range(0x10000)), dtype=bool, count=0x10000)


def _is_word_char(cp: np.ndarray) -> np.ndarray:
    """``\\w`` of each code point: from the table below U+10000, one look-up per distinct one above."""
    high = cp >= 0x10000
    out = _word_chars_bmp()[np.where(high, 0, cp)]
    if high.any():
        distinct, inverse = np.unique(cp[high], return_inverse=True)
        out[high] = np.fromiter((chr(c).isalnum() for c in distinct.tolist()), dtype=bool, count=len(distinct))[inverse]
    return out


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFC", text.lower())


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _rolling(values: np.ndarray, lo: int, hi: int, offset: int) -> list[tuple[int, np.ndarray]]:
    """Polynomial hashes ``offset * P**n + sum(values[i + k] * P**(n - 1 - k))`` mod 2**32 of every
    window of ``n`` consecutive values, ``lo <= n <= hi``: ``[(n, hashes of windows at 0, 1, ...)]``."""
    out = []
    h = np.full(len(values), offset, dtype=np.uint32)
    p = np.uint32(_P)
    for n in range(1, hi + 1):
        if len(values) < n:
            break
        h = h[: len(values) - n + 1] * p
        h += values[n - 1 :]
        if n >= lo:
            out.append((n, h))
    return out


def _column_bits(n_features: int) -> int:
    bits = int(n_features).bit_length() - 1
    if n_features < 2 or n_features != 1 << bits or bits > 31:
        raise ValueError(f"n_features must be a power of 2 between 2 and 2**31, not {n_features}")
    return bits


def _keys(doc: np.ndarray, h: np.ndarray, bits: int, key_type: type) -> np.ndarray:
    """``doc << bits | column`` with column = the top ``bits`` bits of ``h * GOLDEN`` mod 2**32."""
    col = h * np.uint32(_GOLDEN)
    col >>= np.uint32(32 - bits)
    key: np.ndarray = doc.astype(key_type)
    key <<= key_type(bits)
    key |= col
    return key


def _char_wb(texts: Sequence[str], lo: int, hi: int, bits: int, key_type: type) -> np.ndarray:
    """Keys (document, column) of every ``char_wb`` n-gram (``n >= 2``) of the texts."""
    words = [" ".join(_normalise(t).split()) for t in texts]
    keep = [i for i, w in enumerate(words) if w]
    if not keep:
        return np.empty(0, dtype=key_type)
    # " w1 w2 w3 w4 ": every word between two spaces, neighbouring words and documents sharing one
    cp = _code_points(" " + " ".join(words[i] for i in keep) + " ")
    # the document of positions 1, 2, ...: its characters and its trailing space; an n-gram
    # belongs to the document of its second position
    lengths = np.fromiter((len(words[i]) + 1 for i in keep), dtype=np.int64, count=len(keep))
    doc: np.ndarray = np.repeat(np.asarray(keep, dtype=key_type), lengths)
    doc <<= key_type(bits)
    spaces = np.cumsum(cp == _SPACE, dtype=np.int32)  # spaces up to and including each position
    keys = []
    for n, h in _rolling(cp, lo, hi, _OFFSET["char_wb"]):
        col = h * np.uint32(_GOLDEN)
        col >>= np.uint32(32 - bits)
        key = doc[: len(h)] | col
        if n > 2:  # within one padded word: no space strictly between the first and the last position
            key = key[spaces[n - 2 : n - 2 + len(h)] == spaces[: len(h)]]
        keys.append(key)
    return np.concatenate(keys)


def _word(texts: Sequence[str], lo: int, hi: int, bits: int, key_type: type) -> np.ndarray:
    """Keys (document, column) of every word n-gram of the texts; a word is a maximal run of ``\\w``."""
    norm = [_normalise(t) for t in texts]
    cp = _code_points("\n".join(norm))  # the separator is no word character
    edges = np.diff(np.concatenate([[False], _is_word_char(cp), [False]]).astype(np.int8))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    if not len(starts):
        return np.empty(0, dtype=key_type)
    # a word's polynomial from prefix sums of cp[k] * P**-k (P is odd, so invertible mod 2**32):
    # sum(cp[k] * P**(end - 1 - k)) = P**(end - 1) * (prefix[end] - prefix[start])
    inv_pow = np.full(len(cp), pow(_P, -1, 1 << 32), dtype=np.uint32)
    inv_pow[0] = 1
    prefix = np.zeros(len(cp) + 1, dtype=np.uint32)
    np.cumsum(cp * np.cumprod(inv_pow, dtype=np.uint32), dtype=np.uint32, out=prefix[1:])
    pow_ = np.full(len(cp) + 1, _P, dtype=np.uint32)
    pow_[0] = 1
    pow_ = np.cumprod(pow_, dtype=np.uint32)
    word_hash = (prefix[ends] - prefix[starts]) * pow_[ends - 1] + np.uint32(_OFFSET["word"]) * pow_[ends - starts]
    word_hash = _fmix32(word_hash)
    lengths = np.fromiter((len(t) + 1 for t in norm), dtype=np.int64, count=len(norm))
    doc = np.repeat(np.arange(len(norm), dtype=np.int32), lengths)[starts]
    keys = []
    for n, h in _rolling(word_hash, lo, hi, _OFFSET["word"]):
        ok = doc[: len(h)] == doc[n - 1 :]
        keys.append(_keys(doc[: len(h)][ok], h[ok], bits, key_type))
    return np.concatenate(keys)


def hashed_counts(
    texts: Sequence[str],
    *,
    analyzer: Analyzer = "char_wb",
    ngram_range: tuple[int, int] = (2, 5),
    n_features: int = 2**18,
    dtype: type = np.float32,
) -> sp.csr_matrix:
    """Counts ``(n_texts, n_features)`` of the hashed n-grams of each text (see the module).

    Columns are sorted within each row, so the result is canonical.
    """
    lo, hi = int(ngram_range[0]), int(ngram_range[1])
    if not 1 <= lo <= hi:
        raise ValueError(f"ngram_range must be 1 <= min <= max, not {ngram_range}")
    bits = _column_bits(n_features)
    key_type = np.uint32 if len(texts) << bits <= 2**32 else np.uint64
    if analyzer == "char_wb":
        if lo < 2:
            raise ValueError(f"char_wb n-grams start at 2 characters, not {lo}")
        keys = _char_wb(texts, lo, hi, bits, key_type)
    elif analyzer == "word":
        keys = _word(texts, lo, hi, bits, key_type)
    else:
        raise ValueError(f"analyzer must be 'word' or 'char_wb', not {analyzer!r}")
    # sort (document, column) keys; runs of one key are the count of that cell
    keys.sort()
    first = np.empty(len(keys), dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    counts: np.ndarray = np.diff(starts, append=len(keys)).astype(dtype)
    cells = keys[starts]
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount((cells >> key_type(bits)).astype(np.intp), minlength=len(texts)), out=indptr[1:])
    indices = (cells & key_type(n_features - 1)).astype(np.int32)
    return sp.csr_matrix((counts, indices, indptr), shape=(len(texts), n_features))


class NgramHasher(TransformerMixin, BaseEstimator):
    """Stateless transformer: texts -> hashed n-gram counts (see :func:`hashed_counts`).

    Parameters
    ----------
    analyzer : {"word", "char_wb"}
    ngram_range : tuple of int
    n_features : int
        Hash buckets (columns).
    n_jobs : int, optional
        Blocks of ``block_size`` texts hashed in parallel (joblib threads; ``-1``: all cores). The
        result does not depend on it.
    block_size : int
        Texts hashed at a time (bounds the temporary arrays).
    """

    def __init__(
        self,
        analyzer: Analyzer = "char_wb",
        ngram_range: tuple[int, int] = (2, 5),
        n_features: int = 2**18,
        n_jobs: int | None = None,
        block_size: int = 2000,
    ) -> None:
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.n_features = n_features
        self.n_jobs = n_jobs
        self.block_size = block_size

    def fit(self, texts: Sequence[str], y: object = None) -> NgramHasher:
        return self

    def _block(self, texts: Sequence[str]) -> sp.csr_matrix:
        return hashed_counts(texts, analyzer=self.analyzer, ngram_range=self.ngram_range, n_features=self.n_features)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        texts = list(texts)
        blocks = [texts[i : i + self.block_size] for i in range(0, len(texts), self.block_size)]
        if len(blocks) <= 1:
            return self._block(texts)
        parts = Parallel(n_jobs=self.n_jobs, prefer="threads")(delayed(self._block)(b) for b in blocks)
        return sp.vstack(parts, format="csr")


# the same scheme, one n-gram at a time (for tests and for reading) -------------------------
def _poly(values: Sequence[int], offset: int) -> int:
    h = offset
    for v in values:
        h = (h * _P + v) & _MASK
    return h


def word_ngrams(text: str, ngram_range: tuple[int, int]) -> list[str]:
    """The word n-grams of a text as strings (words joined by a space), in plain Python."""
    words = re.findall(r"\w+", _normalise(text))
    lo, hi = ngram_range
    return [" ".join(words[i : i + n]) for n in range(lo, hi + 1) for i in range(len(words) - n + 1)]


def _column(h: int, n_features: int) -> int:
    return ((h * _GOLDEN) & _MASK) >> (32 - _column_bits(n_features))


def term_column(term: str, n_features: int = 2**18) -> int:
    """The column of a word n-gram given as a string from :func:`word_ngrams`."""
    words = [_fmix32_int(_poly([ord(c) for c in w], _OFFSET["word"])) for w in term.split(" ")]
    return _column(_poly(words, _OFFSET["word"]), n_features)


def reference_ngram_columns(
    text: str, *, analyzer: Analyzer, ngram_range: tuple[int, int], n_features: int = 2**18
) -> list[int]:
    """The columns of a text's n-grams, computed one n-gram string at a time, sorted."""
    if analyzer == "word":
        return sorted(term_column(t, n_features) for t in word_ngrams(text, ngram_range))
    lo, hi = ngram_range
    grams = [
        padded[i : i + n]
        for w in _normalise(text).split()
        for padded in [" " + w + " "]
        for n in range(lo, hi + 1)
        for i in range(len(padded) - n + 1)
    ]
    return sorted(_column(_poly([ord(c) for c in g], _OFFSET["char_wb"]), n_features) for g in grams)
