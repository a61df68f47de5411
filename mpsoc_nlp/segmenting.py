"""Documents and speaker turns -> segments: Norwegian-aware sentences, sentence windows, marks.

Everything here works on *spans* ``(start, end)``: 0-based Unicode code points, end-exclusive,
in the text as read, so ``text[start:end]`` is always the segment. Nothing is normalised, so
offsets stay valid for the source file (and for a REFI-QDA project built from it).

Examples
--------
>>> text = "Vi møttes kl. 10 f.eks. på kafeen. Det var bra! Så dro vi hjem."
>>> [text[s:e] for s, e in split_sentences(text)]
['Vi møttes kl. 10 f.eks. på kafeen.', 'Det var bra!', 'Så dro vi hjem.']
>>> [text[s:e] for s, e in sentence_windows(text, max_chars=50)]
['Vi møttes kl. 10 f.eks. på kafeen. Det var bra!', 'Så dro vi hjem.']
>>> strip_marks("(ler) Ja, [00:12:34] det var [sted] (pause) fint.")
'Ja, det var [sted] fint.'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "NORWEGIAN_ABBREVIATIONS",
    "NONVERBAL_MARKS",
    "TIMESTAMP_PATTERN",
    "Turn",
    "split_sentences",
    "sentence_windows",
    "strip_marks",
    "mark_spans",
    "is_mark_only",
    "paragraph_spans",
    "line_spans",
    "turn_segments",
]

#: Abbreviations whose final period does not end a sentence (lower-case, with their periods).
NORWEGIAN_ABBREVIATIONS = frozenset(
    {
        "f.eks.", "feks.", "bl.a.", "kl.", "ca.", "dvs.", "pas.", "nr.", "jf.", "jfr.", "evt.", "ev.",
        "mht.", "m.h.t.", "iht.", "i.h.t.", "pga.", "p.g.a.", "ift.", "i.f.t.", "mtp.", "m.t.p.",
        "vedr.", "ang.", "sml.", "tlf.", "dr.", "st.", "ref.", "inkl.", "ekskl.", "gl.", "div.",
        "adm.", "avd.", "prof.", "stud.", "tidl.", "el.", "kap.", "pkt.", "spm.", "hhv.", "henh.",
        "forts.", "t.o.m.", "f.o.m.", "o.a.", "mnd.", "sek.", "årh.", "jan.", "feb.", "apr.", "aug.",
        "sep.", "sept.", "okt.", "nov.", "des.", "pr.", "mrd.", "mill.", "kr.",
        "etc.", "osv.", "m.m.", "mm.", "o.l.", "m.v.", "mv.", "e.l.",
    }
)
# Left out on purpose, because they are also words that end sentences: "min." (minutter/min),
# "to." (torsdag/to), "ti.", "ma.", "on.", "mar.", "vgs.".
#: Abbreviations that often end a sentence: they end one when a capital letter follows.
_SENTENCE_FINAL_ABBREVIATIONS = frozenset({"etc.", "osv.", "m.m.", "mm.", "o.l.", "m.v.", "mv.", "e.l."})

#: Non-verbal marks recognised in parentheses, e.g. ``(ler)``, ``(pause)``, ``(lang pause)``.
NONVERBAL_MARKS = (
    "ler", "ler litt", "ler høyt", "latter", "humrer", "fniser", "smiler", "pause", "kort pause",
    "lang pause", "stillhet", "sukker", "sukk", "puster tungt", "gråter", "griner", "hoster",
    "kremter", "nøler", "nøling", "avbrutt", "avbryter", "uforståelig", "utydelig", "uklart",
    "overlapp", "snakker samtidig", "telefonen ringer", "banker i bordet", "knipser",
)
#: Timestamps as transcription programs write them: ``[00:12:34]``, ``[12:34]``, ``#00:12:34-5#``.
TIMESTAMP_PATTERN = r"\[\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\]|#\d{1,2}:\d{2}:\d{2}(?:[-.,]\d+)?#"

_TIMESTAMP = re.compile(TIMESTAMP_PATTERN)
_SENTENCE_END = re.compile(r"[.!?…]+[\"»”')\]]*(?=\s)")
_WORD_BEFORE = re.compile(r"(\S+)$")
_NEXT_START = re.compile(r"\s+([\"«“'(\[]*)(\S)")


def _marks_regex(marks: Iterable[str]) -> re.Pattern[str]:
    words = sorted({re.escape(m.strip().lower()) for m in marks if m.strip()}, key=len, reverse=True)
    inner = "|".join(words) if words else r"(?!)"
    return re.compile(rf"\(\s*(?:{inner})\s*\)|\(\(\s*[^()]{{1,40}}\s*\)\)|{TIMESTAMP_PATTERN}", re.IGNORECASE)


_DEFAULT_MARKS = _marks_regex(NONVERBAL_MARKS)


def mark_spans(text: str, marks: Iterable[str] | None = None) -> list[tuple[int, int]]:
    """Spans of timestamps and non-verbal marks in ``text`` (anonymisation markers excluded).

    >>> mark_spans("(ler) ja [navn] #00:01:02-3#")
    [(0, 5), (16, 28)]
    """
    rx = _DEFAULT_MARKS if marks is None else _marks_regex(marks)
    return [(m.start(), m.end()) for m in rx.finditer(text)]


def strip_marks(text: str, marks: Iterable[str] | None = None) -> str:
    """``text`` without timestamps and non-verbal marks; ``[navn]``, ``[sted]`` and the like stay.

    The whitespace around a removed mark is collapsed to one space (or removed at the edges).
    """
    spans = mark_spans(text, marks)
    if not spans:
        return text
    parts = []
    pos = 0
    for s, e in spans:
        parts.append(text[pos:s])
        pos = e
    parts.append(text[pos:])
    out = parts[0]
    for part in parts[1:]:
        left, right = out.rstrip(" \t"), part.lstrip(" \t")
        spaced = len(left) != len(out) or len(right) != len(part)
        if not left or not right or right[0] in ",.!?;:\n" or left[-1] == "\n":
            out = left + right
        elif spaced or (left[-1].isalnum() and right[0].isalnum()):
            out = left + " " + right
        else:
            out = left + right
    return out.strip()


def is_mark_only(text: str, marks: Iterable[str] | None = None) -> bool:
    """True when ``text`` holds nothing but timestamps and non-verbal marks (and whitespace)."""
    rx = _DEFAULT_MARKS if marks is None else _marks_regex(marks)
    return bool(text.strip()) and not rx.sub("", text).strip()


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(
    text: str,
    start: int = 0,
    end: int | None = None,
    *,
    abbreviations: Iterable[str] | None = None,
) -> list[tuple[int, int]]:
    """Sentence spans of ``text[start:end]``, Norwegian-aware.

    A sentence ends at ``.``, ``!``, ``?``, ``…`` or ``...`` (with closing quotes or brackets)
    followed by white space and a capital letter, a digit or an opening quote; or at a line
    break. A period after a known abbreviation (``f.eks.``, ``bl.a.``, ``kl.``, ``ca.``, ``dvs.``,
    ``pas.`` ...) or an initial (``A.``) does not end a sentence; ``osv.`` and ``etc.`` do when a
    capital letter follows. Returned spans are stripped of surrounding white space.

    >>> t = "Pas. møtte bl.a. Dr. Hansen i går. Han sa: «Det går bra.» Vi får se..."
    >>> [t[s:e] for s, e in split_sentences(t)]
    ['Pas. møtte bl.a. Dr. Hansen i går.', 'Han sa: «Det går bra.»', 'Vi får se...']
    """
    end = len(text) if end is None else end
    abbr = NORWEGIAN_ABBREVIATIONS if abbreviations is None else frozenset(a.lower() for a in abbreviations)
    spans: list[tuple[int, int]] = []
    pieces: list[tuple[int, int]] = []
    # line breaks always end a sentence
    pos = start
    for m in re.finditer(r"\n", text[start:end]):
        pieces.append((pos, start + m.start()))
        pos = start + m.end()
    pieces.append((pos, end))
    for p_start, p_end in pieces:
        s0 = p_start
        for m in _SENTENCE_END.finditer(text, p_start, p_end):
            cut = m.end()
            nxt = _NEXT_START.match(text, cut, p_end)
            if nxt is None:
                continue
            following = nxt.group(2)
            base = m.group(0).rstrip("\"»”')]")
            if base == ".":
                word_m = _WORD_BEFORE.search(text, s0, m.start() + 1)
                word = (word_m.group(1) if word_m else "").lower().lstrip("«\"“'([")
                if word in abbr and not (word in _SENTENCE_FINAL_ABBREVIATIONS and following.isupper()):
                    continue
                if re.fullmatch(r"\w\.", word) and not word[0].isdigit():
                    continue  # an initial: "A. Hansen"
                if re.fullmatch(r"\d+\.", word) and not following.isupper():
                    continue  # an ordinal: "3. mai"
            if not (following.isupper() or following.isdigit() or nxt.group(1)):
                continue
            a, b = _strip_span(text, s0, cut)
            if a < b:
                spans.append((a, b))
            s0 = cut
        a, b = _strip_span(text, s0, p_end)
        if a < b:
            spans.append((a, b))
    return spans


def _cut_long(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """Cut one over-long sentence at white space into pieces of at most ``max_chars``."""
    out = []
    while end - start > max_chars:
        cut = text.rfind(" ", start + 1, start + max_chars + 1)
        if cut <= start:
            cut = start + max_chars
        a, b = _strip_span(text, start, cut)
        if a < b:
            out.append((a, b))
        start = cut
    a, b = _strip_span(text, start, end)
    if a < b:
        out.append((a, b))
    return out


def sentence_windows(
    text: str,
    start: int = 0,
    end: int | None = None,
    *,
    max_chars: int = 2000,
    max_sentences: int | None = None,
    abbreviations: Iterable[str] | None = None,
) -> list[tuple[int, int]]:
    """Windows of whole sentences of ``text[start:end]``, each at most ``max_chars`` long.

    Sentences are packed greedily in order; a window never overlaps another. A single sentence
    longer than ``max_chars`` is cut at white space. A span that fits whole is returned as one
    window (stripped of surrounding white space).
    """
    end = len(text) if end is None else end
    a, b = _strip_span(text, start, end)
    if a >= b:
        return []
    if b - a <= max_chars and max_sentences is None:
        return [(a, b)]
    windows: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    n_in = 0
    for s, e in split_sentences(text, a, b, abbreviations=abbreviations):
        for s2, e2 in _cut_long(text, s, e, max_chars) if e - s > max_chars else [(s, e)]:
            if cur is not None and e2 - cur[0] <= max_chars and (max_sentences is None or n_in < max_sentences):
                cur = (cur[0], e2)
                n_in += 1
            else:
                if cur is not None:
                    windows.append(cur)
                cur = (s2, e2)
                n_in = 1
    if cur is not None:
        windows.append(cur)
    return windows


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the paragraphs of ``text`` (separated by blank lines), stripped, non-empty."""
    out = []
    pos = 0
    for m in re.finditer(r"\n[ \t\r]*\n\s*", text):
        a, b = _strip_span(text, pos, m.start())
        if a < b:
            out.append((a, b))
        pos = m.end()
    a, b = _strip_span(text, pos, len(text))
    if a < b:
        out.append((a, b))
    return out


