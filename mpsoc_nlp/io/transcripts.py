"""Read interview transcripts (``.txt``, ``.docx``) into speaker turns and segments.

A transcript is a sequence of paragraphs; a paragraph that starts with a speaker label
(``I:``, ``IP:``, ``IP1:``, ``Intervjuer:``, ``Informant:``, ``Inf:``, ``Deltaker:``, ``D1:``,
``F:`` ..., or in Word a bold label) starts a turn. Paragraphs without a label before the first
turn (a title line, a header) are not turns; after a turn they continue it. Paragraphs holding
only a timestamp (``[00:12:34]``, ``#00:12:34-5#``) or a non-verbal mark (``(pause)``) are not
text; the timestamp is kept in the ``timestamp`` column of the next turn.

Offsets (``start``/``end``) are 0-based code points, end-exclusive, in the *text as read*:

* ``.txt``: the decoded file (UTF-8 with or without BOM, UTF-16, Windows-1252) with line breaks
  read as one ``\\n`` (CRLF and CR count as one character, as QDA programs count them);
* ``.docx``: the non-empty paragraphs joined by ``"\\n\\n"`` (one blank line between
  paragraphs), which is exactly how a ``.txt`` transcript with one paragraph per turn reads.

So a ``.docx`` and its ``.txt`` give the same segments and offsets, and
``text_as_read[start:end] == text`` for every segment (unless ``strip_marks`` removed marks from
the text; the span still covers them).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..codebook import Codebook
from ..corpus import segments_from_records
from ..errors import InputError
from ..segmenting import (
    NONVERBAL_MARKS,
    TIMESTAMP_PATTERN,
    Turn,
    is_mark_only,
    paragraph_spans,
    turn_segments,
)
from .tables import decode_text

__all__ = [
    "TRANSCRIPT_SUFFIXES",
    "DEFAULT_INTERVIEWER_LABELS",
    "DEFAULT_PARTICIPANT_LABELS",
    "TranscriptOptions",
    "read_transcript",
    "read_transcript_text",
    "parse_turns",
    "transcript_document_id",
]

logger = logging.getLogger(__name__)

TRANSCRIPT_SUFFIXES = (".txt", ".docx")
#: Labels of the interviewer (a number may follow: ``I1:``, ``Intervjuer 2:``).
DEFAULT_INTERVIEWER_LABELS = ("I", "Int", "Intervjuer", "Intervjuar", "F", "Forsker", "Moderator", "Mod")
#: Labels of participants (a number may follow: ``IP1:``, ``D1:``, ``Deltaker 2:``).
DEFAULT_PARTICIPANT_LABELS = (
    "IP", "Inf", "Informant", "Deltaker", "Deltakar", "D", "P", "Pasient", "Bruker", "Respondent", "R",
)
_TS = re.compile(TIMESTAMP_PATTERN)
_TS_LEAD = re.compile(rf"(?:{TIMESTAMP_PATTERN})[ \t]*")
_TS_TRAIL = re.compile(rf"[ \t]*(?:{TIMESTAMP_PATTERN})$")
_COLUMNS = [
    "segment_id", "document_id", "genre", "speaker", "turn_index", "start", "end", "text", "role", "context",
    "timestamp",
]


@dataclass(frozen=True)
class TranscriptOptions:
    """How transcripts are read and segmented.

    Parameters
    ----------
    interviewer_labels, participant_labels : tuple of str
        Speaker labels (before a ``:``); a number may follow each (``IP1``, ``Deltaker 2``) when
        ``numbered``. Labels of three letters or more match in any case.
    speakers : {'participant', 'all'}
        Which turns become segments; the interviewer's previous turn is always in ``context``.
    unit : {'turn', 'sentence'}
        One segment per turn (long turns as sentence windows), or one per sentence.
    max_chars : int
        A turn longer than this is split into windows of whole sentences of at most this length
        (2000 characters is about the 512 tokens a Norwegian BERT model reads at once).
    strip_marks : bool
        Remove timestamps and non-verbal marks such as ``(ler)`` from the classified ``text``
        (``[navn]``, ``[sted]`` stay). ``start``/``end`` still delimit the span in the source.
    marks : tuple of str
        The non-verbal marks recognised in parentheses.
    bold_labels : bool
        Word only: a bold run at the start of a paragraph ending in ``:`` (or followed by text)
        is a speaker label, whatever its words; interviewer if it matches an interviewer label.
    document_ids : mapping, optional
        File name, stem or path -> document_id; default the file name without extension.
    """

    interviewer_labels: tuple[str, ...] = DEFAULT_INTERVIEWER_LABELS
    participant_labels: tuple[str, ...] = DEFAULT_PARTICIPANT_LABELS
    numbered: bool = True
    speakers: Literal["participant", "all"] = "participant"
    unit: Literal["turn", "sentence"] = "turn"
    max_chars: int = 2000
    strip_marks: bool = False
    marks: tuple[str, ...] = NONVERBAL_MARKS
    bold_labels: bool = True
    document_ids: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.speakers not in ("participant", "all"):
            raise InputError(f"speakers must be 'participant' or 'all', not {self.speakers!r}")
        if self.unit not in ("turn", "sentence"):
            raise InputError(f"unit must be 'turn' or 'sentence', not {self.unit!r}")
        if self.max_chars < 20:
            raise InputError(f"max_chars must be at least 20, not {self.max_chars}")
        for name in ("interviewer_labels", "participant_labels", "marks"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            else:
                object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "transcript options") -> TranscriptOptions:
        """Options from a dict (a ``[transcripts]`` TOML table); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"{source}: unknown key(s) {unknown}; allowed are {sorted(known)}")
        return cls(**dict(data))

    def label_regex(self) -> re.Pattern[str]:
        """The compiled pattern of a speaker label at the start of a paragraph."""
        return _label_regex(self.interviewer_labels, self.participant_labels, self.numbered)

    def role_of(self, label: str) -> Literal["interviewer", "participant"]:
        """``'interviewer'`` when ``label`` (without its number) is an interviewer label."""
        base = re.sub(r"\s*\d+$", "", label.strip())
        for lab in self.interviewer_labels:
            lab = lab.strip()
            if lab == base or (len(lab) >= 3 and lab.lower() == base.lower()):
                return "interviewer"
        return "participant"


