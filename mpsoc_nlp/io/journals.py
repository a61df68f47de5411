"""Read journal exports (CSV/TSV/XLSX/JSONL/Parquet with journal id, date and note) into segments.

A journal export has one row per note: the journal (patient record) it belongs to, a date, the
note text and often the author's role. Each note becomes one segment ``JOURNAL:N`` (``N`` the
0-based number of the note within its journal, in file order), or, when longer than
``max_chars``, windows of whole sentences ``JOURNAL:N.K``. ``start``/``end`` are offsets within
the note, so ``note[start:end] == text``; ``turn_index`` is ``N``; ``speaker`` is the role.

The columns are found by name (``journal_id``/``journal``/``pasient_id``, ``dato``/``date``,
``notat``/``note``/``journalnotat``, ``rolle``/``role``) or given in :class:`JournalOptions`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any, Literal

import pandas as pd

from ..codebook import Codebook
from ..corpus import segments_from_records
from ..errors import InputError, InputProblem
from ..segmenting import sentence_windows, split_sentences

__all__ = ["JournalOptions", "journal_columns", "is_journal_table", "journal_segments", "read_journal"]

_CANDIDATES: dict[str, tuple[str, ...]] = {
    "journal": (
        "journal_id", "journalid", "journal", "journalnummer", "journal_nr", "journalnr", "pasient_id",
        "pasientid", "pasient", "patient_id", "klient_id", "client_id", "person_id", "bruker_id", "sak_id",
        "case_id", "document_id", "dokument_id",
    ),
    "note": (
        "notat", "note", "notattekst", "notat_tekst", "journalnotat", "note_text", "fritekst", "innhold",
        "notes", "tekst", "text",
    ),
    "date": ("dato", "date", "notatdato", "tidspunkt", "datetime", "dato_tid", "timestamp", "opprettet", "skrevet"),
    "role": ("rolle", "role", "yrke", "yrkesgruppe", "forfatter", "author", "profession", "skrevet_av", "speaker"),
    "note_id": ("notat_id", "notatid", "note_id", "noteid", "notatnummer", "notat_nr"),
}
_TEXT_NAMES = ("text", "tekst", "segment_text")


def _canon(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


@dataclass(frozen=True)
class JournalOptions:
    """Which columns hold what, and how long notes are split.

    Parameters
    ----------
    journal_column, note_column, date_column, role_column, note_id_column : str, optional
        The export's column names; found by name when not given.
    max_chars : int
        A note longer than this becomes windows of whole sentences of at most this length.
    unit : {'note', 'sentence'}
        One segment per note (long notes as windows), or one per sentence.
    """

    journal_column: str | None = None
    note_column: str | None = None
    date_column: str | None = None
    role_column: str | None = None
    note_id_column: str | None = None
    max_chars: int = 2000
    unit: Literal["note", "sentence"] = "note"


def journal_columns(columns: Sequence[str], options: JournalOptions | None = None) -> dict[str, str]:
    """Map ``journal``, ``note``, ``date``, ``role``, ``note_id`` to the export's columns (those found)."""
    options = options or JournalOptions()
    by_canon: dict[str, str] = {}
    for c in columns:
        by_canon.setdefault(_canon(c), str(c))
    out: dict[str, str] = {}
    given = {
        "journal": options.journal_column, "note": options.note_column, "date": options.date_column,
        "role": options.role_column, "note_id": options.note_id_column,
    }
    for key, cands in _CANDIDATES.items():
        if given[key]:
            out[key] = str(given[key])
            continue
        for cand in cands:
            if cand in by_canon and by_canon[cand] not in out.values():
                out[key] = by_canon[cand]
                break
    return out


def is_journal_table(columns: Sequence[str], column_map: Mapping[str, str] | None = None) -> bool:
    """True for a journal export: a note column and a journal column, and no segment ``text`` column."""
    if column_map and "text" in column_map:
        return False
    canon = {_canon(c) for c in columns}
    if canon & set(_TEXT_NAMES):
        return False
    found = journal_columns(columns)
    return "note" in found and "journal" in found


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v) or not str(v).strip()


def _cell(rec: Mapping[str, Any], cols: Mapping[str, str], key: str) -> str | None:
    if key not in cols or _blank(rec.get(cols[key])):
        return None
    return str(rec[cols[key]]).strip()


