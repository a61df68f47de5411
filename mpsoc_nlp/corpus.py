"""The data model: segment tables as typed pandas frames, built from records with checks.

A segment frame has one row per segment and coder, with the columns of :data:`SEGMENT_COLUMNS`
(``codes`` a tuple of codes in codebook order, present when the input carries codes), any extra
columns of the input, and the provenance columns ``source_file`` and ``source_row``.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .codebook import Codebook
from .errors import CodebookError, InputError, InputProblem

__all__ = [
    "SEGMENT_COLUMNS",
    "GENRES",
    "MAX_PROBLEMS",
    "segments_from_records",
    "summarize",
    "select_coder",
    "concat_segments",
]

#: The contract's columns, in output order.
SEGMENT_COLUMNS = (
    "segment_id",
    "document_id",
    "coder",
    "genre",
    "speaker",
    "turn_index",
    "start",
    "end",
    "text",
    "codes",
)
PROVENANCE_COLUMNS = ("source_file", "source_row")
GENRES = ("intervju", "journal")
#: Problems reported per file before the rest are counted but not listed.
MAX_PROBLEMS = 50

_GENRE_ALIASES = {
    "intervju": "intervju",
    "interview": "intervju",
    "intervjuer": "intervju",
    "transkripsjon": "intervju",
    "journal": "journal",
    "journalnotat": "journal",
    "notat": "journal",
    "note": "journal",
    "journals": "journal",
    "journaler": "journal",
}
_COLUMN_ALIASES = {
    "tekst": "text",
    "segment_text": "text",
    "code": "codes",
    "kode": "codes",
    "labels": "codes",
    "document": "document_id",
    "doc_id": "document_id",
    "dokument": "document_id",
    "dokument_id": "document_id",
    "segment": "segment_id",
    "id": "segment_id",
    "fellesskapstype": "community_type",
    "type": "community_type",
    "valens": "valence",
    "sjanger": "genre",
    "taler": "speaker",
    "annotator": "coder",
    "rater": "coder",
}
_INT_COLUMNS = ("turn_index", "start", "end")


def _canonical(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def _resolve_columns(found: Sequence[str], mapping: Mapping[str, str] | None) -> dict[str, str]:
    """Map contract names to the table's own column names."""
    out: dict[str, str] = {}
    by_canon: dict[str, str] = {}
    for col in found:
        by_canon.setdefault(_canonical(col), col)
    for canon, col in by_canon.items():
        target = (
            canon if canon in SEGMENT_COLUMNS or canon in ("community_type", "valence") else _COLUMN_ALIASES.get(canon)
        )
        if target and target not in out:
            out[target] = col
    for target, col in (mapping or {}).items():
        out[target] = col
    return out


#: Characters that show nothing: format characters (zero-width space, joiners, BOM), besides whitespace.
_INVISIBLE_CHARS = r"\s\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e"
_INVISIBLE = re.compile(f"[{_INVISIBLE_CHARS}]+")


def _visible(text: str) -> bool:
    """Whether ``text`` shows anything: not only (no-break, zero-width) spaces."""
    return bool(_INVISIBLE.sub("", text))


def _whole_number(text: str) -> int:
    """The whole number >= 0 a cell holds (``3``, ``3.0``); ``ValueError`` for anything else."""
    f = float(text.strip())
    if not f.is_integer() or f < 0:
        raise ValueError(text)
    return int(f)


def _file_stem(path: str) -> str:
    """The file name without its extension: the document of segments that name none."""
    return path.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    if isinstance(value, (list, tuple, np.ndarray)):
        return len(value) == 0
    return not str(value).strip()


def _missing_column_error(
    path: str, column: str, found: Sequence[str], hint: str, sheet: str | None, *, target: str | None = None
) -> InputError:
    """The column ``column`` is not in the table; ``target`` is the contract name it was given for."""
    close = difflib.get_close_matches(column, [str(f) for f in found], n=1, cutoff=0.6)
    extra = f" Did you mean {close[0]!r}?" if close else ""
    option = f"--{(target or column).replace('_', '-')}-column"
    python = f"columns={{{(target or column)!r}: ...}}"
    if target is None:
        fix = f"Rename the column to {column!r}, or name it with {option} ({python} in Python)."
    else:
        fix = f"Give {option} ({python} in Python) one of the table's column names."
    return InputError(
        InputProblem(
            path,
            f"expected the column {column!r} ({hint}), but only the columns {list(found)} were found.{extra} {fix}",
            sheet=sheet,
        )
    )


