"""The offline default coder: hashed word and character n-grams, TF-IDF, one logistic regression per code.

Hashed features keep no vocabulary of the training text, so a model folder can leave a secure
enclave; ``keep_vocabulary=True`` stores the word n-grams seen in training to explain the model
(top terms per code). Per-code decision thresholds are tuned on out-of-fold probabilities inside
the training data, grouped by document when groups are given.
"""

from __future__ import annotations

import itertools
import json
import logging
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold

from ..codebook import Codebook
from ..errors import InputError, ModelError
from . import features as hashing
from .base import BaseCoder, as_code_sets, check_texts
from .folder import METADATA_KEYS
from .thresholds import tune_thresholds

__all__ = ["FEATURE_SCHEMES", "LinearCoder"]

logger = logging.getLogger(__name__)

WEIGHTS = "weights.npz"
VOCABULARY = "vocabulary.json"
# feature scheme -> (name, version) recorded in model.json; "sklearn-hashing/1" is the scheme of
# models written before the scheme was recorded (scikit-learn's HashingVectorizer, float64)
NGRAM_HASH = f"{hashing.SCHEME}/{hashing.SCHEME_VERSION}"
SKLEARN_HASHING = "sklearn-hashing/1"
FEATURE_SCHEMES = (NGRAM_HASH, SKLEARN_HASHING)