def journal_segments(
    records: Iterable[tuple[int, Mapping[str, Any]]],
    columns: Sequence[str],
    *,
    path: str,
    options: JournalOptions | None = None,
    counters: Counter[str] | None = None,
) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """Segment records (for :func:`mpsoc_nlp.corpus.segments_from_records`) from journal rows.

    ``counters`` carries the note numbers of each journal from one chunk of a file to the next.
    Returns the records and their column names.
    """
    options = options or JournalOptions()
    cols = journal_columns(columns, options)
    missing = [k for k in ("journal", "note") if k not in cols or cols[k] not in columns]
    if missing:
        what = {"journal": "the journal (patient record) each note belongs to", "note": "the note's text"}
        raise InputError(
            [
                InputProblem(
                    path,
                    f"expected a column with {what[k]} (named e.g. {', '.join(repr(c) for c in _CANDIDATES[k][:4])}), "
                    f"but only the columns {list(columns)} were found; name it with JournalOptions({k}_column=...)",
                )
                for k in missing
            ]
        )
    used = {v for k, v in cols.items()}
    extras = [c for c in columns if c not in used and _canon(c) not in ("segment_id", "turn_index", "start", "end")]
    counters = counters if counters is not None else Counter()
    out_cols = [
        "segment_id", "document_id", "genre", "speaker", "turn_index", "start", "end", "text", "date", "note_id",
    ]
    out_cols += [c for c in extras if c not in out_cols]
    out: list[tuple[int, dict[str, Any]]] = []
    problems: list[InputProblem] = []
    for row, rec in records:
        jid = rec.get(cols["journal"])
        note = rec.get(cols["note"])
        if _blank(jid):
            if not _blank(note):
                problems.append(InputProblem(path, "the note has no journal id", row, cols["journal"]))
            continue
        jid = str(jid).strip()
        n = counters[jid]
        counters[jid] += 1
        if _blank(note):
            continue
        note = str(note).replace("\r\n", "\n").replace("\r", "\n")
        if options.unit == "sentence":
            spans = [
                w for s, e in split_sentences(note) for w in sentence_windows(note, s, e, max_chars=options.max_chars)
            ]
        else:
            spans = sentence_windows(note, max_chars=options.max_chars)
        for k, (s, e) in enumerate(spans):
            seg: dict[str, Any] = {
                "segment_id": f"{jid}:{n}" if len(spans) == 1 else f"{jid}:{n}.{k}",
                "document_id": jid,
                "genre": "journal",
                "speaker": _cell(rec, cols, "role"),
                "turn_index": n,
                "start": s,
                "end": e,
                "text": note[s:e],
                "date": _cell(rec, cols, "date"),
                "note_id": _cell(rec, cols, "note_id"),
            }
            for c in extras:
                seg.setdefault(c, rec.get(c, ""))
            out.append((row, seg))
    if problems:
        raise InputError(problems[:50], truncated=max(0, len(problems) - 50))
    return out, out_cols


def read_journal(
    path: str | PathLike[str],
    *,
    options: JournalOptions | None = None,
    codebook: Codebook | None = None,
    sheet: str | int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> pd.DataFrame:
    """Read a journal export into a segment frame (genre ``journal``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "notater.csv"
    >>> _ = p.write_text("journal_id,dato,rolle,notat\\nJ-1,2025-01-08,lege,Pas. sov godt. Kl. 10 kom mor.\\n",
    ...                  encoding="utf-8")
    >>> read_journal(p)[["segment_id", "speaker", "turn_index", "start", "end", "text", "date"]].values.tolist()
    [['J-1:0', 'lege', 0, 0, 30, 'Pas. sov godt. Kl. 10 kom mor.', '2025-01-08']]
    """
    from .tables import iter_records, read_table

    table = read_table(path, sheet=sheet, encoding=encoding, delimiter=delimiter)
    cols = list(table.frame.columns)
    records, out_cols = journal_segments(iter_records(table), cols, path=table.path, options=options)
    if not records:
        raise InputError("the journal export has no notes with text", path=table.path, sheet=table.sheet)
    return segments_from_records(
        records, out_cols, path=table.path, codebook=codebook, sheet=table.sheet if table.format == "xlsx" else None
    )


def iter_journal_chunks(
    chunks: Iterator[tuple[Iterable[tuple[int, dict[str, Any]]], list[str], str | None]],
    *,
    path: str,
    options: JournalOptions | None = None,
    codebook: Codebook | None = None,
) -> Iterator[pd.DataFrame]:
    """Segment frames from chunks of raw journal rows ``(records, columns, sheet)``, in order."""
    counters: Counter[str] = Counter()
    positions: Counter[tuple[Any, Any]] = Counter()
    for records, cols, sheet in chunks:
        recs, out_cols = journal_segments(records, cols, path=path, options=options, counters=counters)
        if recs:
            yield segments_from_records(recs, out_cols, path=path, codebook=codebook, sheet=sheet, positions=positions)