def _alternation(labels: Iterable[str]) -> str:
    parts = []
    for lab in sorted({lab.strip() for lab in labels if lab.strip()}, key=len, reverse=True):
        esc = re.escape(lab)
        parts.append(f"(?i:{esc})" if len(lab) >= 3 else esc)
    return "|".join(parts) if parts else r"(?!)"


def _label_regex(interviewer: Iterable[str], participant: Iterable[str], numbered: bool) -> re.Pattern[str]:
    labels = _alternation([*interviewer, *participant])
    number = r"(?:[ ]?\d{1,3})?" if numbered else ""
    return re.compile(
        rf"^(?P<ts>(?:{TIMESTAMP_PATTERN})[ \t]*)?(?P<label>(?:{labels}){number})[ \t]*:[ \t]*"
    )


def transcript_document_id(path: str | PathLike[str], options: TranscriptOptions | None = None) -> str:
    """The document_id of a transcript: mapped by name, stem or path, else the file stem."""
    p = Path(path)
    mapping = options.document_ids if options is not None else {}
    for key in (p.name, p.stem, str(path), str(p.resolve())):
        if key in mapping:
            return str(mapping[key])
    return p.stem


def _bold(run: Any) -> bool:
    if run.bold is not None:
        return bool(run.bold)
    style = getattr(run, "style", None)
    return bool(style is not None and style.font is not None and style.font.bold)


#: Paragraphs of one ``.docx`` transcript, empty ones included; a three-hour interview has a few thousand.
MAX_DOCX_PARAGRAPHS = 100_000


