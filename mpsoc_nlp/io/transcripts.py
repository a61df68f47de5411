"""Read interview transcripts (``.txt``, ``.docx``) into speaker turns and segments.

Reading follows the labels, not the paragraphs: a line that starts with a speaker label
(``I:``, ``IP:``, ``IP1:``, ``Informant 2:``, ``Intervjuer:``, ``Inf:``, ``Deltaker:``, ``D1:``,
``F:`` ..., after an optional timestamp such as ``[00:12:34] IP:``, or in Word a bold label)
starts a turn, whatever the blank lines; a line without a label continues the turn before it.
So a file with one turn per line, a file with a blank line between turns and a mix read alike.
Lines without a label before the first turn (a title, a header block) are not turns. Lines
holding only a timestamp (``[00:12:34]``, ``#00:12:34-5#``) or a non-verbal mark (``(pause)``)
are not text; the timestamp is kept in the ``timestamp`` column of the next turn. A turn's
``text`` runs from after its label to the end of its last non-empty line, with the line breaks
(and blank lines) inside it kept, so it is one exact span of the text as read.

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
from collections import Counter
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
    line_spans,
    turn_segments,
)
from .sniff import MAX_TRANSCRIPT_BYTES, check_line_lengths
from .tables import decode_text

__all__ = [
    "TRANSCRIPT_SUFFIXES",
    "DEFAULT_INTERVIEWER_LABELS",
    "DEFAULT_PARTICIPANT_LABELS",
    "TranscriptOptions",
    "read_transcript",
    "read_transcript_text",
    "parse_turns",
    "label_census",
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
        Word only: a bold run at the start of a line ending in ``:`` (or followed by text)
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

    @classmethod
    def with_labels(
        cls, participant: Iterable[str] = (), interviewer: Iterable[str] = (), **kwargs: Any
    ) -> TranscriptOptions:
        """Options with extra speaker labels added to the known ones.

        A label given for one role is taken out of the other role's known labels (``I`` given as a
        participant's label is then no longer an interviewer's).

        >>> opts = TranscriptOptions.with_labels(["Ola"], ["I"])
        >>> opts.participant_labels[0], "Ola" in opts.interviewer_labels
        ('Ola', False)
        """
        part, inter = list(participant), list(interviewer)
        return cls(
            participant_labels=(*part, *(lab for lab in DEFAULT_PARTICIPANT_LABELS if lab not in inter)),
            interviewer_labels=(*inter, *(lab for lab in DEFAULT_INTERVIEWER_LABELS if lab not in part)),
            **kwargs,
        )

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
    ts = rf"(?:{TIMESTAMP_PATTERN})[ \t]*|{_BARE_TIMESTAMP}[ \t]+"
    return re.compile(rf"^(?P<ts>{ts})?(?P<label>(?:{labels}){number})[ \t]*:[ \t]*")


#: A timestamp without brackets, only recognised before a label at the start of a line
#: (``00:12:34 IP: ...``, as some speech-to-text programs write them).
_BARE_TIMESTAMP = r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?"


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


def _bold_line_starts(para: Any, ptext: str) -> dict[int, str]:
    """The bold run(s) at the start of each line of a Word paragraph, by offset in ``ptext``.

    A paragraph may hold several lines (soft line breaks); each line can start with a bold label.
    """
    runs = [(run.text.replace("\r\n", "\n").replace("\r", "\n"), _bold(run)) for run in para.runs if run.text]
    joined = "".join(t for t, _ in runs)
    out: dict[int, str] = {}
    if joined != ptext:  # runs inside hyperlinks or fields: only the paragraph's start is safe
        prefix = ""
        for t, is_bold in runs:
            if not is_bold:
                break
            prefix += t
        if prefix.strip() and ptext.startswith(prefix):
            out[0] = prefix.split("\n", 1)[0]
        return out
    mask = [is_bold for t, is_bold in runs for _ in t]
    starts = [0] + [i + 1 for i, ch in enumerate(ptext) if ch == "\n"]
    for a in starts:
        while a < len(ptext) and ptext[a] in " \t":  # a line's leading space is not part of it
            a += 1
        z = a
        while z < len(ptext) and mask[z] and ptext[z] != "\n":
            z += 1
        if ptext[a:z].strip():
            out[a] = ptext[a:z]
    return out


def read_transcript_text(path: str | PathLike[str]) -> tuple[str, dict[int, str]]:
    """The text as read of a ``.txt`` or ``.docx`` transcript, and the bold labels of Word.

    Returns ``(text, bold)`` where ``bold`` maps the offset of a line (a paragraph, or a line of
    a paragraph with soft line breaks) that starts with a bold run to that run's text (empty for
    ``.txt``).
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file" if not p.exists() else "this is a folder, not a file", path=str(p))
    suffix = p.suffix.lower()
    if suffix == ".txt":
        size = p.stat().st_size
        if size > MAX_TRANSCRIPT_BYTES:
            raise InputError(f"the transcript is {size} bytes; at most {MAX_TRANSCRIPT_BYTES} are read", path=str(p))
        check_line_lengths(p)
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
        for offset, prefix in _bold_line_starts(para, ptext).items():
            bold[pos + offset] = prefix
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

    Reading follows the labels, not the paragraphs: a line that starts with a speaker label
    (after an optional timestamp) starts a turn, whatever the blank lines around it; a line
    without a label continues the turn before it (before the first turn it is a title or header
    and is not read). So one-turn-per-line files, files with a blank line between turns and any
    mix of the two read the same. A turn's span runs from after its label to the end of its last
    non-empty line, line breaks and blank lines inside it kept: ``text[turn.start:turn.end]``.
    Lines holding only a timestamp or a non-verbal mark are not text: a timestamp goes to the
    next turn's ``timestamp``; a leading or trailing timestamp of a turn is kept out of its span.

    ``bold`` maps line offsets to a leading bold run (from :func:`read_transcript_text`).
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
            trail = _TS_TRAIL.search(text, cur["start"], cur["end"])
            if trail and cur["end"] > cur["start"]:
                cur["timestamp"] = cur["timestamp"] or text[trail.start() : trail.end()].strip()
                cur["end"] = max(cur["start"], _strip_span_end(text, cur["start"], trail.start()))
            turns.append(Turn(**cur))
            cur = None

    for ls, le in line_spans(text):
        line = text[ls:le]
        label, body, ts = _line_label(text, ls, le, line, rx, bold if options.bold_labels else {})
        if label is not None:
            close()
            lead = _TS_LEAD.match(text, body, le)
            if lead:
                ts = ts or text[lead.start() : lead.end()].strip()
                body = lead.end()
            while body < le and text[body].isspace():
                body += 1
            cur = {
                "index": len(turns),
                "speaker": label,
                "role": options.role_of(label),
                "start": body,
                "end": le,
                "line": text.count("\n", 0, ls) + 1,
                "timestamp": ts or pending_ts,
            }
            pending_ts = None
            continue
        if _TS.fullmatch(line):
            pending_ts = line
            continue
        if is_mark_only(line, options.marks):
            continue
        if cur is None:
            logger.debug("the line at offset %d has no speaker label and comes before the first turn", ls)
            continue
        if cur["start"] >= cur["end"]:
            cur["start"] = ls
        cur["end"] = le
    close()
    return turns