def segments_from_records(
    records: Iterable[tuple[int, Mapping[str, Any]]],
    columns: Sequence[str],
    *,
    path: str,
    codebook: Codebook | None = None,
    sheet: str | None = None,
    column_map: Mapping[str, str] | None = None,
    require_codes: bool = False,
    require_documents: bool = False,
    default_document: str | None = None,
    positions: Counter[tuple[Any, Any]] | None = None,
) -> pd.DataFrame:
    """Build and check a segment frame from ``(row_number, record)`` pairs of one file.

    Every problem of the file is collected (up to :data:`MAX_PROBLEMS`) and raised as one
    :class:`InputError` naming file, sheet, row and column. ``positions`` carries the counters of
    generated segment ids from one chunk of a file to the next.
    """
    codebook = codebook or Codebook.default()
    cols = _resolve_columns(columns, column_map)
    for target, col in (column_map or {}).items():
        if col not in columns:
            raise _missing_column_error(path, col, columns, f"given for {target!r}", sheet, target=target)
    if "text" not in cols:
        raise _missing_column_error(path, "text", columns, "the segment's text", sheet)
    pair = "codes" not in cols and "community_type" in cols
    has_codes = "codes" in cols or pair
    if pair and "valence" not in cols and codebook.valences:
        raise _missing_column_error(path, "valence", columns, "positiv/negativ beside 'community_type'", sheet)
    if require_codes and not has_codes:
        raise _missing_column_error(
            path, "codes", columns, "the segment's codes, ';'-separated type:valence; empty = no code", sheet
        )
    if require_documents and "document_id" not in cols and default_document is None:
        raise _missing_column_error(
            path,
            "document_id",
            columns,
            "the interview or journal each segment comes from; training and evaluation group by it",
            sheet,
        )

    problems: list[InputProblem] = []
    n_problems = 0

    def problem(row: int | None, column: str | None, message: str) -> None:
        nonlocal n_problems
        n_problems += 1
        if len(problems) < MAX_PROBLEMS:
            problems.append(InputProblem(path, message, row, column, sheet))

    used = set(cols.values())
    extras = [c for c in columns if c not in used]
    out: dict[tuple[Any, str], dict[str, Any]] = {}
    position: Counter[tuple[Any, Any]] = positions if positions is not None else Counter()
    id_rows: dict[tuple[Any, str], int] = {}

    texts: dict[str, tuple[str, int, Any]] = {}
    for row, rec in records:
        get = {k: rec.get(c, "") for k, c in cols.items()}
        text_val = get["text"]
        if not _blank(text_val) and not isinstance(text_val, str):
            kind = type(text_val).__name__
            problem(row, cols["text"], f"the text is a {kind}, not a string; give the segment's text as a string")
            continue
        text = "" if _blank(text_val) or not _visible(str(text_val)) else str(text_val)
        codes: tuple[str, ...] = ()
        code_col = cols.get("codes") or cols.get("community_type")
        raw_codes = get.get("codes") if not pair else get.get("community_type")
        if pair and _blank(raw_codes) and not _blank(get.get("valence")):
            problem(
                row, cols.get("valence"), "the row has a valence but no community_type; add the type or clear it"
            )
        if has_codes and not _blank(raw_codes):
            try:
                if pair:
                    codes = (codebook.parse_pair(str(raw_codes), get.get("valence")),)
                else:
                    codes = codebook.parse_codes(raw_codes)
            except CodebookError as exc:
                problem(row, code_col, str(exc))
        if not text.strip():
            if not _blank(raw_codes):
                problem(row, cols["text"], "the row has codes but no text; add the text or delete the row")
            elif any(not _blank(v) for v in rec.values()):
                problem(row, cols["text"], "the text is empty; add the segment's text or delete the row")
            continue
        coder = None if _blank(get.get("coder")) else str(get["coder"]).strip()
        document = None if _blank(get.get("document_id")) else str(get["document_id"]).strip()
        if document is None:
            document = default_document
        if require_documents and document is None:
            problem(row, cols.get("document_id"), "the document_id is empty; every segment needs its document")
        ints: dict[str, int | None] = {}
        for name in _INT_COLUMNS:
            v = get.get(name)
            if _blank(v):
                ints[name] = None
                continue
            try:
                ints[name] = _whole_number(str(v))
            except ValueError:
                problem(row, cols[name], f"{name} must be a whole number >= 0, not {v!r}")
                ints[name] = None
        if ints["start"] is not None and ints["end"] is not None and ints["end"] < ints["start"]:
            problem(row, cols["end"], f"end ({ints['end']}) is before start ({ints['start']})")
        genre = None
        if not _blank(get.get("genre")):
            g = _GENRE_ALIASES.get(str(get["genre"]).strip().lower())
            if g is None:
                problem(row, cols["genre"], f"unknown genre {get['genre']!r}; use 'intervju' or 'journal'")
            genre = g
        if _blank(get.get("segment_id")):
            key_doc = document if document is not None else default_document
            n = position[(coder, key_doc)]
            position[(coder, key_doc)] += 1
            prefix = key_doc if key_doc is not None else _file_stem(path)
            segment_id = f"{prefix}:{n}"
            generated = True
        else:
            segment_id = str(get["segment_id"]).strip()
            generated = False
        key = (coder, segment_id)
        if key in out:
            if pair:
                # one code per row: rows of one segment are merged
                merged = set(out[key]["codes"]) | set(codes)
                out[key]["codes"] = tuple(c for c in codebook.codes if c in merged)
                continue
            if not generated:
                who = f" for coder {coder!r}" if coder else ""
                problem(
                    row,
                    cols.get("segment_id"),
                    f"segment_id {segment_id!r} occurs twice{who} (also on row {id_rows[key]}); "
                    "each segment needs its own id",
                )
                continue
        if not generated:
            seen = texts.setdefault(segment_id, (text, row, coder))
            if not _same_text(seen[0], text):
                problem(
                    row,
                    cols["text"],
                    f"segment_id {segment_id!r} has another text here than on row {seen[1]} (coder {seen[2]!r}); "
                    "the rows of one segment must carry the same text, or the segments need their own ids",
                )
        id_rows[key] = row
        rec_out: dict[str, Any] = {
            "segment_id": segment_id,
            "document_id": document,
            "coder": coder,
            "genre": genre,
            "speaker": None if _blank(get.get("speaker")) else str(get["speaker"]).strip(),
            **ints,
            "text": text,
        }
        if has_codes:
            rec_out["codes"] = codes
        for col in extras:
            rec_out[col] = rec.get(col, "")
        rec_out["source_file"] = path
        rec_out["source_row"] = row
        out[key] = rec_out

    if n_problems:
        raise InputError(problems, truncated=n_problems - len(problems))
    if not out:
        raise InputError(InputProblem(path, "the file has no segments (no rows with text)", sheet=sheet))
    frame = pd.DataFrame.from_records(list(out.values()))
    return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Order the columns and give the contract's columns their dtypes."""
    order = [c for c in SEGMENT_COLUMNS if c in frame.columns]
    rest = [c for c in frame.columns if c not in order and c not in PROVENANCE_COLUMNS]
    prov = [c for c in PROVENANCE_COLUMNS if c in frame.columns]
    frame = frame[order + rest + prov].copy()
    for c in _INT_COLUMNS:
        if c in frame.columns:
            frame[c] = frame[c].astype("Int64")
    for c in ("segment_id", "document_id", "coder", "genre", "speaker", "text"):
        if c in frame.columns:
            frame[c] = frame[c].astype(object)
    if "source_row" in frame.columns:
        frame["source_row"] = frame["source_row"].astype("int64")
    return frame.reset_index(drop=True)