def line_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the non-empty lines of ``text`` (split at ``\\n``), stripped of surrounding space.

    >>> text = "Tittel\\n\\n  I: Hei.  \\nIP: Hei du."
    >>> [text[s:e] for s, e in line_spans(text)]
    ['Tittel', 'I: Hei.', 'IP: Hei du.']
    """
    out = []
    pos = 0
    n = len(text)
    while pos <= n:
        nl = text.find("\n", pos)
        stop = n if nl < 0 else nl
        a, b = _strip_span(text, pos, stop)
        if a < b:
            out.append((a, b))
        if nl < 0:
            break
        pos = nl + 1
    return out


@dataclass(frozen=True)
class Turn:
    """One speaker turn: its 0-based index among all turns, label, role and span in the text."""

    index: int
    speaker: str | None
    role: Literal["interviewer", "participant", "unknown"]
    start: int
    end: int
    line: int = 1
    timestamp: str | None = None


def turn_segments(
    text: str,
    turns: Sequence[Turn],
    *,
    document_id: str,
    speakers: Literal["participant", "all"] = "participant",
    unit: Literal["turn", "sentence"] = "turn",
    max_chars: int = 2000,
    strip: bool = False,
    marks: Iterable[str] | None = None,
    genre: str | None = "intervju",
) -> list[dict[str, object]]:
    """Segment records (as :func:`mpsoc_nlp.corpus.segments_from_records` reads them) for turns.

    Each turn becomes one segment ``DOCUMENT:TURN``; a turn longer than ``max_chars`` (or every
    turn, with ``unit='sentence'``) becomes windows ``DOCUMENT:TURN.K``. ``context`` is the text
    of the interviewer's turn before it. With ``strip``, the ``text`` has timestamps and
    non-verbal marks removed; ``start``/``end`` still delimit the span in ``text`` (the source).
    """
    records: list[dict[str, object]] = []
    last_question: str | None = None
    for turn in turns:
        body = text[turn.start : turn.end]
        if turn.role == "interviewer":
            q = strip_marks(body, marks) if strip else body
            last_question = q
        if speakers == "participant" and turn.role != "participant":
            continue
        if unit == "sentence":
            spans = [
                w for s, e in split_sentences(text, turn.start, turn.end) for w in sentence_windows(
                    text, s, e, max_chars=max_chars
                )
            ]
        else:
            spans = sentence_windows(text, turn.start, turn.end, max_chars=max_chars)
        spans = [sp for sp in spans if not is_mark_only(text[sp[0] : sp[1]], marks)]
        for k, (s, e) in enumerate(spans):
            seg = text[s:e]
            if strip:
                seg = strip_marks(seg, marks)
                if not seg:
                    continue
            records.append(
                {
                    "segment_id": f"{document_id}:{turn.index}" + (f".{k}" if len(spans) > 1 else ""),
                    "document_id": document_id,
                    "genre": genre,
                    "speaker": turn.speaker,
                    "turn_index": turn.index,
                    "start": s,
                    "end": e,
                    "text": seg,
                    "role": turn.role,
                    "context": last_question if turn.role != "interviewer" else None,
                    "timestamp": turn.timestamp,
                    "_line": turn.line + text.count("\n", turn.start, s),
                }
            )
    return records
