from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpsoc_nlp.segmenting import (
    Turn,
    is_mark_only,
    mark_spans,
    paragraph_spans,
    sentence_windows,
    split_sentences,
    strip_marks,
    turn_segments,
)


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Vi møttes f.eks. på kafeen. Så gikk vi.", ["Vi møttes f.eks. på kafeen.", "Så gikk vi."]),
        ("Han kom bl.a. fra Bergen. Hun ble.", ["Han kom bl.a. fra Bergen.", "Hun ble."]),
        ("Vi møttes kl. 10 i dag. Det gikk fint.", ["Vi møttes kl. 10 i dag.", "Det gikk fint."]),
        ("Det var ca. 20 stk. Ingen kom.", ["Det var ca. 20 stk.", "Ingen kom."]),
        ("Pas. sov godt. Pas. spiste lite, dvs. Ingenting.", ["Pas. sov godt.", "Pas. spiste lite, dvs. Ingenting."]),
        ("Vi spiste, drakk osv. Så dro vi.", ["Vi spiste, drakk osv.", "Så dro vi."]),
        ("Hun møtte Dr. Hansen og A. Berg. Han var snill.", ["Hun møtte Dr. Hansen og A. Berg.", "Han var snill."]),
        ("Født 3. mai. Flyttet 2019. Da var jeg 12.", ["Født 3. mai.", "Flyttet 2019.", "Da var jeg 12."]),
        ("Hva? Nei! Jo…", ["Hva?", "Nei!", "Jo…"]),
        ("Det var... det var fint. Ja.", ["Det var... det var fint.", "Ja."]),
        ("Han sa: «Ikke gå.» Så gikk jeg.", ["Han sa: «Ikke gå.»", "Så gikk jeg."]),
        ("Plan:\nKartlegging neste uke\nSamtale med mor.", ["Plan:", "Kartlegging neste uke", "Samtale med mor."]),
        ("(ler) Ja. [navn] kom.", ["(ler) Ja.", "[navn] kom."]),
    ],
)
def test_norwegian_sentences(text, expected):
    assert sentences(text) == expected


def test_sentence_spans_are_offsets_into_the_text():
    text = "  Intro.  Her er vi, kl. 12.  Slutt. "
    spans = split_sentences(text)
    assert spans == [(2, 8), (10, 28), (30, 36)]
    assert split_sentences(text, 10, 36) == [(10, 28), (30, 36)]


def test_windows_pack_whole_sentences_up_to_max_chars():
    text = "Én. " * 3 + "Dette er en lengre setning om bygda. " + "To. " * 2
    windows = sentence_windows(text, max_chars=40)
    got = [text[s:e] for s, e in windows]
    assert got == ["Én. Én. Én.", "Dette er en lengre setning om bygda. To.", "To."]
    assert [text[s:e] for s, e in sentence_windows(text, 4, 20, max_chars=8)] == ["Én. Én.", "Dette er"]


def test_window_cuts_an_over_long_sentence_at_spaces():
    text = "ord " * 30  # 120 characters without a sentence end
    windows = sentence_windows(text, max_chars=25)
    assert all(e - s <= 25 for s, e in windows)
    assert " ".join(text[s:e] for s, e in windows).split() == text.split()


def test_a_short_span_is_one_window_and_max_sentences_limits():
    text = "Aa bb. Cc dd. Ee ff."
    assert sentence_windows(text) == [(0, len(text))]
    assert [text[s:e] for s, e in sentence_windows(text, max_sentences=2)] == ["Aa bb. Cc dd.", "Ee ff."]
    assert sentence_windows("   ") == []


def test_marks_and_timestamps():
    text = "(ler) Ja, [00:12:34] det var [sted] (PAUSE) fint #00:12:40-5#. ((uforståelig)) [navn]"
    spans = mark_spans(text)
    assert [text[s:e] for s, e in spans] == ["(ler)", "[00:12:34]", "(PAUSE)", "#00:12:40-5#", "((uforståelig))"]
    assert strip_marks(text) == "Ja, det var [sted] fint. [navn]"
    assert strip_marks("Hei (ler), du.") == "Hei, du."
    assert strip_marks("Ingen merker her.") == "Ingen merker her."
    assert strip_marks("Si (latter) hei", marks=["latter"]) == "Si hei"
    assert is_mark_only(" (pause) [00:01:02] ")
    assert not is_mark_only("(pause) ja")
    assert not is_mark_only("[navn]")


def test_paragraph_spans_skip_blank_lines_and_crlf():
    text = "Tittel\r\n\r\nI: Hei.\n\n\n  IP: Hei du.  \n"
    assert [text[s:e] for s, e in paragraph_spans(text)] == ["Tittel", "I: Hei.", "IP: Hei du."]


def test_turn_segments_ids_context_and_windows():
    text = "Spørsmål en?\n\nSvar. " + "Lang setning her. " * 10
    turns = [
        Turn(0, "I", "interviewer", 0, 12),
        Turn(1, "IP", "participant", 14, len(text) - 1),
    ]
    recs = turn_segments(text, turns, document_id="D", max_chars=60)
    assert [r["segment_id"] for r in recs] == ["D:1.0", "D:1.1", "D:1.2", "D:1.3"]
    assert all(text[r["start"] : r["end"]] == r["text"] for r in recs)
    assert {r["context"] for r in recs} == {"Spørsmål en?"}
    one = turn_segments(text, turns, document_id="D")
    assert [r["segment_id"] for r in one] == ["D:1"]
    both = turn_segments(text, turns, document_id="D", speakers="all")
    assert [r["segment_id"] for r in both] == ["D:0", "D:1"] and both[0]["context"] is None
    sent = turn_segments(text, turns, document_id="D", unit="sentence")
    assert len(sent) == 11 and sent[0]["text"] == "Svar."


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(
                ["Ja.", "f.eks.", "kl.", "Nei!", "Hva?", "(ler)", "[navn]", "\n", "\n\n", "  ", "…", "osv."]
            ),
            st.text(alphabet="abcæøå ABCÆØÅ.,", min_size=1, max_size=12),
        ),
        max_size=40,
    ).map(" ".join),
    st.integers(min_value=5, max_value=80),
)
def test_windows_cover_the_text_in_order_without_overlap(text, max_chars):
    windows = sentence_windows(text, max_chars=max_chars)
    pos = 0
    for s, e in windows:
        assert pos <= s < e <= len(text)
        assert e - s <= max_chars
        assert text[s:e] == text[s:e].strip()
        pos = e
    covered = "".join(text[s:e] for s, e in windows)
    assert "".join(covered.split()) == "".join(text.split())