def concat_segments(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate segment frames of several files; segment ids must stay unique per coder."""
    if len(frames) == 1:
        return frames[0]
    frame = pd.concat(frames, ignore_index=True, sort=False)
    if "codes" in frame.columns and frame["codes"].isna().any():
        missing = sorted(frame.loc[frame["codes"].isna(), "source_file"].unique())
        raise InputError(
            f"some files carry codes and others do not ({', '.join(missing)} have none); "
            "give files of one kind together"
        )
    _check_same_texts(frame)
    dup = frame.duplicated(["coder", "segment_id"], keep="first")
    if dup.any():
        problems = []
        first = frame.drop_duplicates(["coder", "segment_id"]).set_index(["coder", "segment_id"])
        for _, r in frame[dup].head(MAX_PROBLEMS).iterrows():
            other = first.loc[(r["coder"], r["segment_id"])]
            problems.append(
                InputProblem(
                    r["source_file"],
                    f"segment_id {r['segment_id']!r} is also in {other['source_file']} row "
                    f"{other['source_row']}; ids must be unique across the files given together",
                    int(r["source_row"]),
                    "segment_id",
                )
            )
        raise InputError(problems, truncated=max(0, int(dup.sum()) - MAX_PROBLEMS))
    return _typed(frame)


def _check_same_texts(frame: pd.DataFrame) -> None:
    """Refuse a segment_id that carries different texts in different files (coders compare one text)."""
    norm = frame["text"].map(lambda t: " ".join(str(t).split()))
    first = norm.groupby(frame["segment_id"]).transform("first")
    bad = frame[norm != first]
    if bad.empty:
        return
    firsts = frame.drop_duplicates("segment_id").set_index("segment_id")
    problems = [
        InputProblem(
            r["source_file"],
            f"segment_id {r['segment_id']!r} has another text here than in "
            f"{firsts.loc[r['segment_id'], 'source_file']} row {firsts.loc[r['segment_id'], 'source_row']}; "
            "the rows of one segment must carry the same text",
            int(r["source_row"]),
            "text",
        )
        for _, r in bad.head(MAX_PROBLEMS).iterrows()
    ]
    raise InputError(problems, truncated=max(0, len(bad) - MAX_PROBLEMS))


def select_coder(segments: pd.DataFrame, coder: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """The rows of one coder: ``coder`` if given, else the coder with most segments.

    Returns the rows and the coder chosen (``None`` when the data names no coders).
    """
    if "coder" not in segments.columns or segments["coder"].isna().all():
        if coder is not None:
            raise InputError(f"--coder {coder!r} was given, but the data has no 'coder' column")
        return segments, None
    counts = segments["coder"].value_counts()
    if coder is None:
        # ties are broken by name so the choice is deterministic
        top = counts[counts == counts.max()].index
        coder = sorted(str(c) for c in top)[0]
    elif coder not in counts.index:
        raise InputError(f"no segments of coder {coder!r}; the coders are {sorted(map(str, counts.index))}")
    return segments[segments["coder"] == coder].reset_index(drop=True), coder


def summarize(segments: pd.DataFrame, codebook: Codebook | None = None) -> dict[str, Any]:
    """Counts a coder checks before training: documents, segments, coders, codes, lengths.

    Shares and code counts are over rows (segment x coder) that carry codes.
    """
    codebook = codebook or Codebook.default()
    n_rows = len(segments)
    coders = segments["coder"].dropna() if "coder" in segments.columns else pd.Series(dtype=object)
    lengths = segments["text"].str.len()
    out: dict[str, Any] = {
        "rows": n_rows,
        "segments": int(segments["segment_id"].nunique()),
        "documents": int(segments["document_id"].nunique()) if "document_id" in segments.columns else 0,
        "coders": {str(k): int(v) for k, v in coders.value_counts().sort_index().items()},
        "genres": {str(k): int(v) for k, v in segments["genre"].dropna().value_counts().sort_index().items()}
        if "genre" in segments.columns
        else {},
        "text_length_chars": {
            "min": int(lengths.min()),
            "q1": float(lengths.quantile(0.25)),
            "median": float(lengths.median()),
            "q3": float(lengths.quantile(0.75)),
            "max": int(lengths.max()),
        },
        "has_codes": "codes" in segments.columns,
    }
    if "codes" in segments.columns:
        sizes = segments["codes"].map(len)
        counts = Counter(c for codes in segments["codes"] for c in codes)
        out["codes"] = {c: int(counts.get(c, 0)) for c in codebook.codes}
        out["share_no_code"] = float((sizes == 0).mean())
        out["share_two_or_more"] = float((sizes >= 2).mean())
        if len(out["coders"]) > 1:
            out["codes_by_coder"] = {
                str(coder): {c: int(sum(c in s for s in grp["codes"])) for c in codebook.codes}
                for coder, grp in segments.groupby("coder", sort=True)
            }
    return out