def _strip_span_end(text: str, start: int, end: int) -> int:
    while end > start and text[end - 1].isspace():
        end -= 1
    return end


def _line_label(
    text: str, ls: int, le: int, line: str, rx: re.Pattern[str], bold: Mapping[int, str]
) -> tuple[str | None, int, str | None]:
    """``(label, body_start, timestamp)`` of a line: its speaker label, or ``None``."""
    m = rx.match(line)
    if m:
        return m.group("label"), ls + m.end(), (m.group("ts").strip() if m.group("ts") else None)
    if ls in bold:
        prefix = bold[ls]
        cand = prefix.strip()
        rest = line[len(prefix) :]
        if cand.endswith(":") or (rest.strip() and rest[:1].isspace()):
            cand = cand.rstrip(":").strip()
            if 0 < len(cand) <= 40 and not re.search(r"[.!?]", cand):
                body = ls + len(prefix)
                colon = re.match(r"[ \t]*:?[ \t]*", text[body:le])
                return cand, body + (colon.end() if colon else 0), None
    return None, ls, None


#: A label-like start of a line: up to three words (letters, digits) before a colon.
_LABEL_LIKE = re.compile(
    rf"(?:(?:{TIMESTAMP_PATTERN})[ \t]*)?(?P<label>[^\W\d_][\w'.-]{{0,15}}(?:[ ][\w'.-]{{1,15}}){{0,2}})[ \t]*:"
)


def label_census(text: str) -> Counter[str]:
    """How many lines of ``text`` start with each label-like word(s) before a colon.

    >>> label_census("Tittel\\nKari: Ja.\\nOla: Nei?\\nKari: Jo.")
    Counter({'Kari': 2, 'Ola': 1})
    """
    out: Counter[str] = Counter()
    for ls, le in line_spans(text):
        m = _LABEL_LIKE.match(text, ls, le)
        if m:
            out[m.group("label")] += 1
    return out