class LinearCoder(BaseCoder):
    """Multi-label coder over a codebook's codes with a scikit-learn linear model.

    Parameters
    ----------
    codebook : Codebook, optional
        The codes to learn, in order; default the MPSOC codebook.
    word_ngrams, char_ngrams : tuple of int
        N-gram ranges of the word and the character (within word boundaries) features.
    n_features : int
        Hash buckets per feature family.
    C : float
        Inverse regularisation strength of the logistic regressions.
    class_weight : {"balanced", None}
        ``"balanced"`` weights the rare positives of each code up.
    tune : bool
        Tune per-code thresholds on grouped out-of-fold probabilities (else 0.5).
    threshold_folds : int
        Folds of the inner cross-validation that tunes thresholds.
    one_fold_from : int
        From this many training segments on, thresholds are tuned on the out-of-fold predictions
        of one inner fold only (2 fits instead of ``threshold_folds + 1``).
    single_fit_from : int, optional
        From this many training segments on, one fit only: the model is fit on four fifths of the
        documents and the thresholds are tuned on its predictions for the fifth held out (grouped
        by document; at least 5 documents), instead of inner folds and a final fit on everything.
        Only with ``tune``; ``None``: never.
    tol : float
        Stopping tolerance of liblinear's solver (scikit-learn's default is 1e-4; 0.1 gives the
        same grouped-CV scores here at a fraction of the iterations).
    review_band : float
        A prediction is flagged for review when a probability is this close to its threshold.
    keep_vocabulary : bool
        Store the word n-grams seen in training, for :meth:`top_terms`. Off by default: the
        folder then holds no text.
    seed : int
        Seed of the inner folds and the solver.
    batch_size : int
        Segments vectorised at a time in ``predict_proba`` (bounds memory on large inputs).
    features : str
        Feature scheme, ``"name/version"``: ``"ngram-hash/1"`` (:mod:`.features`, the default) or
        ``"sklearn-hashing/1"`` (scikit-learn's ``HashingVectorizer``, models saved before the
        scheme was recorded). Saved in ``model.json``.
    n_jobs : int, optional
        Cores for vectorising and predicting (joblib; ``-1``: all). Results do not depend on it;
        not saved with the model.
    """

    backend = "linear"

    def __init__(
        self,
        codebook: Codebook | None = None,
        *,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (3, 5),
        n_features: int = 2**18,
        C: float = 4.0,
        class_weight: str | None = "balanced",
        tune: bool = True,
        threshold_folds: int = 3,
        one_fold_from: int = 20_000,
        single_fit_from: int | None = 50_000,
        tol: float = 0.1,
        review_band: float = 0.1,
        keep_vocabulary: bool = False,
        seed: int = 0,
        batch_size: int = 4096,
        features: str = NGRAM_HASH,
        n_jobs: int | None = None,
    ) -> None:
        self.codebook = codebook
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.n_features = n_features
        self.C = C
        self.class_weight = class_weight
        self.tune = tune
        self.threshold_folds = threshold_folds
        self.one_fold_from = one_fold_from
        self.single_fit_from = single_fit_from
        self.tol = tol
        self.review_band = review_band
        self.keep_vocabulary = keep_vocabulary
        self.seed = seed
        self.batch_size = batch_size
        self.features = features
        self.n_jobs = n_jobs

    # features -----------------------------------------------------------------------------
    def _vectorizers(self) -> tuple[HashingVectorizer, HashingVectorizer]:
        """scikit-learn's vectorisers of the ``sklearn-hashing/1`` scheme."""
        common = dict(n_features=self.n_features, alternate_sign=False, norm=None, dtype=np.float64)
        word = HashingVectorizer(
            analyzer="word", ngram_range=tuple(self.word_ngrams), token_pattern=r"(?u)\b\w+\b", **common
        )
        char = HashingVectorizer(analyzer="char_wb", ngram_range=tuple(self.char_ngrams), **common)
        return word, char

    def _counts(self, texts: Sequence[str], n_jobs: int | None = None) -> list[sp.csr_matrix]:
        if self.features == SKLEARN_HASHING:
            return [v.transform(texts) for v in self._vectorizers()]
        if self.features != NGRAM_HASH:
            raise ModelError(f"unknown feature scheme {self.features!r}; known are {list(FEATURE_SCHEMES)}")
        return [
            hashing.NgramHasher(analyzer, tuple(r), self.n_features, n_jobs=n_jobs).transform(texts)  # type: ignore[arg-type]
            for analyzer, r in (("word", self.word_ngrams), ("char_wb", self.char_ngrams))
        ]

    @property
    def _dtype(self) -> type:
        return np.float64 if self.features == SKLEARN_HASHING else np.float32

    @staticmethod
    def _idf(counts: sp.csr_matrix) -> np.ndarray:
        return LinearCoder._idf_of(counts.shape[0], np.bincount(counts.indices, minlength=counts.shape[1]))

    @staticmethod
    def _idf_of(n: int, df: np.ndarray) -> np.ndarray:
        """Smooth idf from ``n`` rows and the document frequency ``df`` of each column."""
        return np.log((1.0 + n) / (1.0 + df)) + 1.0

    def _weigh(self, counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
        """Sublinear tf x idf, each row scaled to unit length (row by row, so independent of batches)."""
        data = np.log(counts.data, dtype=self._dtype)
        data += 1.0
        data *= idf.astype(self._dtype, copy=False)[counts.indices]
        lengths = np.diff(counts.indptr)
        sq = np.square(data, dtype=np.float64)
        norms = np.zeros(len(lengths))
        nonempty = lengths > 0
        if sq.size:
            norms[nonempty] = np.sqrt(np.add.reduceat(sq, counts.indptr[:-1][nonempty]))
        norms[norms == 0] = 1.0
        data /= np.repeat(norms, lengths).astype(self._dtype, copy=False)
        return sp.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)

    def _features(
        self, counts: list[sp.csr_matrix], idfs: list[np.ndarray], rows_per_slice: int = 8192
    ) -> sp.csr_matrix:
        """The weighted families side by side, built in row slices into arrays of the final size
        (temporaries stay the size of a slice: peak memory)."""
        n = counts[0].shape[0]
        pieces = (
            (start, sp.hstack([self._weigh(c[start : start + rows_per_slice], i) for c, i in zip(counts, idfs)],
                              format="csr"))
            for start in range(0, n, rows_per_slice)
        )
        return self._csr_of_slices(sum(np.diff(c.indptr) for c in counts), sum(c.shape[1] for c in counts), pieces)

    def _csr_of_slices(
        self, row_nnz: np.ndarray, n_cols: int, pieces: Iterable[tuple[int, sp.csr_matrix]]
    ) -> sp.csr_matrix:
        """A matrix of ``row_nnz`` non-zeros per row, filled from ``(first row, rows)`` pieces into
        arrays of the final size (no copy of the whole: peak memory)."""
        indptr = np.zeros(len(row_nnz) + 1, dtype=np.int64)
        np.cumsum(row_nnz, out=indptr[1:])
        data: np.ndarray = np.empty(int(indptr[-1]), dtype=self._dtype)
        indices = np.empty(int(indptr[-1]), dtype=np.int32 if n_cols < 2**31 else np.int64)
        for start, piece in pieces:
            stop = start + piece.shape[0]
            data[indptr[start] : indptr[stop]] = piece.data
            indices[indptr[start] : indptr[stop]] = piece.indices
        return sp.csr_matrix((data, indices, indptr), shape=(len(row_nnz), n_cols))

    # fitting ------------------------------------------------------------------------------
    def _fit_arrays(
        self, counts: list[sp.csr_matrix], y: np.ndarray
    ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        """Fit on counts; empties the list ``counts`` once the features are built."""
        idfs = self._idfs(counts)
        x = self._features(counts, idfs)
        counts.clear()
        coef, intercept = self._fit_codes(x, y)
        return idfs, coef, intercept

    def _fit_codes(self, x: sp.csr_matrix, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One logistic regression per code on the features ``x``: weights and intercepts.

        The codes are fit one after the other: liblinear draws from one random generator shared
        by the whole process, so fits in threads would make the weights depend on timing.
        """
        n_codes = y.shape[1]
        coef = np.zeros((n_codes, x.shape[1]), dtype=np.float32)
        intercept = np.zeros(n_codes, dtype=np.float32)
        for j in range(n_codes):
            pos = int(y[:, j].sum())
            if pos == 0 or pos == len(y):
                # no contrast to learn: a constant, extreme log-odds
                intercept[j] = -20.0 if pos == 0 else 20.0
                continue
            # liblinear's dual solver: with far fewer segments than hashed features it converges
            # 30-60x faster than the primal one, to the same optimum
            clf = LogisticRegression(
                C=self.C,
                solver="liblinear",
                dual=True,
                class_weight=self.class_weight,
                random_state=self.seed,
                max_iter=1000,
                tol=self.tol,
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(x, y[:, j])
            coef[j] = clf.coef_[0]
            intercept[j] = clf.intercept_[0]
        return coef, intercept

    def _idfs(self, counts: list[sp.csr_matrix]) -> list[np.ndarray]:
        """The idf of each block of counts (a hook: the hybrid coder's embedding block has none)."""
        return [self._idf(c) for c in counts]

    def _idfs_of_df(self, n: int, df: list[np.ndarray]) -> list[np.ndarray]:
        """The idf of each block from its document frequencies over ``n`` rows (a hook, as :meth:`_idfs`)."""
        return [self._idf_of(n, d) for d in df]

    def _logits_arrays(
        self, counts: list[sp.csr_matrix], idfs: list[np.ndarray], coef_t: np.ndarray, intercept: np.ndarray
    ) -> np.ndarray:
        """Logits from counts; ``coef_t`` is the C-contiguous transpose of the weights.

        The blocks of ``counts`` that have an idf, in order, meet the first rows of ``coef_t``.
        """
        logits = np.tile(intercept.astype(np.float64), (counts[0].shape[0], 1))
        start = 0
        for c, idf in zip(counts, idfs):
            logits += self._weigh(c, idf) @ coef_t[start : start + c.shape[1]]
            start += c.shape[1]
        return logits

    def _proba_arrays(
        self, counts: list[sp.csr_matrix], idfs: list[np.ndarray], coef_t: np.ndarray, intercept: np.ndarray
    ) -> np.ndarray:
        """Probabilities from counts (see :meth:`_logits_arrays`)."""
        return 1.0 / (1.0 + np.exp(-self._logits_arrays(counts, idfs, coef_t, intercept)))

    def _coef_t(self, coef: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(coef.T, dtype=self._dtype)

    def fit(self, texts: Sequence[str], y: Any, groups: Sequence[Any] | None = None) -> LinearCoder:
        """Learn from texts and their code sets (or a multi-hot array in codebook order).

        ``groups`` (the document of each segment) keeps the inner folds that tune thresholds
        from splitting a document.
        """
        texts = check_texts(texts)
        codebook = self.codebook or Codebook.default()
        y_arr = as_code_sets(y, codebook)
        if len(texts) != len(y_arr):
            raise InputError(f"got {len(texts)} texts but {len(y_arr)} code sets")
        if len(texts) < 2:
            raise InputError("training needs at least 2 segments")
        split = self._held_out_fifth(len(texts), groups) if self._single_fit(len(texts)) else None
        if split is not None:
            idfs, coef, intercept, thresholds = self._fit_once(texts, y_arr, *split)
        else:
            counts = self._counts(texts, self.n_jobs)
            thresholds = np.full(len(codebook), 0.5)
            if self.tune:
                oof = self._out_of_fold(counts, y_arr, groups)
                if oof is not None:
                    held_out = ~np.isnan(oof[:, 0])
                    thresholds = tune_thresholds(y_arr[held_out], oof[held_out])
            # the final fit last, so that the counts can go once they are weighted (peak memory)
            idfs, coef, intercept = self._fit_arrays(counts, y_arr)
        self.codebook_ = codebook
        self._remember_y_form(y)
        self.idf_ = idfs
        self.coef_ = coef
        self.intercept_ = intercept
        self.thresholds_ = thresholds
        self.n_train_ = len(texts)
        self.positives_ = y_arr.sum(axis=0).astype(int)
        if self.keep_vocabulary:
            self.vocabulary_ = self._vocabulary(texts)
        elif hasattr(self, "vocabulary_"):
            del self.vocabulary_
        return self

    def _single_fit(self, n: int) -> bool:
        return self.tune and self.single_fit_from is not None and n >= self.single_fit_from

    def _held_out_fifth(self, n: int, groups: Sequence[Any] | None) -> tuple[np.ndarray, np.ndarray] | None:
        """Rows to fit on and the fifth of the documents (of the rows, without groups) held out."""
        if groups is not None:
            g = np.asarray(list(groups), dtype=object)
            if len(set(g.tolist())) < 5:
                return None
            splits = GroupKFold(n_splits=5, shuffle=True, random_state=self.seed).split(np.zeros(n), groups=g)
        else:
            splits = KFold(n_splits=5, shuffle=True, random_state=self.seed).split(np.zeros(n))
        return next(iter(splits))

    def _fit_once(
        self, texts: Sequence[str], y: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray
    ) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
        """One fit on ``train_idx``, thresholds tuned on its predictions for ``test_idx``.

        The held-out rows are vectorised apart (each text is hashed alone), after the fit.
        """
        x, idfs = self._streamed_features([texts[i] for i in train_idx])
        coef, intercept = self._fit_codes(x, y[train_idx])
        del x
        held_out = self._counts([texts[i] for i in test_idx], self.n_jobs)
        proba = self._proba_arrays(held_out, idfs, self._coef_t(coef), intercept)
        return idfs, coef, intercept, tune_thresholds(y[test_idx], proba)

    def _streamed_features(
        self, texts: Sequence[str], rows_per_slice: int = 8192
    ) -> tuple[sp.csr_matrix, list[np.ndarray]]:
        """The training matrix of ``texts`` and each family's idf, with no count matrix of all rows held.

        The texts are hashed twice, a slice of rows at a time: for the document frequencies, then
        for the weighted rows, written into arrays of the final size. The matrix is the one that
        :meth:`_features` makes from the counts of all rows (peak memory: about its own size).
        """
        slices = [texts[i : i + rows_per_slice] for i in range(0, len(texts), rows_per_slice)]
        df: list[np.ndarray] = []
        row_nnz = []
        for part in slices:
            counts = self._counts(part, self.n_jobs)
            found = [np.bincount(c.indices, minlength=c.shape[1]) for c in counts]
            df = [a + b for a, b in zip(df, found)] if df else found
            row_nnz.append(sum(np.diff(c.indptr) for c in counts))
        idfs = self._idfs_of_df(len(texts), df)
        pieces = (
            (k * rows_per_slice, self._features(self._counts(part, self.n_jobs), idfs, rows_per_slice))
            for k, part in enumerate(slices)
        )
        return self._csr_of_slices(np.concatenate(row_nnz), sum(len(d) for d in df), pieces), idfs

    def _out_of_fold(
        self, counts: list[sp.csr_matrix], y: np.ndarray, groups: Sequence[Any] | None
    ) -> np.ndarray | None:
        n = len(y)
        if groups is not None:
            g = np.asarray(list(groups), dtype=object)
            k = min(self.threshold_folds, len(set(g.tolist())))
            if k < 2:
                return None
            splits = GroupKFold(n_splits=k, shuffle=True, random_state=self.seed).split(np.zeros(n), groups=g)
        else:
            k = min(self.threshold_folds, n)
            if k < 2:
                return None
            splits = KFold(n_splits=k, shuffle=True, random_state=self.seed).split(np.zeros(n))
        oof = np.full(y.shape, np.nan)
        if n >= self.one_fold_from:  # plenty of segments: one inner fold's predictions tune well enough
            splits = itertools.islice(splits, 1)
        for train_idx, test_idx in splits:
            te = [c[test_idx] for c in counts]
            idfs, coef, intercept = self._fit_arrays([c[train_idx] for c in counts], y[train_idx])
            oof[test_idx] = self._proba_arrays(te, idfs, self._coef_t(coef), intercept)
        return oof

    def _vocabulary(self, texts: Sequence[str]) -> dict[str, int]:
        if self.features == SKLEARN_HASHING:
            word = self._vectorizers()[0]
            analyzer = word.build_analyzer()
            terms = sorted({t for text in texts for t in analyzer(text)})
            cols = word.transform(terms).indices if terms else np.array([], dtype=int)
            return dict(zip(terms, cols.tolist()))
        grams = sorted({t for text in texts for t in hashing.word_ngrams(text, tuple(self.word_ngrams))})  # type: ignore[arg-type]
        return {t: hashing.term_column(t, self.n_features) for t in grams}

    # prediction ---------------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities ``(n_segments, n_codes)`` in codebook order."""
        self._check_fitted()
        texts = check_texts(texts)
        if not texts:
            return np.empty((0, len(self.codebook_)), dtype=np.float64)
        coef_t = self._coef_t(self.coef_)

        def batch(chunk: list[str]) -> np.ndarray:
            return self._proba_arrays(self._counts(chunk), self.idf_, coef_t, self.intercept_)

        chunks = [texts[i : i + self.batch_size] for i in range(0, len(texts), self.batch_size)]
        # batches in threads (numpy and scipy release the GIL); the order of the results is the
        # order of the batches, and each row is computed alone, so n_jobs changes nothing
        parts = Parallel(n_jobs=self.n_jobs if len(chunks) > 1 else 1, prefer="threads")(
            delayed(batch)(c) for c in chunks
        )
        return np.vstack(parts)

    def top_terms(self, code: str, n: int = 20) -> list[tuple[str, float]]:
        """The word n-grams that push ``code`` up most (needs ``keep_vocabulary=True``)."""
        self._check_fitted()
        if not hasattr(self, "vocabulary_"):
            raise ModelError(
                "this model keeps no vocabulary (the default, so that it holds no training text); "
                "train with keep_vocabulary=True (--keep-vocabulary) to see top terms"
            )
        row = self.coef_[self.codebook_.index(code)]
        scored = sorted(((float(row[c]), t) for t, c in self.vocabulary_.items()), reverse=True)
        return [(t, w) for w, t in scored[:n]]

    # persistence --------------------------------------------------------------------------
    def _params_json(self) -> dict[str, Any]:
        params = self.get_params()
        params.pop("codebook")
        params.pop("n_jobs")  # a property of the machine, not of the model
        return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}

    def _model_json(self) -> dict[str, Any]:
        return {
            "params": self._params_json(),
            "n_train": int(self.n_train_),
            "positives": {c: int(p) for c, p in zip(self.codebook_.codes, self.positives_)},
            "weights": WEIGHTS,
            "keeps_vocabulary": hasattr(self, "vocabulary_"),
            "feature_scheme": dict(zip(("name", "version"), _split_scheme(self.features))),
        }

    def _write_weights(self, folder: Path) -> None:
        cols = np.flatnonzero(np.any(self.coef_ != 0, axis=0)).astype(np.int64)
        arrays = {
            "coef_columns": cols,
            "coef_values": self.coef_[:, cols],
            "intercept": self.intercept_,
            "n_columns": np.asarray([self.coef_.shape[1]], dtype=np.int64),
        }
        for i, idf in enumerate(self.idf_):
            arrays[f"idf_{i}"] = idf
        np.savez_compressed(folder / WEIGHTS, **arrays)  # type: ignore[arg-type]
        if hasattr(self, "vocabulary_"):
            (folder / VOCABULARY).write_text(json.dumps(self.vocabulary_, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def _load(cls, folder: Path, meta: dict[str, Any]) -> LinearCoder:
        codebook = Codebook.from_dict(meta["codebook"], source=f"{folder}/model.json")
        params = dict(meta.get("params", {}))
        params["features"] = _scheme_of(folder, meta)
        # folders from before these parameters were trained with scikit-learn's tolerance and
        # never with a single fit: a refit (clone) of them does the same
        params.setdefault("tol", 1e-4)
        params.setdefault("single_fit_from", None)
        for key in ("word_ngrams", "char_ngrams"):
            if key in params:
                params[key] = tuple(params[key])
        try:
            model = cls(codebook, **params)
        except TypeError as exc:
            raise ModelError(f"{folder}/model.json: parameters do not fit this version: {exc}") from exc
        path = folder / meta.get("weights", WEIGHTS)
        if not path.is_file():
            raise ModelError(f"{folder}: the weights file {path.name} is missing")
        with np.load(path, allow_pickle=False) as z:
            n_columns = int(z["n_columns"][0])
            coef = np.zeros((len(codebook), n_columns), dtype=np.float32)
            coef[:, z["coef_columns"]] = z["coef_values"]
            model.idf_ = [z[f"idf_{i}"] for i in range(2)]
            model.intercept_ = z["intercept"]
        model.coef_ = coef
        model.codebook_ = codebook
        model.thresholds_ = np.asarray(meta["thresholds"], dtype=np.float64)
        model.n_train_ = int(meta.get("n_train", 0))
        model.positives_ = np.asarray([meta.get("positives", {}).get(c, 0) for c in codebook.codes])
        model.metadata_ = {k: meta[k] for k in METADATA_KEYS if k in meta}
        vocab = folder / VOCABULARY
        if vocab.is_file():
            model.vocabulary_ = json.loads(vocab.read_text(encoding="utf-8"))
        return model


def _split_scheme(scheme: str) -> tuple[str, int]:
    name, _, version = scheme.partition("/")
    return name, int(version)


def _scheme_of(folder: Path, meta: dict[str, Any]) -> str:
    """The feature scheme of a saved model; folders from before it was recorded used scikit-learn's."""
    recorded = meta.get("feature_scheme")
    if recorded is None:
        return SKLEARN_HASHING
    scheme = f"{recorded.get('name')}/{recorded.get('version')}"
    if scheme not in FEATURE_SCHEMES:
        raise ModelError(
            f"{folder}/model.json: feature scheme {scheme} is unknown to this mpsoc-nlp (it knows "
            f"{', '.join(FEATURE_SCHEMES)}); upgrade mpsoc-nlp or retrain the model with this version"
        )
    return scheme