def _check_docx(path: Path) -> None:
    """Refuse a ``.docx`` beyond the archive limits or with more than :data:`MAX_DOCX_PARAGRAPHS` paragraphs.

    Both are checked before python-docx parses anything: the paragraphs are counted by scanning
    ``word/document.xml`` as bytes, which takes a bounded time.
    """
    import zipfile

    from .archives import check_zip_file

    check_zip_file(path, "Word document")
    tag = re.compile(rb"<w:p[\s/>]")
    count, tail = 0, b""
    try:
        with zipfile.ZipFile(path) as zf, zf.open("word/document.xml") as fh:
            while block := fh.read(1 << 20):
                chunk = tail + block
                cut = max(0, len(chunk) - 8)
                count += sum(1 for m in tag.finditer(chunk) if m.start() < cut)
                tail = chunk[cut:]
                if count > MAX_DOCX_PARAGRAPHS:
                    raise InputError(
                        f"refused: the Word document holds more than {MAX_DOCX_PARAGRAPHS} paragraphs; split it "
                        "into several files",
                        path=str(path),
                    )
    except (zipfile.BadZipFile, KeyError, OSError):
        return  # not a Word document: python-docx says so in its words below


def read_transcript_text(path: str | PathLike[str]) -> tuple[str, dict[int, str]]:
    """The text as read of a ``.txt`` or ``.docx`` transcript, and the bold labels of Word.

    Returns ``(text, bold)`` where ``bold`` maps the offset of a paragraph that starts with a
    bold run to that run's text (empty for ``.txt``).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file" if not p.exists() else "this is a folder, not a file", path=str(p))
    suffix = p.suffix.lower()
    if suffix == ".txt":
        text, _ = decode_text(p.read_bytes(), str(p))
        return text.replace("\r\n", "\n").replace("\r", "\n"), {}
    if suffix != ".docx":
        raise InputError(f"a transcript is a .txt or .docx file, not {suffix!r}", path=str(p))
    import zipfile

    import docx

    _check_docx(p)
    try:
        document = docx.Document(str(p))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InputError(
            f"cannot open the file as a Word document ({type(exc).__name__}); is it a real .docx? "
            "Old .doc files must be saved as .docx first",
            path=str(p),
        ) from exc
    except Exception as exc:  # python-docx raises its own PackageNotFoundError and others
        raise InputError(f"cannot open the file as a Word document: {exc}", path=str(p)) from exc
    parts: list[str] = []
    bold: dict[int, str] = {}
    pos = 0
    for para in document.paragraphs:
        ptext = para.text.replace("\r\n", "\n").replace("\r", "\n")
        if not ptext.strip():
            continue
        if parts:
            pos += 2
        prefix = ""
        for run in para.runs:
            if not run.text:
                continue
            if not _bold(run):
                break
            prefix += run.text
        if prefix.strip() and ptext.startswith(prefix):
            bold[pos] = prefix
        parts.append(ptext)
        pos += len(ptext)
    if any(t.text.strip() for table in document.tables for row in table.rows for t in row.cells) and not parts:
        raise InputError(
            "the Word document holds its text in a table; mpsoc reads transcripts as paragraphs "
            "(one turn per paragraph, starting with a speaker label). Convert the table to text in Word",
            path=str(p),
        )
    return "\n\n".join(parts), bold


def parse_turns(
    text: str, options: TranscriptOptions | None = None, bold: Mapping[int, str] | None = None
) -> list[Turn]:
    """The speaker turns of a transcript text, with 0-based indices among all turns.

    ``bold`` maps paragraph offsets to a leading bold run (from :func:`read_transcript_text`).
    """
    options = options or TranscriptOptions()
    rx = options.label_regex()
    bold = bold or {}
    turns: list[Turn] = []
    cur: dict[str, Any] | None = None
    pending_ts: str | None = None

    def close() -> None:
        nonlocal cur
        if cur is not None:
            turns.append(Turn(**cur))
            cur = None

    for ps, pe in paragraph_spans(text):
        para = text[ps:pe]
        m = rx.match(para)
        label: str | None = None
        body = ps
        ts: str | None = None
        if m:
            label = m.group("label")
            body = ps + m.end()
            if m.group("ts"):
                ts = m.group("ts").strip()
        elif options.bold_labels and ps in bold:
            prefix = bold[ps]
            cand = prefix.strip()
            rest = para[len(prefix):]
            if cand.endswith(":") or (rest.strip() and rest[:1].isspace()):
                cand = cand.rstrip(":").strip()
                if 0 < len(cand) <= 40 and not re.search(r"[.!?]", cand):
                    label = cand
                    body = ps + len(prefix)
                    colon = re.match(r"[ \t]*:?[ \t]*", text[body:pe])
                    body += colon.end() if colon else 0
        if label is not None:
            close()
            lead = _TS_LEAD.match(text, body, pe)
            if lead:
                ts = ts or text[lead.start() : lead.end()].strip()
                body = lead.end()
            end = pe
            trail = _TS_TRAIL.search(text, body, pe)
            if trail:
                ts = ts or text[trail.start() : trail.end()].strip()
                end = trail.start()
            while body < end and text[body].isspace():
                body += 1
            cur = {
                "index": len(turns),
                "speaker": label,
                "role": options.role_of(label),
                "start": body,
                "end": max(body, end),
                "line": text.count("\n", 0, ps) + 1,
                "timestamp": ts or pending_ts,
            }
            pending_ts = None
            continue
        if _TS.fullmatch(para.strip()):
            pending_ts = para.strip()
            continue
        if is_mark_only(para, options.marks):
            continue
        if cur is None:
            logger.debug("paragraph at offset %d has no speaker label and comes before the first turn", ps)
            continue
        if cur["start"] >= cur["end"]:
            cur["start"] = ps
        cur["end"] = pe
    close()
    return turns


def read_transcript(
    path: str | PathLike[str],
    *,
    options: TranscriptOptions | None = None,
    codebook: Codebook | None = None,
) -> pd.DataFrame:
    """Read one ``.txt`` or ``.docx`` transcript into a segment frame.

    Columns: ``segment_id`` (``DOCUMENT:TURN``, or ``DOCUMENT:TURN.K`` for the windows of a long
    turn), ``document_id``, ``genre`` (``intervju``), ``speaker`` (the label as written),
    ``turn_index``, ``start``, ``end``, ``text``, ``role``, ``context`` (the interviewer's
    previous turn), ``timestamp`` (the last timestamp before or in the turn), and the provenance
    columns ``source_file`` and ``source_row`` (the line of the turn in the text as read).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "INT-09.txt"
    >>> _ = p.write_text("Intervju 9\\n\\nI: Hvor bor du?\\n\\nIP: I [sted]. (ler) Det er fint.\\n", encoding="utf-8")
    >>> seg = read_transcript(p)
    >>> seg[["segment_id", "speaker", "turn_index", "start", "end", "text", "context"]].values.tolist()
    [['INT-09:1', 'IP', 1, 33, 61, 'I [sted]. (ler) Det er fint.', 'Hvor bor du?']]
    """
    options = options or TranscriptOptions()
    text, bold = read_transcript_text(path)
    document_id = transcript_document_id(path, options)
    turns = parse_turns(text, options, bold)
    if not turns:
        raise InputError(
            "found no speaker turns: each turn must be a paragraph starting with a speaker label such as "
            f"'IP:' or 'I:' (known labels: {', '.join(options.interviewer_labels + options.participant_labels)}). "
            "Give your own labels with TranscriptOptions(participant_labels=..., interviewer_labels=...)",
            path=str(path),
        )
    records = turn_segments(
        text, turns, document_id=document_id, speakers=options.speakers, unit=options.unit,
        max_chars=options.max_chars, strip=options.strip_marks, marks=options.marks,
    )
    if not records:
        raise InputError(
            f"found {len(turns)} speaker turns but none of the speakers "
            f"{'of a participant ' if options.speakers == 'participant' else ''}has any text; "
            "check that participants' labels are not listed as interviewer labels",
            path=str(path),
        )
    rows = [(int(r.pop("_line")), r) for r in records]  # type: ignore[call-overload]
    frame = segments_from_records(rows, _COLUMNS, path=str(path), codebook=codebook)
    for col in ("context", "timestamp", "role"):
        frame[col] = pd.Series(
            [None if v is None or v != v or v == "" else v for v in frame[col]], index=frame.index, dtype=object
        )
    return frame
