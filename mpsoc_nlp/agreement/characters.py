"""Character-level agreement as NVivo's coding comparison computes it.

NVivo compares two coders' coding of one code in one document character by character: every
character is coded by both, by one, or by neither, and kappa is computed from those four counts.
:func:`character_kappa` does it for one code in one document, :func:`character_agreement` for a
table of coded spans.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from mpsoc_nlp.errors import InputError

from .statistics import _TOL, UndefinedStatisticWarning, _divide, _frame

__all__ = ["character_agreement", "character_kappa"]


def _coverage(doc_length: int, spans: Iterable[tuple[int, int]], where: str) -> np.ndarray:
    """Boolean mask of the characters covered by any of the spans ``[start, end)``."""
    spans = [(int(s), int(e)) for s, e in spans]
    bad = [(s, e) for s, e in spans if not 0 <= s <= e <= doc_length]
    if bad:
        raise InputError(
            f"span {bad[0]} is not within the document of {doc_length} characters "
            "(0 <= start <= end <= length, end exclusive)",
            path=where,
        )
    edges = np.zeros(doc_length + 1, dtype=np.int64)
    if spans:
        starts, ends = np.array(spans, dtype=np.int64).T
        np.add.at(edges, starts, 1)
        np.add.at(edges, ends, -1)
    return np.cumsum(edges[:-1]) > 0


def _nvivo_kappa(both: float, a_only: float, b_only: float, neither: float, as_nvivo: bool) -> tuple[float, str | None]:
    total = both + a_only + b_only + neither
    if total == 0:
        return math.nan, "the document has no characters"
    coded_a, coded_b = both + a_only, both + b_only
    expected = (coded_a * coded_b + (total - coded_a) * (total - coded_b)) / total
    if total - expected <= _TOL * total:
        if as_nvivo:
            return 1.0, None
        who = "neither coder coded any" if coded_a == 0 else "both coders coded all"
        return math.nan, f"{who} of the document, so chance agreement is perfect and kappa is 0/0"
    return ((both + neither) - expected) / (total - expected), None


def character_kappa(
    doc_length: int,
    spans_a: Iterable[tuple[int, int]],
    spans_b: Iterable[tuple[int, int]],
    *,
    as_nvivo: bool = False,
) -> float:
    """NVivo's coding comparison kappa for one code in one document, at character level.

    Each character of the document is a unit, coded or not by coder A and by coder B (a
    character inside several spans of one coder counts once). NVivo (help: "Run a Coding
    Comparison query"; "How is the Kappa coefficient calculated?") defines, with ``TU`` the
    document's characters and ``TA`` those on which the coders agree (coded by both or by
    neither)::

        EF = (coded_A * coded_B + uncoded_A * uncoded_B) / TU
        K  = (TA - EF) / (TU - EF)

    which is Cohen's kappa on the 2 x 2 table of characters. NVivo computes it per code and per
    source only; it reports no value across sources (its help suggests exporting and averaging
    in a spreadsheet, by source size or not).

    Known quirks, and what we do:

    * A document **neither coder coded** (or both coded entirely) makes ``K`` 0/0; NVivo shows
      **1** ("complete agreement"). We return ``nan`` with a warning, because there is no
      evidence of agreement beyond chance in it, and a 1 there inflates every average over
      documents. ``as_nvivo=True`` returns 1 instead, to reproduce NVivo's export.
    * If **one coder coded nothing** and the other coded something, ``K`` is exactly 0
      whatever the amount (NVivo's FAQ "All my Kappa coefficients are 0 or 1").
    * The unit is the character, not the segment: long uncoded stretches count as agreement,
      and boundary differences of a few characters cost as much as a disagreement. Kim et al.
      (2016) show that this biases kappa against the segment-level value; for MPSOC reliability
      prefer :func:`code_agreement` on segments and use this to compare with NVivo.

    Parameters
    ----------
    doc_length : int
        Length of the document in Unicode code points.
    spans_a, spans_b : iterable of (start, end)
        Each coder's coded spans for the code: 0-based code-point offsets, end exclusive
        (REFI-QDA ``startPosition``/``endPosition``).
    as_nvivo : bool
        Return 1 where NVivo does (nobody or everybody coded all of it) instead of ``nan``.

    Returns
    -------
    float
        Kappa; ``nan`` with a warning where it is 0/0 (unless ``as_nvivo``).

    References
    ----------
    QSR International, NVivo 10/11 help, "Run a Coding Comparison query".
    Kim, S. Y., Graham, S. S., Ahn, S., et al. (2016). Correcting biased Cohen's kappa in NVivo.
    *Communication Methods and Measures*, 10(4), 217-232.

    Examples
    --------
    NVivo's help example: 1,000 characters, 50 coded by both, 150 by one coder only, 800 by
    neither, so the percent agreement is (800 + 50) / 1000 = 85 % (see
    :func:`character_agreement`). Kappa needs the split of the 150; with A coding [0, 150) and
    B [100, 200): EF = (150 * 100 + 850 * 900) / 1000 = 780, K = (850 - 780) / (1000 - 780):

    >>> print(f"{character_kappa(1000, [(0, 150)], [(100, 200)]):.4f}")
    0.3182
    >>> character_kappa(1000, [], [(100, 200)])   # one coder coded nothing
    0.0
    >>> character_kappa(1000, [], [], as_nvivo=True)
    1.0
    """
    where = "character_kappa"
    a = _coverage(doc_length, spans_a, where)
    b = _coverage(doc_length, spans_b, where)
    counts = _count_2x2(a, b)
    kappa, why = _nvivo_kappa(*counts, as_nvivo)
    if math.isnan(kappa):
        warnings.warn(f"character kappa is undefined: {why}", UndefinedStatisticWarning, stacklevel=2)
    return kappa


def _count_2x2(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    both = int((a & b).sum())
    a_only = int(a.sum()) - both
    b_only = int(b.sum()) - both
    return both, a_only, b_only, len(a) - both - a_only - b_only


def character_agreement(
    spans: pd.DataFrame,
    doc_lengths: Mapping[Hashable, int] | pd.Series,
    *,
    coder_a: Hashable | None = None,
    coder_b: Hashable | None = None,
    codes: Sequence[Hashable] | None = None,
    by: Literal["document", "code"] = "document",
    as_nvivo: bool = False,
    document: str = "document_id",
    code: str = "code",
    coder: str = "coder",
    start: str = "start",
    end: str = "end",
) -> pd.DataFrame:
    """NVivo-style coding comparison for several documents and codes, at character level.

    Parameters
    ----------
    spans : DataFrame
        One row per coded span: ``document``, ``code``, ``coder``, ``start``, ``end``
        (0-based code points, end exclusive).
    doc_lengths : mapping or Series
        Length in code points of every document to compare (documents without spans count too).
    coder_a, coder_b : hashable, optional
        The two coders (NVivo's user groups A and B). Default: the two coders in ``spans``.
    codes : sequence, optional
        The codes to compare (default: those in ``spans``); a code nobody used gets rows too.
    by : {'document', 'code'}
        ``'document'``: one row per document and code, as NVivo shows them. ``'code'``: one row
        per code, the counts summed over documents (kappa of all the text taken as one).
    as_nvivo : bool
        Kappa 1 where nobody (or everybody) coded all of a document, as NVivo reports it; by
        default ``nan`` (see :func:`character_kappa`).
    document, code, coder, start, end : str
        Column names.

    Returns
    -------
    DataFrame
        Columns ``document`` (with ``by='document'``), ``code``, ``length``, ``a_and_b``,
        ``a_not_b``, ``b_not_a``, ``neither`` (characters), ``percent_agreement``
        (``(a_and_b + neither) / length``, NVivo's "Agreement") and ``kappa``.

    Examples
    --------
    The NVivo help example (50 characters coded by both, 150 by one, 800 by neither):

    >>> spans = pd.DataFrame({"document_id": ["d1", "d1"], "code": ["ideell:positiv"] * 2,
    ...                       "coder": ["A", "B"], "start": [0, 100], "end": [150, 200]})
    >>> table = character_agreement(spans, {"d1": 1000})
    >>> table.loc[0, ["a_and_b", "a_not_b", "b_not_a", "neither"]].tolist()
    [50, 100, 50, 800]
    >>> print(f"{table.loc[0, 'percent_agreement']:.0%}")
    85%
    """
    where = "character_agreement"
    frame = _frame(spans, [document, code, coder, start, end], where)
    lengths = pd.Series(doc_lengths) if not isinstance(doc_lengths, pd.Series) else doc_lengths
    unknown_docs = sorted(set(frame[document]) - set(lengths.index), key=str)
    if unknown_docs:
        raise InputError(f"no length given for documents {unknown_docs[:5]}", path=where, column=document)
    if (coder_a is None) != (coder_b is None):
        raise InputError("name both coders (coder_a= and coder_b=) or neither", path=where)
    if coder_a is None:
        found = sorted(set(frame[coder]), key=str)
        if len(found) != 2:
            raise InputError(
                f"spans have {len(found)} coders ({found[:5]}); name the two to compare with coder_a= and coder_b=",
                path=where,
                column=coder,
            )
        coder_a, coder_b = found
    frame = frame.loc[frame[coder].isin([coder_a, coder_b])]
    code_list = list(codes) if codes is not None else sorted(set(frame[code]), key=str)
    spans_by = {
        key: list(zip(g[start], g[end], strict=True)) for key, g in frame.groupby([document, code, coder], sort=False)
    }
    records = []
    for doc, length in lengths.items():
        for c in code_list:
            a = _coverage(int(length), spans_by.get((doc, c, coder_a), []), where)
            b = _coverage(int(length), spans_by.get((doc, c, coder_b), []), where)
            both, a_only, b_only, neither = _count_2x2(a, b)
            records.append((doc, c, int(length), both, a_only, b_only, neither))
    counts = ["length", "a_and_b", "a_not_b", "b_not_a", "neither"]
    table = pd.DataFrame.from_records(records, columns=["document", "code", *counts])
    if by == "code":
        table = table.groupby("code", sort=False)[counts].sum().reindex(code_list).reset_index()
    elif by != "document":
        raise InputError(f"by must be 'document' or 'code', not {by!r}", path=where)
    table["percent_agreement"] = _divide(table["a_and_b"] + table["neither"], table["length"])
    kappas = [
        _nvivo_kappa(r.a_and_b, r.a_not_b, r.b_not_a, r.neither, as_nvivo)
        for r in table[["a_and_b", "a_not_b", "b_not_a", "neither"]].itertuples()
    ]
    table["kappa"] = [k for k, _ in kappas]
    undefined = sum(1 for k, _ in kappas if math.isnan(k))
    if undefined:
        warnings.warn(
            f"character kappa is undefined for {undefined} of {len(table)} rows (nobody, or everybody, "
            "coded all of the text); pass as_nvivo=True for NVivo's 1",
            UndefinedStatisticWarning,
            stacklevel=2,
        )
    return table