def _census_text(census: Counter[str], limit: int = 8) -> str:
    items = census.most_common(limit)
    more = f" and {len(census) - limit} more" if len(census) > limit else ""
    return ", ".join(f"{lab!r} {n} line(s)" for lab, n in items) + more


def _label_advice(census: Counter[str], options: TranscriptOptions) -> str:
    """What to pass, from the labels found: the unknown frequent ones as participants."""
    rx = options.label_regex()
    unknown = [lab for lab, n in census.most_common() if n >= 2 and not rx.match(f"{lab}: ")]
    known = ", ".join(options.interviewer_labels + options.participant_labels)
    if unknown:
        labs = ",".join(unknown[:4])
        return (
            f"If {', '.join(repr(u) for u in unknown[:4])} are speakers, pass their labels: "
            f"--participant-labels {labs} (and --interviewer-labels for the interviewer's), "
            "or TranscriptOptions(participant_labels=..., interviewer_labels=...) in Python"
        )
    return (
        f"Each turn must start a line with a speaker label such as 'IP:' or 'I:' (known labels: {known}); "
        "give your own with --participant-labels and --interviewer-labels "
        "(TranscriptOptions(participant_labels=..., interviewer_labels=...) in Python)"
    )


def _warn_merged_turns(text: str, turns: list[Turn], options: TranscriptOptions, path: str) -> None:
    """Warn when lines inside turns start with a label-like word the options do not know."""
    inside: Counter[str] = Counter()
    for turn in turns:
        first_nl = text.find("\n", turn.start, turn.end)
        if first_nl < 0:
            continue
        inside.update(label_census(text[first_nl + 1 : turn.end]))
    rx = options.label_regex()
    merged = Counter({lab: n for lab, n in inside.items() if n >= 2 and not rx.match(f"{lab}: ")})
    if merged:
        logger.warning(
            "%s: lines starting with %s are not known speaker labels, so they were read as the "
            "continuation of the turn before them. %s",
            path,
            _census_text(merged),
            _label_advice(merged, options),
        )
    labels = _alternation([*options.interviewer_labels, *options.participant_labels])
    mid = re.compile(rf"(?<=[.!?…\"»)\]][ \t])(?:{labels})(?:[ ]?\d{{1,3}})?[ \t]*:[ \t]")
    within: Counter[str] = Counter()
    for turn in turns:
        within.update(m.group(0).rstrip(" \t") for m in mid.finditer(text, turn.start, turn.end))
    if sum(within.values()) >= 2:
        logger.warning(
            "%s: speaker labels stand inside lines, not at their start (%s), so several turns were read "
            "as one. Each turn must start a line: put a line break before each label",
            path,
            ", ".join(f"{lab!r} {n} time(s)" for lab, n in within.most_common(6)),
        )


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
    census = label_census(text)
    if not turns:
        found = f"lines starting with {_census_text(census)}" if census else "no line that starts with a label"
        raise InputError(
            f"found no speaker turns ({found}). {_label_advice(census, options)}",
            path=str(path),
        )
    _warn_merged_turns(text, turns, options, str(path))
    records = turn_segments(
        text, turns, document_id=document_id, speakers=options.speakers, unit=options.unit,
        max_chars=options.max_chars, strip=options.strip_marks, marks=options.marks,
    )
    if not records:
        roles = Counter(f"{t.speaker} ({t.role})" for t in turns)
        raise InputError(
            f"found {len(turns)} speaker turns but none of the speakers "
            f"{'of a participant ' if options.speakers == 'participant' else ''}has any text "
            f"(turns by label: {', '.join(f'{k} {v}' for k, v in roles.most_common(8))}; "
            f"lines starting with {_census_text(census)}). "
            "If a participant's label is read as the interviewer's, pass the labels: --participant-labels "
            "and --interviewer-labels (TranscriptOptions(participant_labels=..., interviewer_labels=...))",
            path=str(path),
        )
    rows = [(int(r.pop("_line")), r) for r in records]  # type: ignore[call-overload]
    frame = segments_from_records(rows, _COLUMNS, path=str(path), codebook=codebook)
    for col in ("context", "timestamp", "role"):
        frame[col] = pd.Series(
            [None if v is None or v != v or v == "" else v for v in frame[col]], index=frame.index, dtype=object
        )
    return frame
